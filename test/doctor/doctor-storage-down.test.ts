import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { captureStream } from '../helpers/log-sink.ts';
import { oneS3AttemptWhenUnanswered } from '../helpers/one-s3-attempt.ts';

// With many sets and an S3 endpoint that does not answer, each set's storage probe would wait out the
// S3 client's retries again: doctor probes an unreachable destination once and says so for the others.
describe('doctor with the storage down and several sets', () => {
  let dir: string;
  let restoreRetries: () => void;
  before(async () => {
    restoreRetries = oneS3AttemptWhenUnanswered();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-down-'));
  });
  after(async () => {
    restoreRetries();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('probes the unreachable storage once; the other sets\' folders are "not probed", still failing', async () => {
    const file = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(file, 'sets:\n  - name: app\n  - name: crm\n  - name: web\n');
    const env = {
      SENTINEL_CONFIG: file,
      AWS_S3_BUCKET: 'backups',
      // Nothing listens there: every connection is refused.
      AWS_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret',
      LOG_LEVEL: 'silent',
    };
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runCli(['doctor'], env, { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 1, stdout.text() + stderr.text());
    const checks = stdout
      .text()
      .split('\n')
      .flatMap((line) => {
        const m = /^\s*\[(\w+)\s*\] (set \w+): storage: write, read back, delete: (.*)$/.exec(line);
        return m === null ? [] : [{ status: m[1], set: m[2], summary: m[3] ?? '' }];
      });
    assert.deepEqual(
      checks.map((c) => [c.set, c.status]),
      [
        ['set app', 'FAIL'],
        ['set crm', 'FAIL'],
        ['set web', 'FAIL'],
      ],
      stdout.text(),
    );
    assert.match(checks[0]?.summary ?? '', /^cannot write a probe object to s3:\/\/backups .*unreachable/);
    for (const c of checks.slice(1)) assert.match(c.summary, /^not probed: s3:\/\/backups at http:\/\/127\.0\.0\.1:\d+ failed above for every folder$/);
  });
});
