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

  it('a command that sends no e-mail does not load nodemailer, though SMTP is configured', async () => {
    const run = await cliLoadedPackages(['list'], { BACKUP_DIR: dir, SMTP_URL: 'smtp://127.0.0.1:2525', ALERT_EMAIL_TO: 'ops@example.com' });
    assert.equal(run.code, 0, run.all);
    assert.ok(run.packages.has('pino'), `the recorder saw the packages loaded: ${[...run.packages].join(', ')}`);
    assert.ok(!run.packages.has('nodemailer'), `loaded: ${[...run.packages].join(', ')}`);
  });
});
