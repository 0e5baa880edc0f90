import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBackupJob, type BackupJobDeps } from '../../src/backup/job.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { backupSettings, holdFirstChunk } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

describe('a dump that dies half-way', () => {
  let pg: PgCluster;
  let dir: string;

  before(async () => {
    pg = await startPgCluster();
    await pg.createDatabase('app');
    // Several MB of dump: more than the pipes between pg_dump and the store hold.
    await pg.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) AS body FROM generate_series(1, 120000) i`, 'app');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dump-faults-'));
  });
  after(async () => {
    await pg?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const deps = (sub: string, whileHeld: (pid: number) => Promise<void>): BackupJobDeps => {
    let pid = 0;
    return {
      // The stall deadline bounds a dump whose server vanished without closing the connection.
      settings: backupSettings(pg.url('app'), { compression: { algorithm: 'none', level: undefined }, stallTimeoutMs: 5_000 }),
      location: { subfolder: '', prefix: 'fault_' },
      store: new DirStore(path.join(dir, sub)),
      logger: captureLogs().logger,
      onDumpStarted: (p) => (pid = p ?? 0),
      extraStage: holdFirstChunk(() => whileHeld(pid)),
    };
  };

  it('a pg_dump killed mid-dump fails the backup at the dump stage and stores nothing', async () => {
    const result = await runBackupJob(
      deps('killed', async (pid) => {
        assert.ok(pid > 0);
        process.kill(pid, 'SIGKILL');
      }),
      { runId: 'killed', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed', result.status);
    assert.equal(result.stage, 'dump');
    assert.match(result.error.message, /SIGKILL|signal|killed/i);
    assert.deepEqual(await fs.readdir(path.join(dir, 'killed')).catch(() => []), []);
  });

  // Last in this file: it stops the server.
  it('a server stopped mid-dump fails the backup at the dump stage and stores nothing', async () => {
    const result = await runBackupJob(
      deps('server-stopped', async () => {
        await pg.stop();
      }),
      { runId: 'server-stopped', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed', result.status);
    assert.equal(result.stage, 'dump');
    assert.deepEqual(await fs.readdir(path.join(dir, 'server-stopped')).catch(() => []), []);
  });
});
