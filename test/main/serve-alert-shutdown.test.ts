import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { listeningPort } from '../helpers/listening-port.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

interface Status {
  alerts: { firing: { check: string; notifiedAt?: string }[]; undelivered: Record<string, number> };
}

// Two real `serve` processes one after the other, monitor-only over an empty directory (so `stale`
// fires at the start-up check): the first is stopped with SIGTERM while its Slack request hangs.
describe('serve stopped while an alert is being sent', () => {
  let slack: TestSlackServer;
  let dir: string;
  before(async () => {
    slack = await startSlackServer();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serve-alert-'));
  });
  after(async () => {
    await slack.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const serve = () =>
    execa(process.execPath, [...TYPESCRIPT_LOADER, CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...compileCacheEnv(),
        PORT: '0',
        BACKUP_DIR: path.join(dir, 'backups'),
        STATE_DIR: path.join(dir, 'state'),
        SLACK_WEBHOOK_URL: slack.url,
        SENTINEL_NAME: 'vlvt-backups',
        LOG_LEVEL: 'info',
      },
      extendEnv: false,
      reject: false,
      all: true,
    });

  it('delivers the cut-off alert exactly once after the restart', async () => {
    slack.respondWith('hang');
    const first = serve();
    try {
      await waitFor(() => slack.payloads.length > 0, 'the Slack request of the first process', { timeoutMs: 30_000, intervalMs: 100 });
    } finally {
      first.kill('SIGTERM');
    }
    const stopped = await first;
    assert.equal(stopped.exitCode, 0, stopped.all);
    assert.match(stopped.all ?? '', /stopped by shutdown; it stays pending and is sent after the restart/);
    assert.equal(slack.accepted.length, 0);

    const second = serve();
    try {
      const port = await listeningPort(second);
      await waitFor(
        async () => {
          // Not listening yet while the process starts.
          const response = await fetch(`http://127.0.0.1:${port}/status`).catch(() => undefined);
          if (response === undefined) return false;
          const status = (await response.json()) as Status;
          const stale = status.alerts.firing.find((a) => a.check === 'stale');
          return stale?.notifiedAt !== undefined && status.alerts.undelivered.slack === 0;
        },
        'the stale alert notified by the second process',
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    } finally {
      second.kill('SIGTERM');
    }
    const result = await second;
    assert.equal(result.exitCode, 0, result.all);
    assert.equal(slack.accepted.length, 1, 'exactly one delivery');
    assert.match((slack.accepted[0] as { text: string }).text, /\[FIRING\] vlvt-backups: /);
    assert.doesNotMatch(`${stopped.all ?? ''}${result.all ?? ''}`, new RegExp(slack.token));
  });
});
