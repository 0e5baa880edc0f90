// The monitor's cost at scale, in its own process (its CPU and RSS alone): the real MonitorRunner,
// configured by loadConfig from the same variables a monitor-only deployment sets, checks a prefix
// of the local S3 server, seeded first (through the server's control endpoint) with `backups` backups,
// one an hour, each with its manifest, as years of backup-sentinel history look. Three checks on one
// runner: the first (a full listing), a steady-state one with nothing new, and a steady-state one
// after a new backup appeared. Requests are counted by the S3 server (its control endpoint).
// Input: one JSON argument (MonitorInput). Prints one JSON line (MonitorOutput).
import { loadConfig } from '../src/config/load-config.ts';
import { silentLogger } from '../src/logger.ts';
import { MonitorRunner } from '../src/monitor/runner.ts';
import { createStore } from '../src/storage/create-store.ts';
import type { SeedPlan } from './seed-plan.ts';
import { benchS3Env } from './s3-env.ts';

export interface MonitorInput {
  endpoint: string;
  bucket: string;
  control: string;
  subfolder: string;
  prefix: string;
  backups: number;
}

export interface CheckCost {
  requests: number;
  seconds: number;
  cpuSeconds: number;
  mode: string;
  listed: number;
  // Backups the monitor knows after the check, and the findings it made (none expected).
  backups: number;
  findings: string[];
}

export interface MonitorOutput {
  seeded: { objects: number; seconds: number };
  first: CheckCost;
  steady: CheckCost;
  steadyAfterNewBackup: CheckCost;
  rssBeforeBytes: number;
  peakRssBytes: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as MonitorInput;
const config = loadConfig({
  ...benchS3Env(input),
  BACKUP_FILE_PREFIX: input.prefix,
});
const runner = new MonitorRunner({ store: createStore(config), location: config.location, settings: config.monitor, logger: silentLogger() });

async function control(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${input.control}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`s3 child control ${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json());
}
const requestCount = async (): Promise<number> => ((await control('/requests')) as { count: number }).count;

async function measureCheck(): Promise<CheckCost> {
  const before = await requestCount();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await runner.runCheck();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const requests = (await requestCount()) - before;
  if (!result.ok) throw new Error(`the check failed: ${result.findings.map((f) => f.summary).join('; ')}`);
  return {
    requests,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mode: result.listing?.mode ?? 'none',
    listed: result.listing?.listed ?? 0,
    backups: runner.snapshot().inventory.count,
    findings: result.findings.map((f) => f.check),
  };
}

// The newest seeded backup is half an hour old: the checks find nothing wrong.
const history: SeedPlan = {
  location: config.location,
  count: input.backups,
  newest: new Date(Date.now() - 30 * 60_000).toISOString(),
  intervalMinutes: 60,
  baseSize: 2048,
  withManifests: true,
};
const seeded = (await control('/seed', history)) as { seeded: number; seconds: number };

const rssBeforeBytes = process.memoryUsage().rss;
const first = await measureCheck();
const steady = await measureCheck();
const next: SeedPlan = { ...history, count: 1, newest: new Date().toISOString(), baseSize: history.baseSize + history.count };
await control('/seed', next);
const steadyAfterNewBackup = await measureCheck();
const output: MonitorOutput = { seeded: { objects: seeded.seeded, seconds: seeded.seconds }, first, steady, steadyAfterNewBackup, rssBeforeBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
process.stdout.write(`${JSON.stringify(output)}\n`);
