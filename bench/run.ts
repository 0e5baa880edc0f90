// `npm run bench`: backup-sentinel against its floors on a >= 1 GB dump (see issue 2).
// Builds the database once (cached in .bench-cache/), then measures in one run: pg_dump alone,
// pg_dump | gzip -6 and pg_dump | zstd -3 -T0 (the floors), the compressed bytes uploaded alone to a
// local S3 server (own process), and full backups with gzip and zstd (own process: its peak RSS, its
// own CPU seconds without pg_dump's and zstd's, temp disk, parts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execa } from 'execa';
import { formatBytes } from '../src/util/format.ts';
import { startBenchCluster, type BenchCluster } from './pg-cache.ts';
import { sampleWrites } from './proc-sampler.ts';

const root = path.resolve(import.meta.dirname, '..');
const cacheDir = path.join(root, '.bench-cache');
const log = (line: string) => process.stdout.write(`${line}\n`);
const secs = (s: number) => `${s.toFixed(2)} s`;

async function timeShell(script: string, env: Record<string, string>): Promise<{ seconds: number; stdout: string }> {
  log(`  running: ${script.replace(/-p \d+ /, '')}`);
  const t0 = performance.now();
  const r = await execa('bash', ['-c', `set -o pipefail; ${script}`], { env: { ...env, PATH: process.env.PATH ?? '' }, extendEnv: false });
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout.trim() };
}

interface ChildOut {
  key: string;
  size: number;
  uncompressedSize?: number;
  parts: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  peakTempBytes: number;
  tempFiles: string[];
}

async function runChild(args: string[]): Promise<ChildOut> {
  log(`  running: service ${args[0]} ${args[0] === 'backup' ? (JSON.parse(args[1] ?? '{}') as { compression: { algorithm: string } }).compression.algorithm : path.basename((JSON.parse(args[1] ?? '{}') as { file: string }).file)}`);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'service-child.ts'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const sampler = sampleWrites(child.pid ?? 0);
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const writes = sampler.stop();
  if (code !== 0) throw new Error(`bench child ${args[0]} failed (exit ${code})`);
  // tsx keeps a compile cache of its own; it is not the service's temp data.
  const tempFiles = [...writes.files].filter((f) => !f.includes('/tsx-'));
  return { ...(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildOut), peakTempBytes: tempFiles.length === 0 ? 0 : writes.peakTempBytes, tempFiles };
}

async function startS3Child(): Promise<{ endpoint: string; bucket: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 's3-child.ts')], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3 server exited ${code}`)));
  });
  const info = JSON.parse(line) as { endpoint: string; bucket: string };
  return {
    ...info,
    stop: async () => {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

async function main(): Promise<void> {
  fs.mkdirSync(cacheDir, { recursive: true });
  log(`backup-sentinel benchmark — ${os.cpus().length} CPUs, load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const cluster: BenchCluster = await startBenchCluster(cacheDir, log);
  const s3 = await startS3Child();
  try {
    const dbSize = Number(await cluster.psql("SELECT pg_database_size('bench')", 'bench'));
    const env = { PGPASSWORD: cluster.password };
    const dump = `${path.join(cluster.binDir, 'pg_dump')} -h 127.0.0.1 -p ${cluster.port} -U postgres -d bench`;
    log(`database: ${formatBytes(dbSize)}`);

    // Compressed files for the upload-alone measurement (cached, made outside the timed runs).
    // Named by the database size so that a grown database gets new files.
    const gzFile = path.join(cacheDir, `dump-${dbSize}.sql.gz`);
    const zstFile = path.join(cacheDir, `dump-${dbSize}.sql.zst`);
    for (const old of fs.readdirSync(cacheDir).filter((f) => /^dump.*\.sql\.(gz|zst)$/.test(f) && !gzFile.endsWith(f) && !zstFile.endsWith(f))) {
      fs.rmSync(path.join(cacheDir, old));
    }
    if (!fs.existsSync(zstFile)) await timeShell(`${dump} | zstd -q -3 -T0 > ${zstFile}.tmp && mv ${zstFile}.tmp ${zstFile}`, env);
    if (!fs.existsSync(gzFile)) await timeShell(`zstd -q -d -c ${zstFile} | gzip -6 > ${gzFile}.tmp && mv ${gzFile}.tmp ${gzFile}`, env);

    const only = (process.env.BENCH_ONLY ?? 'dump,gzip,zstd').split(',');
    const rows: string[][] = [];
    const checks: string[] = [];
    let gzipBackup: ChildOut | undefined;
    let zstdBackup: ChildOut | undefined;

    if (only.includes('dump')) {
      const alone = await timeShell(`${dump} | wc -c`, env);
      rows.push(['pg_dump > /dev/null (via wc -c)', secs(alone.seconds), formatBytes(Number(alone.stdout)), '', '', '', '']);
      if (Number(alone.stdout) < 1e9) checks.push(`plain dump is ${formatBytes(Number(alone.stdout))}, under the 1 GB the issue asks for: raise BENCH_ROWS`);
    }
    const part = (name: 'gzip' | 'zstd', floorCmd: string, file: string) => async () => {
      const floor = await timeShell(`${dump} | ${floorCmd} | wc -c`, env);
      rows.push([`pg_dump | ${floorCmd} (floor)`, secs(floor.seconds), formatBytes(Number(floor.stdout)), '', '', '', '']);
      const upload = await runChild(['upload', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, file, sizeHint: dbSize })]);
      rows.push([`${name} bytes uploaded alone`, secs(upload.wallSeconds), formatBytes(upload.size), `${formatBytes(upload.peakRssBytes)} (${formatBytes(upload.rssBeforeBytes)} idle)`, `${upload.cpuSeconds.toFixed(2)} s`, String(upload.parts), '']);
      const backup = await runChild(['backup', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, databaseUrl: cluster.url(), compression: { algorithm: name, level: undefined } })]);
      rows.push([
        `backup-sentinel backup, ${name}`,
        secs(backup.wallSeconds),
        `${formatBytes(backup.size)} (of ${formatBytes(backup.uncompressedSize ?? 0)})`,
        `${formatBytes(backup.peakRssBytes)} (${formatBytes(backup.rssBeforeBytes)} idle)`,
        `${backup.cpuSeconds.toFixed(2)} s`,
        String(backup.parts),
        `${formatBytes(backup.peakTempBytes)}${backup.tempFiles.length ? ` ${backup.tempFiles.join(',')}` : ''}`,
      ]);
      const ratio = backup.wallSeconds / floor.seconds;
      const target = name === 'gzip' ? 1.15 : 1.6;
      checks.push(`${name}: backup / floor = ${ratio.toFixed(2)}x (target <= ${target}x) ${ratio <= target ? 'OK' : 'MISSED'}`);
      checks.push(`${name}: peak RSS ${formatBytes(backup.peakRssBytes)} (target < 200 MB) ${backup.peakRssBytes < 200e6 ? 'OK' : 'MISSED'}`);
      return backup;
    };
    if (only.includes('gzip')) gzipBackup = await part('gzip', 'gzip -6', gzFile)();
    if (only.includes('zstd')) zstdBackup = await part('zstd', 'zstd -3 -T0', zstFile)();
    if (gzipBackup && zstdBackup) {
      const speedup = gzipBackup.wallSeconds / zstdBackup.wallSeconds;
      checks.push(`zstd backup is ${speedup.toFixed(2)}x faster than the gzip backup (target >= 2.5x) ${speedup >= 2.5 ? 'OK' : 'MISSED'}`);
    }

    const header = ['measurement', 'wall', 'bytes', 'peak RSS', 'own CPU', 'parts', 'temp disk'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    log('');
    for (const r of [header, ...rows]) log(r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd());
    log('');
    for (const c of checks) log(c);
    log(`load average at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on this machine skews every number)`);
  } finally {
    await s3.stop();
    await cluster.stop();
  }
}

await main();
