import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The composed service (startSentinel): backups, monitor, alerts, retention and verification together.
describe('the composed service', () => {
  let pg: PgCluster;
  let slack: TestSlackServer;
  let dir: string;
  before(async () => {
    [pg, slack] = await Promise.all([startPgCluster(), startSlackServer()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sentinel-'));
    await pg.createDatabase('app');
    await pg.psql('CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 1000) i;', 'app');
  });
  after(async () => {
    await Promise.all([pg?.stop(), slack?.close()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  const config = (sub: string) =>
    loadConfig({
      BACKUP_DATABASE_URL: pg.url('app'),
      BACKUP_DIR: path.join(dir, sub),
      SLACK_WEBHOOK_URL: slack.url,
      RUN_ON_STARTUP: 'true',
      LOG_LEVEL: 'silent',
    });

  it('a backup at start is stored, checked and reported healthy, and no alert is sent', async () => {
    const before = slack.payloads.length;
    const sentinel = await startSentinel({ config: config('ok'), logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => sentinel.backupService?.lastResult !== undefined, 'the first backup', { timeoutMs: 20_000 });
      assert.equal(sentinel.backupService?.lastResult?.status, 'success');
      await waitFor(() => (sentinel.monitor.snapshot().inventory.count ?? 0) > 0, 'a check that sees the backup', { timeoutMs: 20_000 });
      const health = await fetch(`http://127.0.0.1:${sentinel.port}/health`);
      assert.equal(health.status, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_last_backup_success 1$/m);
      assert.match(metrics, /^backup_sentinel_finding_active\{check="stale"\} 0$/m);
    } finally {
      await sentinel.stop();
    }
    assert.equal(slack.payloads.length, before, 'a healthy start sends nothing');
  });

  it('a backup cancelled by shutdown (a redeploy) is not alerted as a failed backup', async () => {
    // A session holding an exclusive lock makes pg_dump wait, so the backup is in progress at stop().
    const locker = execa('psql', ['-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.superuser, '-d', 'app'], {
      input: 'BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30);',
      env: { PGPASSWORD: pg.password },
      reject: false,
    });
    try {
      const lockHeld = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted";
      await waitFor(async () => (await pg.psql(lockHeld, 'app')) === '1', 'the exclusive lock on items', { timeoutMs: 20_000 });
      const before = slack.payloads.length;
      const sentinel = await startSentinel({ config: config('cancelled'), logger: silentLogger(), host: '127.0.0.1', port: 0 });
      await waitFor(() => sentinel.backupService?.isRunning === true, 'the backup to start', { timeoutMs: 20_000 });
      await waitFor(() => sentinel.monitor.snapshot().lastCheck !== undefined, 'the start-up check', { timeoutMs: 20_000 });
      // pg_dump queues behind the exclusive lock: its own lock request is the one not granted.
      const dumpWaiting = `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'items' AND NOT l.granted`;
      await waitFor(async () => (await pg.psql(dumpWaiting, 'app')) !== '0', 'pg_dump waiting for the lock', { timeoutMs: 20_000 });
      await sentinel.stop();
      assert.equal(sentinel.backupService?.lastResult?.status, 'cancelled', 'the run was cancelled, not failed');
      assert.deepEqual(sentinel.monitor.snapshot().backupRuns.runs, { success: 0, failure: 0, skipped: 0 }, 'a cancelled run is neither counted as success nor as failure');
      const sent = JSON.stringify(slack.payloads.slice(before));
      assert.doesNotMatch(sent, /cancelled|backup_failed|failed at/i, 'no failed-backup alert for a shutdown');
    } finally {
      locker.kill();
      await locker;
    }
  });
});
