import path from 'node:path';
import { DEFAULT_S3_TUNING } from '../../src/storage/s3-client.ts';

// For tests that point a command or `serve` at an S3 endpoint that is down on purpose (nothing answers:
// connection refused or reset) and check what it reports: each such request is tried once, instead of
// the default 4 attempts with 1-2 s of back-off between them, paid again by every request of the test.
// What is reported (the error, the finding, the alert) is the same after one attempt; the retries
// themselves are proven by test/storage/s3-retry.test.ts. Answered errors (5xx, throttling) keep their
// retries. Commands and `serve` build their S3 clients from the configuration with DEFAULT_S3_TUNING, and
// no setting a user would want changes it (the defaults are what users get), so this changes the defaults
// of this test process only; the returned function puts them back.
export function oneS3AttemptWhenUnanswered(): () => void {
  const saved = { ...DEFAULT_S3_TUNING };
  DEFAULT_S3_TUNING.unansweredMaxAttempts = 1;
  return () => {
    Object.assign(DEFAULT_S3_TUNING, saved);
  };
}

// The same for a spawned program of the project: Node flags to put after TYPESCRIPT_LOADER.
export const ONE_S3_ATTEMPT_IMPORT: readonly string[] = ['--import', path.join(import.meta.dirname, 'fixtures', 'one-s3-attempt.ts')];
