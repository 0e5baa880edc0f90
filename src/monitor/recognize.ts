import { isAuxiliaryKey, parseBackupKey } from '../backup/naming.ts';
import type { StoredObject } from '../storage/store.ts';

// A backup as the monitor sees it in storage, whoever wrote it (pure: no I/O).
export interface BackupObject {
  key: string;
  size: number;
  // When the backup was taken: the time in its name, else its LastModified.
  time: Date;
  timeSource: 'name' | 'lastModified';
  lastModified: Date;
  // Written by backup-sentinel (our naming); false for the Railway template's or other tools' objects.
  ours: boolean;
}

// Reads one listed object under the prefix as a backup; undefined for objects that are never backups
// (manifests, the .backup-sentinel/ folder, folder markers).
export function recognizeBackup(object: StoredObject, prefix: string): BackupObject | undefined {
  if (isAuxiliaryKey(object.key)) return undefined;
  const parsed = parseBackupKey(object.key, prefix);
  const base = { key: object.key, size: object.size, lastModified: object.lastModified, ours: parsed.ours };
  return parsed.time === undefined
    ? { ...base, time: object.lastModified, timeSource: 'lastModified' }
    : { ...base, time: parsed.time, timeSource: 'name' };
}

// Oldest first; equal times fall back to the key so the order is stable.
export function compareBackups(a: BackupObject, b: BackupObject): number {
  const byTime = a.time.getTime() - b.time.getTime();
  if (byTime !== 0) return byTime;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
