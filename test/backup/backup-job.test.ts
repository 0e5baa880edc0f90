import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pgLib from 'pg';
import type { Compression, DumpFormat, Location } from '../../src/config/types.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import { META, parseManifest } from '../../src/backup/manifest.ts';
import { isAuxiliaryKey, manifestKey } from '../../src/core/naming.ts';
import type { BackupResult, BackupSuccess } from '../../src/backup/result.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import {
  SPACED_DB,
  TRICKY_PASSWORD,
  backupSettings,
  createSampleData,
  decompress,
  download,
  fingerprint,
  restoreInto,
} from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const location: Location = { subfolder: 'nightly', prefix: 'vlvt_backup_' };

function assertSuccess(result: BackupResult): asserts result is BackupSuccess {
  assert.equal(result.status, 'success', result.status === 'failed' ? result.error.message : JSON.stringify(result));
}

describe('a backup to local-directory storage', () => {
  let pg: PgCluster;
  let dir: string;
  let store: DirStore;
  let expected: string;
  let clockSeconds = 0;
  // Each run gets its own second so keys never collide.
  const clock = () => new Date(Date.UTC(2026, 0, 25, 3, 0, clockSeconds++));

  before(async () => {
    pg = await startPgCluster({ password: TRICKY_PASSWORD });
    await pg.createDatabase(SPACED_DB);
    await createSampleData(pg, SPACED_DB);
    expected = await fingerprint(pg, SPACED_DB);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-dir-'));
    store = new DirStore(dir);
  });
  after(async () => {
    await pg?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const cases: { format: DumpFormat; compression: Compression; ext: string }[] = [
    { format: 'plain', compression: { algorithm: 'gzip', level: undefined }, ext: '.sql.gz' },
    { format: 'plain', compression: { algorithm: 'zstd', level: 5 }, ext: '.sql.zst' },
    { format: 'custom', compression: { algorithm: 'none', level: undefined }, ext: '.dump' },
    { format: 'custom', compression: { algorithm: 'gzip', level: 1 }, ext: '.dump.gz' },
  ];
  for (const { format, compression, ext } of cases) {
    it(`restores a ${format} ${compression.algorithm} backup of a database named with a space and a password with quotes to equal data`, async () => {
      const { logger, text } = captureLogs();
      let dumpArgs: readonly string[] = [];
      const result = await runBackupJob(
        { settings: backupSettings(pg.url(SPACED_DB), { format, compression }), location, store, logger, clock, onDumpStarted: (_pid, args) => (dumpArgs = args) },
        { runId: `run-${format}-${compression.algorithm}`, trigger: 'manual' },
      );
      assertSuccess(result);
      assert.match(result.key, new RegExp(`^nightly/vlvt_backup_2026-01-25_03-00-\\d\\d${ext.replaceAll('.', '\\.')}$`));

      const head = await store.head(result.key);
      assert.ok(head, 'the backup object exists');
      assert.equal(head.metadata[META.format], format);
      assert.equal(head.metadata[META.compression], compression.algorithm);
      assert.equal(head.metadata[META.database], SPACED_DB);
      assert.equal(head.metadata[META.serverVersion]?.split('.')[0], String(pg.majorVersion));
      assert.match(head.metadata[META.pgDumpVersion] ?? '', /^\d+\.\d+/);

      const manifest = parseManifest((await download(store, manifestKey(result.key))).toString());
      assert.ok(manifest, 'the manifest parses');
      const stored = await download(store, result.key);
      const { createHash } = await import('node:crypto');
      assert.equal(manifest.sha256, createHash('sha256').update(stored).digest('hex'));
      assert.equal(manifest.size, stored.length);
      const plain = await decompress(stored, compression);
      assert.equal(manifest.uncompressedSize, plain.length);
      assert.equal(manifest.database, SPACED_DB);

      const restored = `restored ${format} ${compression.algorithm}`;
      await restoreInto(pg, restored, plain, format);
      assert.equal(await fingerprint(pg, restored), expected);

      // Nothing secret in what ps shows or what the log says.
      assert.ok(!dumpArgs.join(' ').includes(TRICKY_PASSWORD), 'pg_dump arguments hold no password');
      assert.ok(!dumpArgs.join(' ').includes(encodeURIComponent(TRICKY_PASSWORD)), 'pg_dump arguments hold no encoded password');
      assert.ok(!text().includes(TRICKY_PASSWORD) && !text().includes(encodeURIComponent(TRICKY_PASSWORD)), 'the log holds no password');
      assert.match(text(), /"msg":"backup succeeded"/);
    });
  }

  it('shows no password in the running pg_dump command line (/proc/<pid>/cmdline)', async () => {
    let cmdline = '';
    const result = await runBackupJob(
      {
        settings: backupSettings(pg.url(SPACED_DB)),
        location,
        store,
        logger: captureLogs().logger,
        clock,
        onDumpStarted: (pid) => {
          // Read synchronously while pg_dump runs: it cannot exit before this callback returns
          // because nothing reads its output yet.
          cmdline = pid === undefined ? '' : readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        },
      },
      { runId: 'run-ps', trigger: 'manual' },
    );
    assertSuccess(result);
    assert.match(cmdline, /pg_dump/);
    assert.ok(!cmdline.includes(TRICKY_PASSWORD) && !cmdline.includes(encodeURIComponent(TRICKY_PASSWORD)), cmdline);
  });

  it('has pg_dump write straight into zstd\'s input pipe, which this process hands over and then lets go of', async () => {
    await pg.createDatabase('fd_probe');
    const blocker = new pgLib.Client({ connectionString: pg.url('fd_probe') });
    await blocker.connect();
    // pg_dump waits for this lock, so it is still running while the pipes are inspected.
    await blocker.query('CREATE TABLE held (x int); BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    const ownFds = () => readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } });
    let inspected: Promise<{ pipe: string; handedOver: boolean; heldHere: boolean }> | undefined;
    try {
      const result = await runBackupJob(
        {
          settings: backupSettings(pg.url('fd_probe'), { compression: { algorithm: 'zstd', level: 1 } }),
          location,
          store,
          logger: captureLogs().logger,
          clock,
          onDumpStarted: (pid) => {
            const pipe = readlinkSync(`/proc/${pid}/fd/1`);
            // pg_dump's stdout is the very end of zstd's input pipe that this process created (not a
            // pipe of its own to this process)...
            const handedOver = ownFds().includes(pipe);
            inspected = (async () => {
              // ...and this process lets go of it right after.
              for (let i = 0; i < 200 && ownFds().includes(pipe); i++) await sleep(10);
              const heldHere = ownFds().includes(pipe);
              await blocker.query('COMMIT');
              return { pipe, handedOver, heldHere };
            })();
          },
        },
        { runId: 'run-fd', trigger: 'manual' },
      );
      assertSuccess(result);
      const { pipe, handedOver, heldHere } = await (inspected ?? Promise.reject(new Error('pg_dump never started')));
      // Node's stdio pipes are socket pairs.
      assert.match(pipe, /^(pipe|socket):/, "pg_dump's stdout is a pipe");
      assert.equal(handedOver, true, "pg_dump writes into a pipe of its own, not into zstd's input");
      assert.equal(heldHere, false, 'this process still holds the pipe pg_dump writes into');
    } finally {
      await blocker.end();
    }
  });

  it('fails with a clear error and leaves no object when the password is wrong', async () => {
    const before = await store.list('');
    const result = await runBackupJob(
      { settings: backupSettings(pg.url(SPACED_DB, 'postgres', 'wrong password')), location, store, logger: captureLogs().logger, clock },
      { runId: 'run-wrong-pw', trigger: 'manual' },
    );
    assert.equal(result.status, 'failed');
    assert.ok(result.status === 'failed');
    assert.equal(result.stage, 'dump');
    assert.match(result.shortMessage, /password authentication failed/);
    assert.match(result.error.hint ?? '', /password/);
    assert.ok(!result.error.message.includes('wrong password'));
    assert.deepEqual(await store.list(''), before);
  });

  it('refuses to write through a BUCKET_SUBFOLDER that is a symbolic link leading outside BACKUP_DIR', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-outside-'));
    try {
      await fs.symlink(outside, path.join(dir, 'linked'));
      const result = await runBackupJob(
        { settings: backupSettings(pg.url(SPACED_DB)), location: { subfolder: 'linked', prefix: 'b-' }, store, logger: captureLogs().logger, clock },
        { runId: 'run-linked', trigger: 'manual' },
      );
      assert.ok(result.status === 'failed');
      assert.equal(result.stage, 'upload');
      assert.match(result.shortMessage, /^storage dir:\S+ failed \[Unknown\]: Refusing to read linked\/b-\S+\.sql\.gz in dir:\S+: linked is a symbolic link to \S+, outside BACKUP_DIR$/);
      assert.match(result.error.hint ?? '', /replace the link/);
      assert.deepEqual(await fs.readdir(outside), []);
    } finally {
      await fs.rm(path.join(dir, 'linked'), { force: true });
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('fails with a clear error and leaves no object when the database does not exist', async () => {
    const before = await store.list('');
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('no such db')), location, store, logger: captureLogs().logger, clock },
      { runId: 'run-missing-db', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed');
    assert.equal(result.stage, 'dump');
    assert.match(result.shortMessage, /"no such db".*does not exist/);
    assert.deepEqual(await store.list(''), before);
  });

  for (const algorithm of ['gzip', 'zstd'] as const) {
    it(`fails on pg_dump errors with the tail of its stderr and leaves no object (${algorithm})`, async () => {
      const before = await store.list('');
      const result = await runBackupJob(
        {
          settings: backupSettings(pg.url(SPACED_DB), { options: ['--table', 'no_such_table'], compression: { algorithm, level: undefined } }),
          location,
          store,
          logger: captureLogs().logger,
          clock,
        },
        { runId: 'run-pg-dump-error', trigger: 'manual' },
      );
      assert.ok(result.status === 'failed');
      assert.equal(result.stage, 'dump');
      assert.match(result.shortMessage, /pg_dump failed \(exit code 1\): no matching tables were found/);
      assert.match(result.error.message, /pg_dump stderr/);
      assert.deepEqual(await store.list(''), before);
    });
  }

  it('lists only backups and manifests in the directory, nothing partial', async () => {
    const keys = (await store.list('')).map((o) => o.key);
    assert.ok(keys.length > 0);
    for (const key of keys) assert.match(key, /^nightly\/vlvt_backup_2026-01-25_03-00-\d\d\.(sql|dump)(\.gz|\.zst)?(\.manifest\.json)?$/);
    const backups = keys.filter((k) => !isAuxiliaryKey(k));
    assert.equal(keys.length, backups.length * 2, 'one manifest per backup');
  });
});
