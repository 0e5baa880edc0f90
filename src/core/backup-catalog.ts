import { isAuxiliaryKey, parseBackupKey } from './naming.ts';
import type { BackupStore, ListOptions, StoredObject } from '../storage/store.ts';

// The one place that lists a backup prefix, tells which objects are backups, reads their time and
// orders them. The monitor, `list`, `check`, prune, the retention check, `verify`, drills and
// `restore --latest` all go through it, so they never disagree on what the backups are or which one
// is the newest.
//
// A backup is any object under the prefix that is not one of the service's own auxiliary files
// (manifests, the .backup-sentinel/ folder, folder markers): backup-sentinel's naming, the Railway
// template's `<prefix>-<ISO time>.tar.gz`, or a pg_dump archive uploaded by hand under any name. Its
// time is the one in its name when the name carries one, else its LastModified. What an object holds
// (format, compression, encryption) is read from its manifest, our name, or its first bytes: see
// backup-format.ts.

// A backup as found in storage, whoever wrote it (pure data).
export interface BackupObject {
  key: string;
  size: number;
  // When the backup was taken: the time in its name, else its LastModified.
  time: Date;
  timeSource: 'name' | 'lastModified';
  lastModified: Date;
  // Written by backup-sentinel (our naming); false for the Railway template's or other tools' objects.
  // Only these are ever pruned.
  ours: boolean;
}

// Reads one listed object as a backup; undefined for objects that are never backups (manifests, the
// .backup-sentinel/ folder, folder markers) and for keys outside the prefix.
export function recognizeBackup(object: StoredObject, prefix: string): BackupObject | undefined {
  if (!object.key.startsWith(prefix) || isAuxiliaryKey(object.key)) return undefined;
  const parsed = parseBackupKey(object.key, prefix);
  const base = { key: object.key, size: object.size, lastModified: object.lastModified, ours: parsed.ours };
  return parsed.time === undefined
    ? { ...base, time: object.lastModified, timeSource: 'lastModified' }
    : { ...base, time: parsed.time, timeSource: 'name' };
}

// The one definition of "newer": oldest first by backup time; equal times fall back to the key so the
// order is stable.
export function compareBackups(a: BackupObject, b: BackupObject): number {
  const byTime = a.time.getTime() - b.time.getTime();
  if (byTime !== 0) return byTime;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

// The backups among listed objects, oldest first.
export function backupsOf(objects: readonly StoredObject[], prefix: string): BackupObject[] {
  const backups: BackupObject[] = [];
  for (const object of objects) {
    const backup = recognizeBackup(object, prefix);
    if (backup !== undefined) backups.push(backup);
  }
  return backups.sort(compareBackups);
}

// The backup just before `key` in catalog order (the one a verification compares tables with).
export function previousBackup(backups: readonly BackupObject[], key: string): BackupObject | undefined {
  const sorted = [...backups].sort(compareBackups);
  const index = sorted.findIndex((b) => b.key === key);
  return index > 0 ? sorted[index - 1] : undefined;
}

export interface CatalogListing {
  // Every object the storage returned, in key order (backups, manifests, anything else).
  objects: StoredObject[];
  // The backups among them, oldest first.
  backups: BackupObject[];
}

// The backups under one prefix of one store.
export class BackupCatalog {
  readonly store: BackupStore;
  readonly prefix: string;

  constructor(store: BackupStore, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  // "s3://bucket (prefix "db/backup-")", for messages.
  get where(): string {
    return `${this.store.description}${this.prefix ? ` (prefix "${this.prefix}")` : ''}`;
  }

  // Lists the prefix (or only the keys after options.startAfter, for incremental listings). Throws the
  // store's StorageError.
  async list(options: ListOptions = {}): Promise<CatalogListing> {
    const objects = await this.store.list(this.prefix, options);
    return { objects, backups: backupsOf(objects, this.prefix) };
  }

  // The newest backup, or undefined when the prefix holds none.
  async newest(): Promise<BackupObject | undefined> {
    return (await this.list()).backups.at(-1);
  }
}
