import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
// Far longer than a failed start takes (2-4 s here, more on a loaded machine); a process still
// running then is the defect.
const EXIT_WITHIN_MS = 60_000;

// The real `serve` process in its own process group, so that the test can tell afterwards whether
// anything it started (pg_dump, a worker) is still running.
async function serve(env: Record<string, string>): Promise<{ result: { exitCode: number | undefined; timedOut: boolean; all: string }; leftover: boolean }> {
  const child = execa(process.execPath, [...TYPESCRIPT_LOADER, CLI, 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...compileCacheEnv(), LOG_LEVEL: 'info', ...env },
    extendEnv: false,
    reject: false,
    all: true,
    detached: true,
    timeout: EXIT_WITHIN_MS,
    killSignal: 'SIGKILL',
  });
  const result = await child;
  let leftover = false;
  try {
    process.kill(-(child.pid ?? 0), 0);
    leftover = true;
    process.kill(-(child.pid ?? 0), 'SIGKILL');
  } catch {
    // ESRCH: no process of that group is left.
  }
  return { result: { exitCode: result.exitCode, timedOut: result.timedOut, all: result.all }, leftover };
}

describe('serve that cannot start exits at once, non-zero, leaving nothing behind', () => {
  let slack: TestSlackServer;
  let dir: string;
  let base: Record<string, string>;

  before(async () => {
    slack = await startSlackServer();
    // An empty backup directory: a check that ran would find no backup and send a FIRING alert.
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serve-startup-'));
    base = {
      BACKUP_DIR: dir,
      SLACK_WEBHOOK_URL: slack.url,
      // Nothing listens on port 1: a backup that ran would fail (and alert).
      BACKUP_DATABASE_URL: 'postgres://app:db-pass-never-printed@127.0.0.1:1/app',
      RUN_ON_STARTUP: 'true',
    };
  });
  after(async () => {
    await slack?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('a schedule the cron engine cannot fire (Jenkins H) is a configuration error naming every such variable', async () => {
    const { result, leftover } = await serve({ ...base, PORT: '0', BACKUP_CRON_SCHEDULE: 'H 3 * * *', MONITOR_CRON: 'H * * * *' });
    assert.equal(result.timedOut, false, `serve was still running after ${EXIT_WITHIN_MS} ms:\n${result.all}`);
    assert.equal(result.exitCode, 78, result.all);
    const output = result.all;
    assert.equal(output.match(/Invalid configuration/g)?.length, 1, `one message:\n${output}`);
    assert.match(output, /Invalid configuration \(2 problems\)/);
    assert.match(output, /BACKUP_CRON_SCHEDULE: expected a cron expression .*H \(a hashed, Jenkins-style value\) is not supported.*got "H 3 \* \* \*"/);
    assert.match(output, /MONITOR_CRON: expected a cron expression .*got "H \* \* \* \*"/);
    assert.doesNotMatch(output, /HTTP server listening|db-pass-never-printed/);
    assert.deepEqual(slack.payloads, [], 'no alert was sent');
    assert.equal(leftover, false, 'no process of the service is left');
  });

  it('a PORT in use stops serve within seconds with one message naming PORT, no alert sent, no process left', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const { result, leftover } = await serve({ ...base, PORT: String(port) });
      assert.equal(result.timedOut, false, `serve was still running after ${EXIT_WITHIN_MS} ms:\n${result.all}`);
      assert.equal(result.exitCode, 1, result.all);
      const output = result.all;
      // Besides the JSON log lines, the output is the message and what to do: no stack trace.
      const plain = output.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
      assert.deepEqual(plain, [
        `backup-sentinel could not start: PORT ${port} is already in use on ::`,
        'What to do: stop the other process listening there (often a second copy of this service) or set PORT to a free port',
      ]);
      assert.doesNotMatch(output, /db-pass-never-printed|backup started|check passed|check found/);
      assert.deepEqual(slack.payloads, [], 'no alert was sent');
      assert.equal(leftover, false, 'no process of the service is left');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
