// Backup sets (BACKUP_DATABASES) measured in their own process, so peak RSS and CPU are the service's alone:
//   backup <json>   one run of the real BackupSetsRunner (buildBackupSetsRunner, as `backup-sentinel backup`
//                   wires it from BACKUP_DATABASES) over every database of `databases`, zstd, to the S3 server
//   serve <json>    the real service (startSentinel) with those sets, each set's folder seeded first with
//                   `backupsPerSet` hourly backups and manifests: once every set's first check is done,
//                   one steady check per set (as MONITOR_CRON runs them), the S3 listings counted by the
//                   server; then a backup run starts and /metrics is scraped `scrapes` times while it runs
// Input: one JSON argument (SetsInput). Prints one JSON line (SetsBackupOutput or SetsServeOutput).
import type { SeedPlan } from './seed-plan.ts';
import { reapedChildrenCpuSeconds } from './proc-sampler.ts';
import { benchS3Env } from './s3-env.ts';

// RSS of node + tsx before the service's modules load (as service-child.ts reports it).
const rssAtStartBytes = process.memoryUsage().rss;
const { loadConfig } = await import('../src/config/load-config.ts');
const { databaseLocation } = await import('../src/core/naming.ts');
const { silentLogger } = await import('../src/logger.ts');
const { buildBackupSetsRunner, startSentinel } = await import('../src/main.ts');
const { createStore } = await import('../src/storage/create-store.ts');

export interface SetsInput {
  endpoint: string;
  bucket: string;
  control: string;
  databaseUrl: string;
  databases: string[];
  subfolder: string;
  // serve only.
  backupsPerSet?: number;
  scrapes?: number;
}

export interface SetsBackupOutput {
  wallSeconds: number;
  cpuSeconds: number;
  // pg_dump's and zstd's CPU (this process's reaped children).
  childCpuSeconds: number;
  stored: number;
  failed: string[];
  bytes: number;
  uncompressedBytes: number;
  rssAtStartBytes: number;
  rssBeforeBytes: number;
  peakRssBytes: number;
}

export interface SetsServeOutput {
  sets: number;
  seeded: { objects: number; seconds: number };
  firstChecksSeconds: number;
  // The steady check of every set, one after the other.
  steady: { requests: number; lists: number; seconds: number; perSetMaxLists: number; findings: string[] };
  // Milliseconds per /metrics answer, in order; how many of them ended while the backup still ran.
  scrapeMs: number[];
  scrapesDuringBackup: number;
  metricsBytes: number;
  backupStatus: string;
  peakRssBytes: number;
}

const [mode, json] = process.argv.slice(2);
const input = JSON.parse(json ?? '{}') as SetsInput;
const env: Record<string, string> = {
  ...benchS3Env(input),
  BACKUP_FILE_PREFIX: 'bench_',
  BACKUP_DATABASE_URL: input.databaseUrl,
  BACKUP_DATABASES: input.databases.join(','),
  BACKUP_COMPRESSION: 'zstd',
};

async function control(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${input.control}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`s3 child control ${path}: HTTP ${response.status} ${await response.text()}`);
  return await response.json();
}
const requestCounts = async () => (await control('/requests')) as { count: number; lists: number };


async function backup(): Promise<SetsBackupOutput> {
  const config = loadConfig(env);
  const runner = buildBackupSetsRunner(config, createStore(config), silentLogger());
  if (runner === undefined) throw new Error('no backup sets runner: BACKUP_DATABASE_URL and BACKUP_DATABASES are set, so this is a bug');
  const rssBeforeBytes = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { results } = await runner.run({ runId: 'bench-sets', trigger: 'manual' });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  let bytes = 0;
  let uncompressedBytes = 0;
  for (const r of results) {
    if (r.result.status !== 'success') continue;
    bytes += r.result.manifest.size;
    uncompressedBytes += r.result.manifest.uncompressedSize;
  }
  return {
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    childCpuSeconds: reapedChildrenCpuSeconds(),
    stored: results.filter((r) => r.result.status === 'success').length,
    failed: results.filter((r) => r.result.status !== 'success').map((r) => `${r.set}: ${r.result.status === 'failed' || r.result.status === 'cancelled' ? r.result.shortMessage : r.result.status}`),
    bytes,
    uncompressedBytes,
    rssAtStartBytes,
    rssBeforeBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

// Polls `done` every 50 ms until it holds, or fails after `seconds` naming `what`.
async function waitFor(what: string, done: () => boolean, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function serve(): Promise<SetsServeOutput> {
  // Schedules that never fire during the measurement (the checks and the backup are started here),
  // no lease traffic, no retention deleting the seeded history.
  const config = loadConfig({
    ...env,
    BACKUP_CRON_SCHEDULE: '0 3 1 1 *',
    MONITOR_CRON: '0 0 1 1 *',
    VERIFY_CRON: '0 0 1 1 *',
    RETENTION_DAYS: '0',
    LEADER_LEASE_SECONDS: '0',
  });
  const perSet = input.backupsPerSet ?? 1000;
  // Each set's history: hourly backups, the newest half an hour old (no finding).
  let objects = 0;
  const t0 = performance.now();
  for (const set of input.databases) {
    const plan: SeedPlan = {
      location: databaseLocation(config.location, set),
      count: perSet,
      newest: new Date(Date.now() - 30 * 60_000).toISOString(),
      intervalMinutes: 60,
      baseSize: 4096,
      withManifests: true,
    };
    objects += ((await control('/seed', plan)) as { seeded: number }).seeded;
  }
  const seeded = { objects, seconds: (performance.now() - t0) / 1000 };

  const tStart = performance.now();
  const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
  try {
    const sets = sentinel.sets;
    if (sets === undefined || sentinel.backupService === undefined) throw new Error('startSentinel made no backup sets: BACKUP_DATABASES is set, so this is a bug');
    await waitFor(`the first check of all ${input.databases.length} sets`, () => input.databases.every((s) => sets.get(s)?.snapshot().lastCheck !== undefined), 300);
    const firstChecksSeconds = (performance.now() - tStart) / 1000;

    // The steady hourly check of every set (what MONITOR_CRON runs), listings counted per set.
    const before = await requestCounts();
    const t1 = performance.now();
    let perSetMaxLists = 0;
    const findings = new Set<string>();
    for (const set of input.databases) {
      const a = await requestCounts();
      const result = await (sets.get(set) as NonNullable<ReturnType<typeof sets.get>>).runCheck();
      const b = await requestCounts();
      perSetMaxLists = Math.max(perSetMaxLists, b.lists - a.lists);
      for (const f of result.findings) findings.add(`${set}: ${f.check}`);
    }
    const seconds = (performance.now() - t1) / 1000;
    const after = await requestCounts();
    // The control calls are not S3 requests (another port): the counts are the checks' alone.
    const steady = { requests: after.count - before.count, lists: after.lists - before.lists, seconds, perSetMaxLists, findings: [...findings] };

    // /metrics with every set while a backup run (all the sets, one after the other) is going on.
    let backupDone = false;
    const run = sentinel.backupService.runOnce('manual').finally(() => {
      backupDone = true;
    });
    const url = `http://127.0.0.1:${sentinel.port}/metrics`;
    const scrapeMs: number[] = [];
    let scrapesDuringBackup = 0;
    let metricsBytes = 0;
    for (let i = 0; i < (input.scrapes ?? 20); i++) {
      const s0 = performance.now();
      const response = await fetch(url);
      const text = await response.text();
      scrapeMs.push(performance.now() - s0);
      if (!response.ok) throw new Error(`/metrics answered HTTP ${response.status}`);
      metricsBytes = text.length;
      if (!backupDone) scrapesDuringBackup++;
    }
    const result = await run;
    return {
      sets: sets.names().length,
      seeded,
      firstChecksSeconds,
      steady,
      scrapeMs,
      scrapesDuringBackup,
      metricsBytes,
      backupStatus: result.status === 'failed' || result.status === 'cancelled' ? `${result.status}: ${result.shortMessage}` : result.status,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await sentinel.stop();
  }
}

const output = mode === 'serve' ? await serve() : await backup();
process.stdout.write(`${JSON.stringify(output)}\n`);
// The service's timers (alerts, sweeper) are stopped; exit rather than wait on any socket left open.
process.exit(0);
