// The restore rows: `backup-sentinel restore` (the compiled CLI, as the image runs it) from the
// benchmark's S3 server child, into fresh databases on the benchmark's cluster, against floors run in
// the same run from the same bytes on local disk (the S3 server's stored object file):
//   - the zstd plain backup against `zstd -dc file | psql -1` (target <= 1.15x);
//   - a custom-format zstd backup with --jobs 2 against `pg_restore -j 2` of the decompressed archive
//     already on disk (target <= 1.2x; ours includes the download, the sha256 check and decompression
//     into a temporary file, and the ANALYZE after it).
// Every database is dropped after its row.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { formatBytes } from '../src/util/format.ts';
import type { BenchCluster } from './pg-cache.ts';

interface Backup {
  key: string;
  size: number;
  uncompressedSize?: number;
}

interface Section {
  rows: string[][];
  checks: string[];
}

export interface RestoreDeps {
  cluster: BenchCluster;
  s3: { endpoint: string; bucket: string; directory: string };
  cacheDir: string;
  cli: string;
  // The zstd plain backup measured earlier in the run, if any (else one is taken here).
  zstdBackup: Backup | undefined;
  runBackup: (format: 'plain' | 'custom') => Promise<Backup>;
  timeShell: (script: string, env: Record<string, string>) => Promise<{ seconds: number; stdout: string }>;
  log: (line: string) => void;
}

const secs = (s: number) => `${s.toFixed(2)} s`;
const mbps = (bytes: number, seconds: number) => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;

class RestoreFailed extends Error {}

export async function measureRestore(deps: RestoreDeps): Promise<Section> {
  try {
    return await measureRestoreRows(deps);
  } catch (error) {
    if (!(error instanceof RestoreFailed)) throw error;
    return { rows: [], checks: [error.message] };
  } finally {
    for (const db of DATABASES) await deps.cluster.psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

const DATABASES = ['bench_restore_floor', 'bench_restore_cli', 'bench_restore_floor_jobs', 'bench_restore_cli_jobs'];

async function measureRestoreRows(deps: RestoreDeps): Promise<Section> {
  const rows: string[][] = [];
  const checks: string[] = [];
  const { cluster } = deps;
  const bin = (name: string) => path.join(cluster.binDir, name);
  const conn = `-h 127.0.0.1 -p ${cluster.port} -U postgres`;
  const env = { PGPASSWORD: cluster.password };
  const stored = (key: string) => path.join(deps.s3.directory, deps.s3.bucket, `${key}._S3rver_object`);
  const drop = async (db: string) => cluster.psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  // Leftovers of an interrupted run would make `--create` restore into a non-empty database.
  for (const db of DATABASES) await drop(db);

  const restoreCli = async (key: string, db: string, jobs: number) => {
    deps.log(`  running: backup-sentinel restore --key ${key} --create${jobs > 1 ? ` --jobs ${jobs}` : ''} (compiled CLI, from the S3 server)`);
    const t0 = performance.now();
    const r = await execa(process.execPath, [deps.cli, 'restore', '--key', key, '--create', '--target-url', `postgres://postgres@127.0.0.1:${cluster.port}/${db}`, ...(jobs > 1 ? ['--jobs', String(jobs)] : [])], {
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? '',
        PGPASSWORD: cluster.password,
        AWS_S3_BUCKET: deps.s3.bucket,
        AWS_S3_ENDPOINT: deps.s3.endpoint,
        AWS_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        PG_DUMP_PATH: bin('pg_dump'),
        LOG_LEVEL: 'warn',
      },
      reject: false,
    });
    // A failed restore is a finding of the benchmark, not a reason to stop it.
    if (r.exitCode !== 0) {
      const why = r.stderr.split('\n').filter((l) => l.startsWith('Restore failed') || l.startsWith('What to do')).join(' ');
      throw new RestoreFailed(`backup-sentinel restore${jobs > 1 ? ` --jobs ${jobs}` : ''} of ${key} FAILED (exit ${String(r.exitCode)}): ${why || r.stderr.slice(-500)}`);
    }
    return (performance.now() - t0) / 1000;
  };
  const tableRows = async (db: string) => cluster.psql('SELECT count(*) FROM events', db);

  // Plain + zstd, one stream into one transaction.
  const plain = deps.zstdBackup ?? (await deps.runBackup('plain'));
  const dumpBytes = plain.uncompressedSize ?? 0;
  await cluster.psql('CREATE DATABASE bench_restore_floor');
  const floor = await deps.timeShell(`zstd -q -dc ${stored(plain.key)} | ${bin('psql')} -X -q -1 -v ON_ERROR_STOP=1 ${conn} -d bench_restore_floor > /dev/null`, env);
  const floorCount = await tableRows('bench_restore_floor');
  await drop('bench_restore_floor');
  const ours = await restoreCli(plain.key, 'bench_restore_cli', 1);
  const oursCount = await tableRows('bench_restore_cli');
  await drop('bench_restore_cli');
  rows.push([`zstd -dc | psql -1 (floor, from disk)`, secs(floor.seconds), `${formatBytes(dumpBytes)} dump, ${mbps(dumpBytes, floor.seconds)}`, '', '', '', '', '']);
  rows.push([`backup-sentinel restore, zstd (from the S3 server)`, secs(ours), `${formatBytes(dumpBytes)} dump, ${mbps(dumpBytes, ours)}`, '', '', '', '', '']);
  const plainRatio = ours / floor.seconds;
  checks.push(`restore zstd: restore / floor = ${plainRatio.toFixed(2)}x (${secs(ours)} / ${secs(floor.seconds)}; ${mbps(dumpBytes, ours)} of dump) (target <= 1.15x) ${plainRatio <= 1.15 ? 'OK' : 'MISSED'}`);
  if (floorCount !== oursCount) checks.push(`restore zstd: ${oursCount} events restored, the floor restored ${floorCount} FAILED`);

  // Custom format + zstd, parallel pg_restore.
  const custom = await deps.runBackup('custom');
  const archive = path.join(deps.cacheDir, 'restore-floor.dump');
  try {
    // The floor's input, made outside the timed run: the archive as pg_dump -Fc wrote it.
    await deps.timeShell(`zstd -q -dc ${stored(custom.key)} > ${archive}`, {});
    const archiveBytes = fs.statSync(archive).size;
    await cluster.psql('CREATE DATABASE bench_restore_floor_jobs');
    const floorJobs = await deps.timeShell(`${bin('pg_restore')} -j 2 --exit-on-error ${conn} -d bench_restore_floor_jobs ${archive}`, env);
    const floorJobsCount = await tableRows('bench_restore_floor_jobs');
    await drop('bench_restore_floor_jobs');
    const oursJobs = await restoreCli(custom.key, 'bench_restore_cli_jobs', 2);
    const oursJobsCount = await tableRows('bench_restore_cli_jobs');
    await drop('bench_restore_cli_jobs');
    rows.push([`pg_restore -j 2 of the archive file (floor, from disk)`, secs(floorJobs.seconds), `${formatBytes(archiveBytes)} archive, ${mbps(dumpBytes, floorJobs.seconds)} of dump`, '', '', '', '', '']);
    rows.push([`backup-sentinel restore --jobs 2, custom + zstd (from the S3 server)`, secs(oursJobs), `${formatBytes(custom.size)} stored, ${mbps(dumpBytes, oursJobs)} of dump`, '', '', '', '', '']);
    const jobsRatio = oursJobs / floorJobs.seconds;
    checks.push(
      `restore custom --jobs 2: restore / floor = ${jobsRatio.toFixed(2)}x (${secs(oursJobs)} / ${secs(floorJobs.seconds)}, download, sha256, decompression and ANALYZE included; ` +
        `${mbps(dumpBytes, oursJobs)} of plain dump) (target <= 1.2x) ${jobsRatio <= 1.2 ? 'OK' : 'MISSED'}`,
    );
    if (floorJobsCount !== oursJobsCount) checks.push(`restore custom --jobs 2: ${oursJobsCount} events restored, the floor restored ${floorJobsCount} FAILED`);
    // Both restores include the CLI's start (node loading the compiled modules): on a small database
    // it is a large part of the ratio, on the 1 GB one a small part.
    const start = await deps.timeShell(`${process.execPath} ${deps.cli} help > /dev/null`, {});
    checks.push(`restore: the CLI's start alone (\`backup-sentinel help\`) takes ${secs(start.seconds)}, included in both restore rows`);
  } finally {
    fs.rmSync(archive, { force: true });
  }
  return { rows, checks };
}
