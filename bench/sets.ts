// Backup sets at scale (BACKUP_DATABASES): 20 small databases backed up in one run against the sum of
// their `pg_dump | zstd` floors, the run's peak RSS against one large backup's, the steady hourly check
// of 20 sets x 1,000 backups (listings counted by the S3 server), and /metrics with 20 sets while a
// backup runs. The measured code runs in sets-child.ts, its own process.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { formatBytes } from '../src/util/format.ts';
import type { BenchCluster } from './pg-cache.ts';
import type { SetsBackupOutput, SetsInput, SetsServeOutput } from './sets-child.ts';

const SETS = 20;
const BACKUPS_PER_SET = 1000;
const SCRAPES = 20;
// The small databases: kept in the benchmark's cluster between runs (about 5 MB each, 100 MB in all),
// made once from a template by CREATE DATABASE ... TEMPLATE.
const TEMPLATE = 'bench_set_template';
const TEMPLATE_ROWS = 40_000;
const names = Array.from({ length: SETS }, (_, i) => `bench_set_${String(i + 1).padStart(2, '0')}`);

interface SetsDeps {
  cluster: BenchCluster;
  s3: { endpoint: string; bucket: string; control: string };
  // The zstd part's backup when it ran in this bench: "one large backup" to compare memory with.
  zstdBackup: { peakRssBytes: number; rssBeforeBytes: number } | undefined;
  timeShell: (script: string, env: Record<string, string>) => Promise<{ seconds: number; stdout: string }>;
  log: (line: string) => void;
}

async function ensureDatabases(cluster: BenchCluster, log: (line: string) => void): Promise<void> {
  const have = new Set((await cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_set\\_%'")).split('\n').filter(Boolean));
  if (!have.has(TEMPLATE)) {
    log(`  creating ${TEMPLATE} (${TEMPLATE_ROWS.toLocaleString('en-US')} rows, once; kept in the cache)`);
    await cluster.psql(`CREATE DATABASE ${TEMPLATE}`);
    await cluster.psql(
      `CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric(10,2), placed_at timestamptz, note text);
       INSERT INTO orders SELECT i, 'customer ' || (i % 997), (i % 10000) / 7.0, timestamptz '2024-01-01' + i * interval '1 minute', md5(i::text) || md5((i * 3)::text)
       FROM generate_series(1, ${TEMPLATE_ROWS}) i;
       VACUUM ANALYZE;`,
      TEMPLATE,
    );
  }
  for (const name of names.filter((n) => !have.has(n))) await cluster.psql(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
}

function runSetsChild<T>(mode: 'backup' | 'serve', input: SetsInput, log: (line: string) => void): Promise<T> {
  log(`  running: sets ${mode} over ${input.databases.length} databases`);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'sets-child.ts'), mode, JSON.stringify(input)], {
    cwd: path.resolve(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  return new Promise<T>((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench child sets ${mode} failed (exit ${code})`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as T);
    });
  });
}

async function s3Requests(control: string): Promise<number> {
  const response = await fetch(`${control}/requests`);
  return ((await response.json()) as { count: number }).count;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export async function measureSets(deps: SetsDeps): Promise<{ rows: string[][]; checks: string[] }> {
  const { cluster, s3, log } = deps;
  await ensureDatabases(cluster, log);
  const rows: string[][] = [];
  const checks: string[] = [];
  const secs = (s: number) => `${s.toFixed(2)} s`;

  // The floors: each database through the same compressor, one after the other as the run takes them
  // (BACKUP_CONCURRENCY=1), in one shell loop: its wall time is the sum of the 20 floors.
  const dump = `${path.join(cluster.binDir, 'pg_dump')} -h 127.0.0.1 -p ${cluster.port} -U postgres`;
  const floor = await deps.timeShell(`for db in $SETS; do ${dump} -d $db | zstd -q -3 -T0 || exit 1; done | wc -c`, { PGPASSWORD: cluster.password, SETS: names.join(' ') });
  const floorSeconds = floor.seconds;
  const floorBytes = Number(floor.stdout);
  rows.push([`pg_dump | zstd -3 -T0 of ${SETS} databases, one after the other (sum of floors)`, secs(floorSeconds), formatBytes(floorBytes), '', '', '', '', '']);

  // A fresh subfolder per run: the run's keys never meet an earlier run's.
  const base = { endpoint: s3.endpoint, bucket: s3.bucket, control: s3.control, databaseUrl: cluster.url('postgres'), databases: names };
  const requestsBefore = await s3Requests(s3.control);
  const backup = await runSetsChild<SetsBackupOutput>('backup', { ...base, subfolder: `sets-backup-${Date.now()}` }, log);
  const requests = (await s3Requests(s3.control)) - requestsBefore;
  rows.push([
    `backup-sentinel backup, BACKUP_DATABASES of ${SETS}, zstd`,
    secs(backup.wallSeconds),
    `${formatBytes(backup.bytes)} (of ${formatBytes(backup.uncompressedBytes)})`,
    `${formatBytes(backup.peakRssBytes)} (${formatBytes(backup.rssBeforeBytes)} idle)`,
    '',
    `${backup.cpuSeconds.toFixed(2)} s`,
    `${backup.stored} sets`,
    '',
  ]);
  const ratio = backup.wallSeconds / floorSeconds;
  checks.push(
    `sets: ${backup.stored} of ${SETS} databases stored${backup.failed.length ? `, failed: ${backup.failed.join('; ')}` : ''} ${backup.stored === SETS ? 'OK' : 'FAIL'}`,
    `sets: ${SETS} databases in one run / sum of their floors = ${ratio.toFixed(2)}x (${secs(backup.wallSeconds)} / ${secs(floorSeconds)}) (target <= 1.3x) ${ratio <= 1.3 ? 'OK' : 'MISSED'}`,
    // What each set costs beyond its dump: the job's fixed work (its S3 requests: upload, manifest...).
    `sets: ${secs((backup.wallSeconds - floorSeconds) / SETS)} per set over its floor, ${(requests / SETS).toFixed(1)} S3 requests per set (${requests} in all), ` +
      `service CPU ${secs(backup.cpuSeconds)}, pg_dump + zstd ${secs(backup.childCpuSeconds)} (reported, no target)`,
  );
  // The sets run loads the whole service (src/main.ts, as `backup-sentinel backup` does), the zstd row
  // the backup job alone (service-child.ts): their idle RSS differs by those modules, so the target is
  // on what the work adds over each process's idle, the peaks printed beside it.
  const peak = `peak RSS ${formatBytes(backup.peakRssBytes)} (${formatBytes(backup.rssBeforeBytes)} idle with the service's modules)`;
  const added = backup.peakRssBytes - backup.rssBeforeBytes;
  const large = deps.zstdBackup;
  if (large === undefined) {
    checks.push(`sets: ${peak}, ${formatBytes(added)} over its idle for ${SETS} databases (the zstd part did not run: no large backup to compare with; printed only)`);
  } else {
    const largeAdded = large.peakRssBytes - large.rssBeforeBytes;
    checks.push(
      `sets: ${peak}: the run of ${SETS} databases adds ${formatBytes(added)} over its idle, the one large zstd backup ${formatBytes(largeAdded)} ` +
        `(peak ${formatBytes(large.peakRssBytes)}, ${formatBytes(large.rssBeforeBytes)} idle) (target: no more) ${added <= largeAdded ? 'OK' : 'MISSED'}`,
    );
  }
  checks.push(`sets: peak RSS ${formatBytes(backup.peakRssBytes)} (target < 200 MB, as for every backup) ${backup.peakRssBytes < 200e6 ? 'OK' : 'MISSED'}`);

  const serve = await runSetsChild<SetsServeOutput>('serve', { ...base, subfolder: `sets-serve-${Date.now()}`, backupsPerSet: BACKUPS_PER_SET, scrapes: SCRAPES }, log);
  const n = BACKUPS_PER_SET.toLocaleString('en-US');
  rows.push([
    `serve, ${serve.sets} sets x ${n} backups: first checks of every set (start included)`,
    secs(serve.firstChecksSeconds),
    '',
    formatBytes(serve.peakRssBytes),
    '',
    '',
    '',
    '',
  ]);
  rows.push([`serve, ${serve.sets} sets x ${n} backups: steady check of every set`, secs(serve.steady.seconds), '', '', '', '', `${serve.steady.requests} requests`, '']);
  const scrape = median(serve.scrapeMs);
  rows.push([`serve, ${serve.sets} sets: GET /metrics during a backup run (median of ${serve.scrapeMs.length})`, `${scrape.toFixed(1)} ms`, formatBytes(serve.metricsBytes), '', '', '', '', '']);
  checks.push(
    `sets: seeded ${serve.seeded.objects.toLocaleString('en-US')} objects (${serve.sets} sets x ${n} backups + manifests) in ${secs(serve.seeded.seconds)}`,
    `sets: steady check of ${serve.sets} sets: ${serve.steady.lists} listings, ${serve.steady.requests} S3 requests in all, at most ${serve.steady.perSetMaxLists} listing per set (target <= 1 per set)` +
      `${serve.steady.findings.length ? `, findings: ${serve.steady.findings.join(', ')}` : ''} ${serve.steady.perSetMaxLists <= 1 && serve.steady.findings.length === 0 ? 'OK' : 'MISSED'}`,
    `sets: /metrics with ${serve.sets} sets: median ${scrape.toFixed(1)} ms of ${serve.scrapeMs.length} scrapes, max ${Math.max(...serve.scrapeMs).toFixed(1)} ms, ` +
      `${serve.scrapesDuringBackup} of them while the backup ran (target median < 50 ms) ${scrape < 50 && serve.scrapesDuringBackup === serve.scrapeMs.length ? 'OK' : 'MISSED'}`,
    `sets: the backup run under serve ended ${serve.backupStatus} ${serve.backupStatus === 'success' ? 'OK' : 'FAIL'}`,
  );
  return { rows, checks };
}
