import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { backupKey, manifestKey } from '../../src/core/naming.ts';
import type { Location } from '../../src/config/types.ts';
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

// Where seeded objects go: a store, or anything that writes an object the way one would (e.g. straight
// into the test S3 server's files, which skips the requests).
export interface SeedTarget {
  put(key: string, body: Readable): Promise<unknown>;
}

// Writes one backup (a few KiB, so never "empty") plus its manifest per age, both dated to the
// backup's name time, as backup-sentinel would have written them that day.
export async function seedBackups(store: SeedTarget, backdate: Backdate, location: Location, ages: readonly number[], now: Date): Promise<Seeded[]> {
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

export async function seedObject(store: SeedTarget, backdate: Backdate, key: string, time: Date, size = 4096): Promise<void> {
  await store.put(key, Readable.from([Buffer.alloc(size, 1)]));
  await backdate(key, time);
}

export async function listKeys(store: BackupStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key);
}

