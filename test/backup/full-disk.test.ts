import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runBackupJob } from '../../src/backup/job.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { mountSmallFilesystem, type SmallFilesystem } from '../helpers/small-filesystem.ts';
import { backupSettings, createSampleData } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

// A backup into a directory on a real filesystem that fills up (a 64 KiB tmpfs; the dump is larger).
describe('a backup to a directory on a full disk', () => {
  let pg: PgCluster | undefined;
  let fsys: SmallFilesystem | undefined;
  let skip: string | undefined;

  before(async () => {
    const mounted = await mountSmallFilesystem(64 * 1024);
    if ('skip' in mounted) {
      skip = mounted.skip;
      return;
    }
    fsys = mounted;
    pg = await startPgCluster();
    await pg.createDatabase('full');
    await createSampleData(pg, 'full', 3000);
  });
  after(async () => {
    await pg?.stop();
    await fsys?.unmount();
  });

  it('fails saying "no space left on device" with a hint about space and retention, and leaves nothing behind', async (t) => {
    if (skip !== undefined || !pg || !fsys) {
      t.skip(`no small filesystem to fill: ${skip ?? 'setup failed'}`);
      return;
    }
    const store = new DirStore(fsys.dir);
    const { logger, records } = captureLogs();
    const result = await runBackupJob(
      {
        settings: backupSettings(pg.url('full'), { format: 'custom', compression: { algorithm: 'none', level: undefined } }),
        location: { subfolder: '', prefix: 'backup-' },
        store,
        logger,
        clock: () => new Date(Date.UTC(2026, 0, 25, 3, 0, 0)),
      },
      { runId: 'full-disk', trigger: 'manual' },
    );
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.match(result.shortMessage, /^upload to dir:\S+ failed \[Unknown\]: Could not write backup-2026-01-25_03-00-00\.dump in dir:\S+: no space left on device$/);
    assert.equal(result.stage, 'upload');
    assert.match(result.shortMessage, /no space left on device/i);
    assert.match(result.error.hint ?? '', /disk space/);
    assert.match(result.error.hint ?? '', /retention|RETENTION_/i);
    assert.match(result.error.hint ?? '', /BACKUP_DIR/);
    const failed = records().find((l) => l.msg === `backup failed: ${result.shortMessage}`);
    assert.ok(failed, 'the failure is logged');
    // Nothing half-written stays to fill the disk further.
    assert.deepEqual(await fs.readdir(fsys.dir, { recursive: true }), []);
  });
});
