// Retention tiers at scale, in its own process: three years of daily backups (1,100, each with its
// manifest: 2,200 objects) seeded into the local S3 server, then one prune with KEEP_DAILY=7,
// KEEP_WEEKLY=4, KEEP_MONTHLY=12, KEEP_YEARLY=3 exactly as the `prune` command runs it (configured by
// loadConfig). Requests are counted by the S3 server (its control endpoint).
// Input: one JSON argument (PruneInput). Prints one JSON line (PruneOutput).
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../src/config/load-config.ts';
import { PRUNE_BATCH, runPrune } from '../src/retention/prune.ts';
import { createStore } from '../src/storage/create-store.ts';

import type { SeedPlan } from './seed-plan.ts';
import { benchS3Env } from './s3-env.ts';

interface PruneInput {
  endpoint: string;
  bucket: string;
  control: string;
  subfolder: string;
  backups: number;
}

export interface PruneOutput {
  seeded: { objects: number; seconds: number };
  seconds: number;
  // The floor: the same requests sent with the bare S3 client (the listing, then DeleteObjects of as many
  // keys in batches of the same size), over the same history seeded again; what the S3 server itself takes.
  floor: { seconds: number; requests: number };
  cpuSeconds: number;
  requests: number;
  listed: number;
  deletedBackups: number;
  deletedManifests: number;
  kept: number;
  refusal: string | null;
  peakRssBytes: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as PruneInput;
const config = loadConfig({
  ...benchS3Env(input),
  BACKUP_FILE_PREFIX: 'bench_',
  KEEP_DAILY: '7',
  KEEP_WEEKLY: '4',
  KEEP_MONTHLY: '12',
  KEEP_YEARLY: '3',
});

async function control(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${input.control}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`s3 child control ${path}: HTTP ${response.status} ${await response.text()}`);
  return await response.json();
}
const requestCount = async (): Promise<number> => ((await control('/requests')) as { count: number }).count;

// One backup a day, the newest half an hour old: the prune is not refused.
const history: SeedPlan = {
  location: config.location,
  count: input.backups,
  newest: new Date(Date.now() - 30 * 60_000).toISOString(),
  intervalMinutes: 24 * 60,
  baseSize: 2048,
  withManifests: true,
};
const seeded = (await control('/seed', history)) as { seeded: number; seconds: number };

// The same requests (a listing, a DeleteObjects) sent once, untimed, with the bare client over a small
// history of its own: the S3 server's handlers and the SDK's shared code are then warm for the prune and
// the floor alike. Without it the prune, measured first, paid the first-request cost of both processes
// (0.5-1.5 s here), and the floor, measured second, found everything warm.
const client = new S3Client({ endpoint: input.endpoint, region: 'auto', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: input.bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return keys;
}
async function deleteKeys(keys: readonly string[]): Promise<void> {
  for (let start = 0; start < keys.length; start += PRUNE_BATCH) {
    await client.send(new DeleteObjectsCommand({ Bucket: input.bucket, Delete: { Objects: keys.slice(start, start + PRUNE_BATCH).map((Key) => ({ Key })), Quiet: true } }));
  }
}
await control('/seed', { ...history, count: 50, location: { ...config.location, subfolder: `${input.subfolder}-warm-up` } });
await deleteKeys(await listKeys(`${input.subfolder}-warm-up/`));

const { retention, monitor } = config;
const before = await requestCount();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const result = await runPrune({
  store: createStore(config),
  location: config.location,
  policy: { days: retention.days, tiers: retention.tiers, minKept: retention.minKept, maxAgeHours: monitor.maxAgeHours, emptyMaxBytes: monitor.emptyMaxBytes },
  now: new Date(),
  monitorPolicy: monitor,
});
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const requests = (await requestCount()) - before;
const deletedKeys = result.deletedBackups + result.deletedManifests;

// The floor, on a copy of the history in a folder of its own.
await control('/seed', { ...history, location: { ...config.location, subfolder: `${input.subfolder}-floor` } });
const floorBefore = await requestCount();
const f0 = performance.now();
await deleteKeys((await listKeys(`${input.subfolder}-floor/`)).slice(0, deletedKeys));
const floor = { seconds: (performance.now() - f0) / 1000, requests: (await requestCount()) - floorBefore };
client.destroy();

const output: PruneOutput = {
  seeded: { objects: seeded.seeded, seconds: seeded.seconds },
  seconds,
  floor,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  requests,
  listed: result.remaining.length + result.deleted.length,
  deletedBackups: result.deletedBackups,
  deletedManifests: result.deletedManifests,
  kept: result.plan.backupCount - result.deletedBackups,
  refusal: result.plan.refusal ?? null,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
