// `npm run bench`: backup-sentinel against its floors on a >= 1 GB dump (see issue 2).
// Builds the database once (cached in .bench-cache/), then measures in one run: pg_dump alone,
// pg_dump | gzip -6 and pg_dump | zstd -3 -T0 (the floors), the compressed bytes uploaded alone to a
// local S3 server (own process), and full backups with gzip and zstd (own process: its peak RSS, its
// own CPU seconds without pg_dump's and zstd's, temp disk, parts). Then (issue 8) the zstd backup
// with age encryption against the same backup without it, as ratios, and (issue 3) the monitor's
// cost at scale: first and steady-state checks over 10,000 seeded backups, S3 requests counted by
// the server. Then restore times (restore.ts), the zstd backup over a shaped network (network.ts)
// and the idle cost of `serve` (idle.ts), backup sets at scale (sets.ts), one backup to two
// destinations (an S3 server and a directory) against the same backup to S3 alone (destinations), and
// the memory of a backup planned at 1 TB (memory.ts; BENCH_MEMORY_GIB of generated stream, default 2;
// needs no database).
// BENCH_ONLY=dump,gzip,zstd,age,monitor,prune,restore,network,idle,sets,destinations,memory picks parts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execa } from 'execa';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { measureEncryptionCost } from '../src/crypto/measure-encryption-cost.ts';
import { formatBytes } from '../src/util/format.ts';
import { startBenchCluster, type BenchCluster } from './pg-cache.ts';
import type { MonitorOutput } from './monitor-child.ts';
import type { PruneOutput } from './prune-child.ts';
import type { MemoryAtPeak } from './service-child.ts';
import { processCpuSeconds, reapedChildrenCpuSeconds, sampleWrites } from './proc-sampler.ts';
import { compiledCli } from './compiled-cli.ts';
import { measureIdle } from './idle.ts';
import { measureMemory } from './memory.ts';
import { measureNetwork } from './network.ts';
import { measureRestore } from './restore.ts';
import { measureSets } from './sets.ts';

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
  encryption?: string;
  size: number;
  uncompressedSize?: number;
  parts: number;
  wallSeconds: number;
  cpuSeconds: number;
  // pg_dump's and zstd's CPU (children of the service process; 0 for an upload).
  childCpuSeconds?: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  // RSS of node + tsx before the service's modules loaded.
  rssAtStartBytes: number;
  memoryAtPeak: MemoryAtPeak;
  peakTempBytes: number;
  tempFiles: string[];
  // Two destinations: each copy's size and sha256, or why it failed.
  copies?: { destination: string; size?: number; sha256?: string; failed?: string }[];
}

// ownDir: a directory the measured operation stores into (a destination): its files are not temp disk.
async function runChild(args: string[], ownDir?: string): Promise<ChildOut> {
  const input = JSON.parse(args[1] ?? '{}') as { compression?: { algorithm: string }; recipients?: string[]; file?: string; format?: string };
  const what = args[0] === 'stream' ? 'of generated data' : args[0] === 'backup' ? `${input.format === 'custom' ? 'custom + ' : ''}${input.compression?.algorithm ?? ''}${input.recipients?.length ? ' + age' : ''}` : path.basename(input.file ?? '');
  log(`  running: service ${args[0]} ${what}`);
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
  const tempFiles = [...writes.files].filter((f) => !f.includes('/tsx-') && (ownDir === undefined || !f.startsWith(`${ownDir}/`)));
  const out: ChildOut = { ...(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildOut), peakTempBytes: tempFiles.length === 0 ? 0 : writes.peakTempBytes, tempFiles };
  if (args[0] === 'backup') backupsMeasured.push(out);
  return out;
}

// Every backup measured in this run, for the memory summary.
const backupsMeasured: ChildOut[] = [];

// Where a backup's memory goes: the idle process (node + tsx, then the service's modules) and the
// most any backup added on top of it, split at its peak into the V8 heap and Buffers.
function summarizeMemory(backups: ChildOut[]): string[] {
  if (backups.length === 0) return [];
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  const average = (pick: (b: ChildOut) => number) => backups.reduce((sum, b) => sum + pick(b), 0) / backups.length;
  const worst = backups.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a));
  return [
    `memory: idle ${mib(average((b) => b.rssBeforeBytes))} on average = node + tsx ${mib(average((b) => b.rssAtStartBytes))} ` +
      `+ the service's modules ${mib(average((b) => b.rssBeforeBytes - b.rssAtStartBytes))} (the image runs the compiled build, without tsx)`,
    `memory: highest peak of the ${backups.length} backups ${mib(worst.peakRssBytes)}, ${mib(worst.peakRssBytes - worst.rssBeforeBytes)} over its idle ` +
      `(at the peak: V8 heap ${mib(worst.memoryAtPeak.heapTotal)}, ${mib(worst.memoryAtPeak.heapUsed)} of it used; Buffers ${mib(worst.memoryAtPeak.arrayBuffers)})`,
  ];
}

interface S3Child {
  endpoint: string;
  bucket: string;
  directory: string;
  control: string;
  // CPU seconds the S3 server process has used so far (its share of a run, by difference).
  cpuSeconds(): number;
  stop(): Promise<void>;
}

async function runMonitorChild(input: Record<string, unknown>): Promise<MonitorOutput> {
  log(`  running: monitor checks over ${String(input.backups)} seeded backups`);
  const r = await execa(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'monitor-child.ts'), JSON.stringify(input)], {
    cwd: root,
    stderr: 'inherit',
  });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as MonitorOutput;
}

async function runPruneChild(input: Record<string, unknown>): Promise<PruneOutput> {
  log(`  running: prune with retention tiers over ${String(input.backups)} seeded daily backups`);
  const r = await execa(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'prune-child.ts'), JSON.stringify(input)], {
    cwd: root,
    stderr: 'inherit',
  });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as PruneOutput;
}

async function startS3Child(): Promise<S3Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 's3-child.ts')], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3 server exited ${code}`)));
  });
  const info = JSON.parse(line) as Omit<S3Child, 'stop' | 'cpuSeconds'>;
  return {
    ...info,
    cpuSeconds: () => processCpuSeconds(child.pid ?? 0),
    stop: async () => {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

// At the sampled peak: the V8 heap (committed) and the memory of Buffers (ArrayBuffers), in MiB.
function heapAndBuffers(out: ChildOut): string {
  const mib = (n: number) => (n / 1024 ** 2).toFixed(0);
  return `${mib(out.memoryAtPeak.heapTotal)} + ${mib(out.memoryAtPeak.arrayBuffers)} MiB`;
}

function backupRow(label: string, backup: ChildOut): string[] {
  return [
    label,
    secs(backup.wallSeconds),
    `${formatBytes(backup.size)} (of ${formatBytes(backup.uncompressedSize ?? 0)})`,
    `${formatBytes(backup.peakRssBytes)} (${formatBytes(backup.rssBeforeBytes)} idle)`,
    heapAndBuffers(backup),
    `${backup.cpuSeconds.toFixed(2)} s`,
    String(backup.parts),
    `${formatBytes(backup.peakTempBytes)}${backup.tempFiles.length ? ` ${backup.tempFiles.join(',')}` : ''}`,
  ];
}

interface Section {
  rows: string[][];
  checks: string[];
}

// A positive integer from the environment, or exit with a message naming the variable.
function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`${name} must be a positive integer, got ${JSON.stringify(raw)}: unset it for the default (${fallback})\n`);
    process.exit(2);
  }
  return value;
}

const ENCRYPTION_ROUNDS = positiveIntegerFromEnv('BENCH_AGE_ROUNDS', 3);

// Issue 8: the zstd backup with age encryption (BACKUP_ENCRYPTION_RECIPIENTS set to a key made for
// this run) against the same backup without it, interleaved, best of ENCRYPTION_ROUNDS each (the
// zstd backup measured above is the first unencrypted round). The encrypted object is then decrypted
// with the age CLI (when installed) to prove it is a real age file of the whole dump.
async function measureEncryption(deps: {
  runBackup: (name: 'zstd', recipients?: string[]) => Promise<ChildOut>;
  zstdBackup: ChildOut | undefined;
  s3: S3Child;
}): Promise<Section> {
  const rows: string[][] = [];
  const checks: string[] = [];
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const plain: ChildOut[] = deps.zstdBackup ? [deps.zstdBackup] : [];
  const encrypted: ChildOut[] = [];
  for (let round = 0; round < ENCRYPTION_ROUNDS; round++) {
    if (plain.length <= round) {
      const again = await deps.runBackup('zstd');
      plain.push(again);
      rows.push(backupRow(`backup-sentinel backup, zstd (round ${round + 1} for the ratio)`, again));
    }
    const run = await deps.runBackup('zstd', [recipient]);
    encrypted.push(run);
    rows.push(backupRow(`backup-sentinel backup, zstd + age encryption${ENCRYPTION_ROUNDS > 1 ? ` (round ${round + 1})` : ''}`, run));
  }
  const best = (runs: ChildOut[], pick: (r: ChildOut) => number) => Math.min(...runs.map(pick));
  const wall = [best(encrypted, (r) => r.wallSeconds), best(plain, (r) => r.wallSeconds)] as const;
  const cpu = [best(encrypted, (r) => r.cpuSeconds), best(plain, (r) => r.cpuSeconds)] as const;
  // Service + pg_dump + zstd: on a CPU-bound machine the wall ratio tends to this one, and it barely
  // moves with other load (the PostgreSQL server's work is the same in both and not counted).
  const pipelineCpu = (r: ChildOut) => r.cpuSeconds + (r.childCpuSeconds ?? 0);
  const total = [best(encrypted, pipelineCpu), best(plain, pipelineCpu)] as const;
  const peak = Math.max(...encrypted.map((r) => r.peakRssBytes));
  const last = encrypted.at(-1) as ChildOut;
  checks.push(
    `zstd + age: encrypted / unencrypted, best of ${ENCRYPTION_ROUNDS} each: wall ${(wall[0] / wall[1]).toFixed(2)}x (${secs(wall[0])} / ${secs(wall[1])}), ` +
      `service CPU ${(cpu[0] / cpu[1]).toFixed(2)}x (${secs(cpu[0])} / ${secs(cpu[1])}), ` +
      `pipeline CPU (service + pg_dump + zstd) ${(total[0] / total[1]).toFixed(2)}x (${secs(total[0])} / ${secs(total[1])}) (reported, no target)`,
  );
  // Per round (each encrypted backup against the unencrypted one just before it): shows the noise.
  const perRound = encrypted.map((e, i) => `${(e.wallSeconds / (plain[i] as ChildOut).wallSeconds).toFixed(2)}x`);
  const addedCpu = encrypted.reduce((sum, e, i) => sum + e.cpuSeconds - (plain[i] as ChildOut).cpuSeconds, 0) / encrypted.length;
  const compressedGiB = last.size / 1024 ** 3;
  checks.push(
    `zstd + age: wall ratio per round ${perRound.join(', ')}; encryption adds ${addedCpu.toFixed(2)} s of service CPU on average ` +
      `(${(addedCpu / compressedGiB).toFixed(1)} s per GiB stored)`,
  );
  checks.push(`zstd + age: peak RSS ${formatBytes(peak)} (target < 200 MB) ${peak < 200e6 ? 'OK' : 'MISSED'}`);
  if (!last.key.endsWith('.age') || last.encryption !== 'age') checks.push(`zstd + age: the backup ${last.key} is not marked encrypted (manifest encryption ${String(last.encryption)}) FAILED`);
  const verify = await decryptWithAgeCli(identity, path.join(deps.s3.directory, deps.s3.bucket, `${last.key}._S3rver_object`));
  if (verify === undefined) checks.push('zstd + age: the age CLI is not installed, the encrypted object was not decrypted independently');
  else {
    rows.push([`age -d | zstd -d of that backup (age CLI, from disk)`, secs(verify.seconds), formatBytes(verify.bytes), '', '', '', '', '']);
    const same = verify.bytes === last.uncompressedSize;
    checks.push(`zstd + age: the age CLI decrypts ${last.key} to the whole dump (${formatBytes(verify.bytes)}) ${same ? 'OK' : `FAILED: expected ${String(last.uncompressedSize)} bytes, got ${verify.bytes}`}`);
  }
  const stage = await measureEncryptionCost(64 * 1024 * 1024);
  checks.push(
    `age stage alone (64 MiB, best of 3): encrypt ${stage.encryptMBps} MB/s, decrypt ${stage.decryptMBps} MB/s, sha256 ${stage.sha256MBps} MB/s, ` +
      `passthrough ${stage.passthroughMBps} MB/s (${stage.encryptSecondsPerGiB} s per GiB of compressed dump to encrypt)`,
  );
  return { rows, checks };
}

// Pipes the stored file through `age -d -i <identity file> | zstd -d | wc -c`; undefined without age.
async function decryptWithAgeCli(identity: string, file: string): Promise<{ seconds: number; bytes: number } | undefined> {
  const found = await execa('age', ['--version'], { reject: false });
  if (found.failed) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-age-'));
  const keyFile = path.join(dir, 'key.txt');
  try {
    fs.writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
    const r = await timeShell(`age -d -i ${keyFile} ${file} | zstd -q -d -c | wc -c`, {});
    return { seconds: r.seconds, bytes: Number(r.stdout) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const MEMORY_GIB = positiveIntegerFromEnv('BENCH_MEMORY_GIB', 2);
const MONITOR_BACKUPS = positiveIntegerFromEnv('BENCH_MONITOR_BACKUPS', 10_000);
const IDLE_SECONDS = positiveIntegerFromEnv('BENCH_IDLE_SECONDS', 60);
const IDLE_SETTLE_SECONDS = positiveIntegerFromEnv('BENCH_IDLE_SETTLE_SECONDS', 90);

// Issue 3, cost at scale: the real MonitorRunner over MONITOR_BACKUPS seeded backups (each with its
// manifest) under their own folder; S3 requests counted by the server.
async function measureMonitor(s3: S3Child): Promise<Section> {
  const out = await runMonitorChild({ endpoint: s3.endpoint, bucket: s3.bucket, control: s3.control, subfolder: 'monitor-scale', prefix: 'bench_', backups: MONITOR_BACKUPS });
  const n = MONITOR_BACKUPS.toLocaleString('en-US');
  const rss = `${formatBytes(out.peakRssBytes)} (${formatBytes(out.rssBeforeBytes)} idle)`;
  const row = (label: string, c: MonitorOutput['first']) => [
    `${label}: ${c.mode} listing of ${c.listed.toLocaleString('en-US')} objects`,
    secs(c.seconds),
    '',
    rss,
    '',
    `${c.cpuSeconds.toFixed(2)} s`,
    `${c.requests} request${c.requests === 1 ? '' : 's'}`,
    '',
  ];
  const rows = [
    row(`monitor first check, ${n} backups`, out.first),
    row('monitor steady-state check', out.steady),
    row('monitor steady-state check after a new backup', out.steadyAfterNewBackup),
  ];
  const checks = [`monitor: seeded ${out.seeded.objects.toLocaleString('en-US')} objects (${n} backups + manifests) in ${secs(out.seeded.seconds)}`];
  checks.push(`monitor: first check with ${n} backups: ${out.first.requests} S3 request${out.first.requests === 1 ? '' : 's'}, ${secs(out.first.seconds)} (measured, no target)`);
  for (const [label, c] of [['steady-state check', out.steady], ['steady-state check after a new backup', out.steadyAfterNewBackup]] as const) {
    checks.push(`monitor: ${label}: ${c.requests} S3 request${c.requests === 1 ? '' : 's'}, ${secs(c.seconds)} (target <= 3 requests) ${c.requests <= 3 ? 'OK' : 'FAIL'}`);
  }
  const expected = MONITOR_BACKUPS + 1;
  const known = out.steadyAfterNewBackup.backups;
  const findings = [...new Set([out.first, out.steady, out.steadyAfterNewBackup].flatMap((c) => c.findings))];
  checks.push(
    `monitor: knows ${known.toLocaleString('en-US')} backups after the new one (expected ${expected.toLocaleString('en-US')}), findings: ${findings.join(', ') || 'none'} ` +
      `${known === expected && findings.length === 0 ? 'OK' : 'FAIL'}`,
  );
  return { rows, checks };
}

const PRUNE_BACKUPS = 1100;

// Retention tiers at scale: one prune with KEEP_DAILY=7 KEEP_WEEKLY=4 KEEP_MONTHLY=12 KEEP_YEARLY=3 over
// three years of daily backups (each with its manifest): one listing, deletes in batches of 500.
async function measurePrune(s3: S3Child): Promise<Section> {
  const out = await runPruneChild({ endpoint: s3.endpoint, bucket: s3.bucket, control: s3.control, subfolder: 'prune-tiers', backups: PRUNE_BACKUPS });
  const deleted = out.deletedBackups + out.deletedManifests;
  // One listing (a page per 1,000 keys) and one DeleteObjects per 500 keys: nothing one by one.
  const expectedRequests = Math.ceil(out.listed / 1000) + Math.ceil(deleted / 500);
  const label = `prune, tiers 7/4/12/3, ${PRUNE_BACKUPS.toLocaleString('en-US')} daily backups (${out.listed.toLocaleString('en-US')} objects)`;
  const rows = [
    [`S3 requests of that prune alone, bare S3 client (floor)`, secs(out.floor.seconds), '', '', '', '', `${out.floor.requests} requests`, ''],
    [label, secs(out.seconds), '', formatBytes(out.peakRssBytes), '', `${out.cpuSeconds.toFixed(2)} s`, `${out.requests} requests`, ''],
  ];
  const checks = [
    `prune: seeded ${out.seeded.objects.toLocaleString('en-US')} objects in ${secs(out.seeded.seconds)}; deleted ${out.deletedBackups} backups + ${out.deletedManifests} manifests, kept ${out.kept}${out.refusal === null ? '' : ` (refused: ${out.refusal})`}`,
    `prune: ${out.requests} S3 requests (expected ${expectedRequests}: one listing, batched deletes) ${out.requests === expectedRequests && out.refusal === null ? 'OK' : 'FAIL'}`,
    `prune: ${secs(out.seconds)} (target < 2 s against the local S3 server) ${out.seconds < 2 ? 'OK' : 'MISSED'}`,
    `prune: prune / floor = ${(out.seconds / out.floor.seconds).toFixed(2)}x (${secs(out.seconds)} / ${secs(out.floor.seconds)}: the same ${out.floor.requests} requests sent with the bare S3 client; ` +
      `the floor is the S3 server's own time) (target <= 1.2x) ${out.seconds <= 1.2 * out.floor.seconds ? 'OK' : 'MISSED'}`,
  ];
  return { rows, checks };
}

// One zstd backup to two destinations (the S3 server and a directory) against the same backup to S3
// alone, in this run: wall time (target <= 1.15x), peak RSS (< 250 MB), no temp disk besides the
// directory destination itself, and the two copies identical (size and sha256 of each manifest).
async function measureDestinations(deps: { runBackup: (dir?: string) => Promise<ChildOut>; zstdBackup: ChildOut | undefined; cacheDir: string }): Promise<Section> {
  const dir = fs.mkdtempSync(path.join(deps.cacheDir, 'dest-dir-'));
  try {
    const single = deps.zstdBackup ?? (await deps.runBackup());
    const both = await deps.runBackup(dir);
    const rows = [
      ...(deps.zstdBackup ? [] : [backupRow('backup-sentinel backup, zstd, S3 alone', single)]),
      backupRow('backup-sentinel backup, zstd, S3 + directory', both),
    ];
    const ratio = both.wallSeconds / single.wallSeconds;
    const copies = both.copies ?? [];
    const same = copies.length === 2 && copies.every((c) => c.failed === undefined && c.sha256 === copies[0]?.sha256 && c.size === copies[0]?.size);
    const checks = [
      `destinations: two / one = ${ratio.toFixed(2)}x wall time (${secs(both.wallSeconds)} vs ${secs(single.wallSeconds)}; target <= 1.15x) ${ratio <= 1.15 ? 'OK' : 'MISSED'}`,
      `destinations: peak RSS ${formatBytes(both.peakRssBytes)} with two (one: ${formatBytes(single.peakRssBytes)}; target < 250 MB) ${both.peakRssBytes < 250e6 ? 'OK' : 'MISSED'}`,
      `destinations: temp disk ${formatBytes(both.peakTempBytes)} (target 0) ${both.peakTempBytes === 0 ? 'OK' : 'MISSED'}`,
      `destinations: ${copies.map((c) => `${c.destination} ${c.failed ?? `${formatBytes(c.size ?? 0)} sha256 ${(c.sha256 ?? '').slice(0, 12)}`}`).join(', ')}: ${same ? 'the same bytes OK' : 'DIFFER'}`,
    ];
    return { rows, checks };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(cacheDir, { recursive: true });
  log(`backup-sentinel benchmark — ${os.cpus().length} CPUs, load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const only = (process.env.BENCH_ONLY ?? 'dump,gzip,zstd,age,monitor,prune,restore,network,idle,sets,destinations,memory').split(',');
  // Parts that measure against the S3 server alone: chosen by themselves, no database is built.
  if (only.every((part) => WITHOUT_DATABASE.includes(part))) {
    await runWithoutDatabase(only);
    return;
  }
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

    const rows: string[][] = [];
    const checks: string[] = [];
    let gzipBackup: ChildOut | undefined;
    let zstdBackup: ChildOut | undefined;

    if (only.includes('dump')) {
      const alone = await timeShell(`${dump} | wc -c`, env);
      rows.push(['pg_dump > /dev/null (via wc -c)', secs(alone.seconds), formatBytes(Number(alone.stdout)), '', '', '', '', '']);
      if (Number(alone.stdout) < 1e9) checks.push(`plain dump is ${formatBytes(Number(alone.stdout))}, under the 1 GB the issue asks for: raise BENCH_ROWS`);
    }
    // `extra` for the restore and network parts: a custom-format dump, another endpoint (the proxy).
    const runBackup = (name: 'gzip' | 'zstd', recipients: string[] = [], extra: { format?: 'plain' | 'custom'; endpoint?: string; dir?: string } = {}) =>
      runChild(['backup', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, databaseUrl: cluster.url(), compression: { algorithm: name, level: undefined }, recipients, ...extra })], extra.dir);
    const part = (name: 'gzip' | 'zstd', floorCmd: string, file: string) => async () => {
      const floorCpu0 = reapedChildrenCpuSeconds();
      const floor = await timeShell(`${dump} | ${floorCmd} | wc -c`, env);
      const floorCpu = reapedChildrenCpuSeconds() - floorCpu0;
      rows.push([`pg_dump | ${floorCmd} (floor)`, secs(floor.seconds), formatBytes(Number(floor.stdout)), '', '', '', '', '']);
      const upload = await runChild(['upload', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, file, sizeHint: dbSize })]);
      rows.push([`${name} bytes uploaded alone`, secs(upload.wallSeconds), formatBytes(upload.size), `${formatBytes(upload.peakRssBytes)} (${formatBytes(upload.rssBeforeBytes)} idle)`, heapAndBuffers(upload), `${upload.cpuSeconds.toFixed(2)} s`, String(upload.parts), '']);
      const s3Cpu0 = s3.cpuSeconds();
      const backup = await runBackup(name);
      const s3Cpu = s3.cpuSeconds() - s3Cpu0;
      rows.push(backupRow(`backup-sentinel backup, ${name}`, backup));
      const ratio = backup.wallSeconds / floor.seconds;
      const target = name === 'gzip' ? 1.15 : 1.3;
      checks.push(`${name}: backup / floor = ${ratio.toFixed(2)}x (target <= ${target}x) ${ratio <= target ? 'OK' : 'MISSED'}`);
      // On 2 cores a run whose processes together need more CPU than the floor's is slowed by the extra:
      // the local S3 server's share is what storing costs here, not the service's own work.
      const childCpu = backup.childCpuSeconds ?? 0;
      checks.push(
        `${name}: CPU seconds: floor (pg_dump + ${name}) ${floorCpu.toFixed(2)} s; backup: pg_dump + ${name} ${childCpu.toFixed(2)} s, service ${backup.cpuSeconds.toFixed(2)} s, ` +
          `local S3 server ${s3Cpu.toFixed(2)} s (its share of the run's CPU ${((100 * s3Cpu) / (childCpu + backup.cpuSeconds + s3Cpu)).toFixed(0)} %) (reported, no target)`,
      );
      checks.push(`${name}: peak RSS ${formatBytes(backup.peakRssBytes)} (target < 200 MB) ${backup.peakRssBytes < 200e6 ? 'OK' : 'MISSED'}`);
      return backup;
    };
    if (only.includes('gzip')) gzipBackup = await part('gzip', 'gzip -6', gzFile)();
    if (only.includes('zstd')) zstdBackup = await part('zstd', 'zstd -3 -T0', zstFile)();
    if (gzipBackup && zstdBackup) {
      const speedup = gzipBackup.wallSeconds / zstdBackup.wallSeconds;
      checks.push(`zstd backup is ${speedup.toFixed(2)}x faster than the gzip backup (target >= 2.5x) ${speedup >= 2.5 ? 'OK' : 'MISSED'}`);
    }
    if (only.includes('age')) {
      const age = await measureEncryption({ runBackup, zstdBackup, s3 });
      rows.push(...age.rows);
      checks.push(...age.checks);
    }
    if (only.includes('monitor')) {
      const monitor = await measureMonitor(s3);
      rows.push(...monitor.rows);
      checks.push(...monitor.checks);
    }
    if (only.includes('prune')) {
      const prune = await measurePrune(s3);
      rows.push(...prune.rows);
      checks.push(...prune.checks);
    }
    for (const [name, measure] of [
      ['restore', async () => measureRestore({ cluster, s3, cacheDir, cli: await compiledCli(root, log), zstdBackup, runBackup: (format) => runBackup('zstd', [], { format }), timeShell, log })],
      ['network', () => measureNetwork({
        s3Endpoint: s3.endpoint,
        zstdBackup,
        runBackup: (endpoint) => runBackup('zstd', [], { endpoint }),
        runUpload: (endpoint, queueSize) => runChild(['upload', JSON.stringify({ endpoint, bucket: s3.bucket, file: zstFile, sizeHint: dbSize, queueSize })]),
        log,
      })],
      ['idle', async () => measureIdle({ root, cli: await compiledCli(root, log), seconds: IDLE_SECONDS, settleSeconds: IDLE_SETTLE_SECONDS, log })],
      ['sets', () => measureSets({ cluster, s3, zstdBackup, timeShell, log })],
      ['destinations', () => measureDestinations({ runBackup: (dir) => runBackup('zstd', [], dir === undefined ? {} : { dir }), zstdBackup, cacheDir })],
      ['memory', () => measureMemory({ gib: MEMORY_GIB, runStream: (input) => runChild(['stream', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, ...input })]) })],
    ] as const) {
      if (only.includes(name)) await addSection(rows, checks, measure);
    }

    printResults(rows, [...checks, ...summarizeMemory(backupsMeasured)]);
  } finally {
    await s3.stop();
    await cluster.stop();
  }
}

// One part's rows and checks, added to the run's.
async function addSection(rows: string[][], checks: string[], measure: () => Promise<{ rows: string[][]; checks: string[] }>): Promise<void> {
  const section = await measure();
  rows.push(...section.rows);
  checks.push(...section.checks);
}

function printResults(rows: string[][], checks: string[]): void {
  const header = ['measurement', 'wall', 'bytes', 'peak RSS', 'heap + Buffers', 'own CPU', 'parts', 'temp disk'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  log('');
  for (const r of [header, ...rows]) log(r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  log('');
  for (const c of checks) log(c);
  log(`load average at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on this machine skews every number)`);
}

const WITHOUT_DATABASE = ['monitor', 'prune', 'memory'];

// BENCH_ONLY=monitor, prune and/or memory: no database to build (the 1 GB one takes minutes and a core),
// only the S3 server.
async function runWithoutDatabase(only: readonly string[]): Promise<void> {
  const s3 = await startS3Child();
  try {
    const rows: string[][] = [];
    const checks: string[] = [];
    for (const [name, measure] of [
      ['monitor', () => measureMonitor(s3)],
      ['prune', () => measurePrune(s3)],
      ['memory', () => measureMemory({ gib: MEMORY_GIB, runStream: (input) => runChild(['stream', JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, ...input })]) })],
    ] as const) {
      if (only.includes(name)) await addSection(rows, checks, measure);
    }
    printResults(rows, checks);
  } finally {
    await s3.stop();
  }
}

await main();
