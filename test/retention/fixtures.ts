import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { backupKey, manifestKey } from '../../src/backup/naming.ts';
import type { Location } from '../../src/config/types.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import type { BackupStore } from '../../src/storage/store.ts';

export const DAY = 24 * 3600 * 1000;
export const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;

// Sets an object's LastModified: s3rver's backdate, or the file's mtime in a directory store.
export type Backdate = (key: string, time: Date) => Promise<void>;

export function dirBackdate(root: string): Backdate {
  return async (key, time) => fs.utimes(path.join(root, key), time, time);
}

export interface Seeded {
  key: string;
  manifest: string;
  ageDays: number;
}

// Writes one backup (a few KiB, so never "empty") plus its manifest per age, both dated to the
// backup's name time, as backup-sentinel would have written them that day.
export async function seedBackups(store: BackupStore, backdate: Backdate, location: Location, ages: readonly number[], now: Date): Promise<Seeded[]> {
  const seeded: Seeded[] = [];
  for (const ageDays of ages) {
    const time = new Date(now.getTime() - ageDays * DAY);
    const key = backupKey(location, time, PARTS);
    await store.put(key, Readable.from([Buffer.alloc(4096, ageDays)]));
    await store.put(manifestKey(key), Readable.from([Buffer.from(JSON.stringify({ manifestVersion: 1, key }))]));
    await backdate(key, time);
    await backdate(manifestKey(key), time);
    seeded.push({ key, manifest: manifestKey(key), ageDays });
  }
  return seeded;
}

export async function seedObject(store: BackupStore, backdate: Backdate, key: string, time: Date, size = 4096): Promise<void> {
  await store.put(key, Readable.from([Buffer.alloc(size, 1)]));
  await backdate(key, time);
}

export async function listKeys(store: BackupStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key);
}

// A logger whose JSON lines land in `lines` (tests read what the service said).
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}

// A stream that keeps what a command printed.
export function captureStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

// The value of one sample in Prometheus text output, e.g. sample(text, 'x_total') or with labels '{state="ok"}'.
export function sample(metrics: string, name: string, labels = ''): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// Polls until check() is true (for timers under test), failing after timeoutMs.
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
