import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliLoadedPackages } from '../helpers/loaded-packages.ts';

// Every CLI invocation is a new process: a library it loads but does not use is start-up time paid by
// each command a user or a cron job runs (and by each spawned process of the test suite).
describe('the CLI loads a library only where it is used', () => {
  let dir: string;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lazy-loading-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a command on a directory store with SMTP configured loads neither nodemailer, the AWS SDK nor other commands\' libraries; one on S3 loads the SDK', async () => {
    const [onDir, onS3] = await Promise.all([
      cliLoadedPackages(['list'], { BACKUP_DIR: dir, SMTP_URL: 'smtp://127.0.0.1:2525', ALERT_EMAIL_TO: 'ops@example.com' }),
      // Nothing listens on the discard port: the listing fails, after the store was made.
      cliLoadedPackages(['list'], { AWS_S3_BUCKET: 'backups', AWS_S3_ENDPOINT: 'http://127.0.0.1:9', AWS_S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' }),
    ]);
    assert.equal(onDir.code, 0, onDir.all);
    const loaded = (run: { packages: Set<string> }) => `loaded: ${[...run.packages].join(', ')}`;
    assert.ok(onDir.packages.has('pino'), `the recorder sees imported packages; ${loaded(onDir)}`);
    assert.ok(!onDir.packages.has('nodemailer'), loaded(onDir));
    assert.ok(!onDir.packages.has('@aws-sdk/client-s3'), loaded(onDir));
    // The command table loads only the command run: list works without serve's HTTP server, the database
    // driver (restore, verify, backup) or the age library (encrypted backups).
    for (const other of ['koa', 'pg', 'age-encryption']) assert.ok(!onDir.packages.has(other), `${other} is another command's; ${loaded(onDir)}`);
    assert.equal(onS3.code, 1, onS3.all);
    assert.ok(onS3.packages.has('@aws-sdk/client-s3'), `the recorder sees required packages; ${loaded(onS3)}`);
  });
});
