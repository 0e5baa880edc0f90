import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { findPgBinDir, sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The running service with BACKUP_GLOBALS: a roles dump that fails is reported and alerted on its own,
// while the database backup it ran beside is stored.
describe('BACKUP_GLOBALS in the running service', () => {
  let pg: PgCluster;
  let slack: TestSlackServer;
  let dir: string;
  before(async () => {
    [pg, slack] = await Promise.all([sharedPgCluster(), startSlackServer()]);
    await pg.createDatabase('globals_serve');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'globals-serve-'));
  });
  after(async () => {
    await slack?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('a failed globals dump is a backup_failed finding of its own, on /health and alerted, naming @globals', async () => {
    // A pg_dump with no pg_dumpall beside it: the database is backed up, the roles cannot be.
    const lonely = path.join(dir, 'bin');
    await fs.mkdir(lonely);
    await fs.symlink(path.join(findPgBinDir(), 'pg_dump'), path.join(lonely, 'pg_dump'));
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('globals_serve'),
      BACKUP_DIR: path.join(dir, 'store'),
      BACKUP_GLOBALS: 'true',
      PG_DUMP_PATH: path.join(lonely, 'pg_dump'),
      RUN_ON_STARTUP: 'true',
      SLACK_WEBHOOK_URL: slack.url,
      STATE_DIR: path.join(dir, 'state'),
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => sentinel.findings().some((f) => f.check === 'backup_failed' && f.set === '@globals'), 'the globals finding', { timeoutMs: 30_000 });
      assert.equal(sentinel.backupService?.lastResult?.status, 'success', 'the database backup itself is stored');
      const finding = sentinel.findings().find((f) => f.set === '@globals');
      assert.match(finding?.summary ?? '', /^@globals: roles and tablespaces \(BACKUP_GLOBALS\) were not backed up .*no pg_dumpall/);
      await waitFor(() => slack.payloads.some((p) => JSON.stringify(p).includes('@globals')), 'the alert naming @globals', { timeoutMs: 30_000 });
      const health = await fetch(`http://127.0.0.1:${sentinel.port}/health`);
      assert.equal(health.status, 503);
    } finally {
      await sentinel.stop();
    }
  });
});
