import { isAuxiliaryKey, parseBackupKey, parsePieceKey } from './naming.ts';
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
//
// A backup too large for one object is stored as pieces (naming.ts pieceKey): the first under the
// backup's key, the rest as `<key>.002`, ... The catalog shows it as one backup whose size is the sum;
// a piece whose first object is not there (an upload still running, or a failed clean-up) is no backup.

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
  // A backup stored as several objects: its pieces after the first (key `<key>.002`, ...), in order.
  // Absent for a backup in one object.
  pieces?: readonly StoredObject[];
}

// The backup `key` is a continuation piece of, when it is one of ours under the prefix.
export function pieceOf(key: string, prefix: string): { backupKey: string; index: number } | undefined {
  const piece = parsePieceKey(key);
  if (piece === undefined || !piece.backupKey.startsWith(prefix) || !parseBackupKey(piece.backupKey, prefix).ours) return undefined;
  return piece;
}

// Reads one listed object as a backup; undefined for objects that are never backups (manifests, the
// .backup-sentinel/ folder, folder markers) and for keys outside the prefix.
export function recognizeBackup(object: StoredObject, prefix: string): BackupObject | undefined {
  if (!object.key.startsWith(prefix) || isAuxiliaryKey(object.key) || pieceOf(object.key, prefix) !== undefined) return undefined;
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

// The backups among listed objects, oldest first, each split backup with its pieces.
export function backupsOf(objects: readonly StoredObject[], prefix: string): BackupObject[] {
  return groupObjects(objects, prefix).backups;
}

function groupObjects(objects: readonly StoredObject[], prefix: string): { backups: BackupObject[]; orphanPieces: StoredObject[] } {
  const backups = new Map<string, BackupObject>();
  const pieces = new Map<string, { object: StoredObject; index: number }[]>();
  for (const object of objects) {
    const piece = pieceOf(object.key, prefix);
    if (piece !== undefined) {
      const list = pieces.get(piece.backupKey) ?? [];
      list.push({ object, index: piece.index });
      pieces.set(piece.backupKey, list);
      continue;
    }
    const backup = recognizeBackup(object, prefix);
    if (backup !== undefined) backups.set(backup.key, backup);
  }
  const orphanPieces: StoredObject[] = [];
  for (const [backupKey, list] of pieces) {
    const backup = backups.get(backupKey);
    const ordered = list.sort((a, b) => a.index - b.index).map((p) => p.object);
    if (backup === undefined) {
      orphanPieces.push(...ordered);
      continue;
    }
    backups.set(backupKey, { ...backup, size: ordered.reduce((sum, p) => sum + p.size, backup.size), pieces: ordered });
  }
  return { backups: [...backups.values()].sort(compareBackups), orphanPieces };
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
  // Pieces of a split backup whose first object is not listed: an upload still running (its first
  // object is completed last), or pieces a failed run could not remove.
  orphanPieces: StoredObject[];
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
    return { objects, ...groupObjects(objects, this.prefix) };
  }

  // The newest backup, or undefined when the prefix holds none.
  async newest(options: Pick<ListOptions, 'signal'> = {}): Promise<BackupObject | undefined> {
    return (await this.list(options)).backups.at(-1);
  }
}
