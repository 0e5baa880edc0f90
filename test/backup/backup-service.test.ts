import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/types.ts';
import { BackupService } from '../../src/backup/backup-service.ts';
import { runBackupJob, type BackupJobDeps } from '../../src/backup/job.ts';
import type { BackupResult } from '../../src/backup/result.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { backupSettings, holdFirstChunk } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const location: Location = { subfolder: '', prefix: 'svc_' };

function gate() {
  let release!: () => void;
  let started!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const startedP = new Promise<void>((r) => (started = r));
  return { release, started: startedP, hold: async () => (started(), await released) };
}

async function listKeys(dir: string): Promise<string[]> {
  return (await new DirStore(dir).list('')).map((o) => o.key);
}

describe('backup runs over time', () => {
  let pg: PgCluster;
  let dir: string;
  let seconds = 0;
  const clock = () => new Date(Date.UTC(2026, 2, 1, 3, 0, seconds++));

  before(async () => {
    pg = await sharedPgCluster();
    await pg.createDatabase('app');
    // About 16 MB of dump: more than every buffer between pg_dump and the store.
    await pg.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) || md5((i * 3)::text) AS body FROM generate_series(1, 150000) i`, 'app');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'svc-'));
  });
  after(async () => {
    await pg?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const deps = (sub: string, extra: Partial<BackupJobDeps> = {}): BackupJobDeps => ({
    settings: backupSettings(pg.url('app'), { compression: { algorithm: 'none', level: undefined } }),
    location,
    store: new DirStore(path.join(dir, sub)),
    logger: captureLogs().logger,
    clock,
    ...extra,
  });

  it('skips and logs a run that is due while one is still running', async () => {
    const g = gate();
    const { logger, text } = captureLogs();
    const jobDeps = deps('overlap', { extraStage: holdFirstChunk(g.hold) });
    const service = new BackupService({ runBackup: (run) => runBackupJob(jobDeps, run), cron: '0 3 * * *', logger, clock });
    const finished: BackupResult[] = [];
    service.onRunFinished((r) => {
      finished.push(r);
    });
    const first = service.runOnce('startup');
    await g.started;
    assert.equal(service.isRunning, true);
    const second = await service.runOnce('schedule');
    assert.equal(second.status, 'skipped');
    assert.ok(second.status === 'skipped' && second.reason === 'running');
    assert.match(text(), /skipped: backup [0-9a-f]+ is still running/);
    g.release();
    const firstResult = await first;
    assert.equal(firstResult.status, 'success', firstResult.status === 'failed' ? firstResult.error.message : '');
    assert.deepEqual(finished.map((r) => r.status), ['skipped', 'success']);
    assert.equal(service.lastResult?.status, 'success');
    assert.equal(service.lastSkipped?.reason, 'running');
    assert.equal((await listKeys(path.join(dir, 'overlap'))).length, 2, 'one backup and its manifest');
  });

  it('lets only one of two services on the same database back up at a time (advisory lock)', async () => {
    const g = gate();
    const a = new BackupService({ runBackup: (run) => runBackupJob(deps('replica-a', { extraStage: holdFirstChunk(g.hold) }), run), cron: '0 3 * * *', logger: captureLogs().logger, clock });
    const logB = captureLogs();
    const b = new BackupService({ runBackup: (run) => runBackupJob(deps('replica-b', { logger: logB.logger }), run), cron: '0 3 * * *', logger: logB.logger, clock });
    const runA = a.runOnce('schedule');
    await g.started;
    const resultB = await b.runOnce('schedule');
    assert.ok(resultB.status === 'skipped' && resultB.reason === 'locked', JSON.stringify(resultB));
    assert.match(logB.text(), /skipped: another backup-sentinel holds the lock/);
    g.release();
    assert.equal((await runA).status, 'success');
    assert.deepEqual(await listKeys(path.join(dir, 'replica-b')), [], 'replica B stored nothing');
    // The lock goes with A's session: B can back up now.
    assert.equal((await b.runOnce('schedule')).status, 'success');
  });

  it('fails the version check end to end with an old PG_DUMP_PATH and stores nothing', async () => {
    const fake = path.join(dir, 'fake-bin', 'pg_dump');
    await fs.mkdir(path.dirname(fake), { recursive: true });
    await fs.writeFile(fake, '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n', { mode: 0o755 });
    const jobDeps = deps('old-tool');
    jobDeps.settings = { ...jobDeps.settings, pgDumpPath: fake };
    const result = await runBackupJob(jobDeps, { runId: 'old', trigger: 'manual' });
    assert.ok(result.status === 'failed');
    assert.equal(result.stage, 'version-check');
    assert.match(result.shortMessage, new RegExp(`pg_dump 9\\.6\\.24 is older than the server \\(PostgreSQL ${pg.majorVersion}\\.`));
    assert.deepEqual(await listKeys(path.join(dir, 'old-tool')), []);
  });

  for (const algorithm of ['gzip', 'zstd'] as const) {
    it(`fails a pg_dump that exits 0 without output (${algorithm}) and stores nothing`, async () => {
      const fake = path.join(dir, 'silent-bin', 'pg_dump');
      await fs.mkdir(path.dirname(fake), { recursive: true });
      await fs.writeFile(fake, `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) ${pg.majorVersion}.99"; fi\nexit 0\n`, { mode: 0o755 });
      const jobDeps = deps(`silent-${algorithm}`);
      jobDeps.settings = { ...jobDeps.settings, pgDumpPath: fake, compression: { algorithm, level: undefined } };
      const result = await runBackupJob(jobDeps, { runId: 'silent', trigger: 'manual' });
      assert.ok(result.status === 'failed', result.status);
      assert.equal(result.stage, 'dump');
      assert.match(result.shortMessage, /pg_dump exited 0 but wrote nothing/);
      assert.deepEqual(await listKeys(path.join(dir, `silent-${algorithm}`)), []);
    });
  }

  it('records a failure and keeps going when a run throws', async () => {
    const { logger, text } = captureLogs();
    const service = new BackupService({ runBackup: () => Promise.reject(new Error('boom')), cron: '0 3 * * *', logger, clock });
    const result = await service.runOnce('schedule');
    assert.ok(result.status === 'failed');
    assert.match(result.shortMessage, /boom/);
    assert.equal(service.lastResult?.status, 'failed');
    assert.match(text(), /backup failed: backup failed unexpectedly: boom/);
  });

  for (const algorithm of ['none', 'zstd'] as const) {
    it(`cancels a run in progress on stop (${algorithm}), ending pg_dump and leaving nothing behind`, async () => {
      const g = gate();
      let dumpPid: number | undefined;
      const jobDeps = deps(`stopped-${algorithm}`, { extraStage: holdFirstChunk(g.hold), onDumpStarted: (pid) => (dumpPid = pid) });
      jobDeps.settings = { ...jobDeps.settings, compression: { algorithm, level: 1 } };
      const service = new BackupService({ runBackup: (run) => runBackupJob(jobDeps, run), cron: '0 3 * * *', logger: captureLogs().logger, clock });
      const run = service.runOnce('manual');
      await g.started;
      const stopping = service.stop();
      g.release();
      await stopping;
      const result = await run;
      assert.ok(result.status === 'cancelled', JSON.stringify(result.status));
      assert.match(result.shortMessage, /cancelled: the service is stopping/);
      assert.equal(service.lastResult?.status, 'cancelled', 'the last result says so, not "failed"');
      assert.deepEqual(await listKeys(path.join(dir, `stopped-${algorithm}`)), []);
      assert.ok(dumpPid !== undefined);
      assert.equal(await fs.access(`/proc/${dumpPid}`).then(() => 'running', () => 'gone'), 'gone', 'pg_dump has ended');
    });
  }

  it('runs on its cron schedule in UTC and tells the next run time', async () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const daily = new BackupService({ runBackup: () => Promise.reject(new Error('unused')), cron: '0 3 * * *', logger: captureLogs().logger });
      daily.start();
      const next = daily.nextRunAt();
      await daily.stop();
      assert.ok(next);
      assert.equal(next.getUTCHours(), 3);
      assert.equal(next.getUTCMinutes(), 0);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    let calls = 0;
    const every = new BackupService({
      runBackup: async (run) => {
        calls += 1;
        const now = new Date();
        return { runId: run.runId, trigger: run.trigger, startedAt: now, finishedAt: now, durationMs: 0, status: 'skipped', reason: 'locked', message: 'test' };
      },
      cron: '* * * * * *',
      logger: captureLogs().logger,
    });
    const ran = new Promise<BackupResult>((resolve) => every.onRunFinished(resolve));
    every.start();
    const result = await ran;
    await every.stop();
    assert.equal(result.trigger, 'schedule');
    assert.equal(calls, 1);
  });
});

describe('a database server that stops mid-dump', () => {
  let pg: PgCluster;
  let dir: string;

  before(async () => {
    pg = await startPgCluster();
    await pg.createDatabase('app');
    await pg.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) || md5((i * 3)::text) AS body FROM generate_series(1, 150000) i`, 'app');
    // About 16 MB of dump: several times the buffers between pg_dump and the held stage, so pg_dump
    // is still reading from the server when it stops.
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'svc-stop-'));
  });
  after(async () => {
    await pg?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('fails the backup with pg_dump\'s error and leaves no object', async () => {
    const store = new DirStore(dir);
    const result = await runBackupJob(
      {
        settings: backupSettings(pg.url('app'), { compression: { algorithm: 'none', level: undefined } }),
        location,
        store,
        logger: captureLogs().logger,
        extraStage: holdFirstChunk(() => pg.stop()),
      },
      { runId: 'stopped-server', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed', result.status);
    assert.equal(result.stage, 'dump');
    assert.match(result.shortMessage, /pg_dump failed \(exit code 1\)/);
    assert.match(result.error.message, /server closed the connection|terminating connection|connection/i);
    assert.deepEqual((await store.list('')).map((o) => o.key), []);
  });
});
