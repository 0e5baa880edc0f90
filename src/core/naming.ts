import type { CompressionAlgorithm, DumpFormat, Location } from '../config/types.ts';

// Object keys: `[subfolder/]<prefix>YYYY-MM-DD_HH-MM-SS.<ext>` in UTC, so keys sort chronologically.

export interface KeyParts {
  format: DumpFormat;
  compression: CompressionAlgorithm;
  encrypted: boolean;
}

const COMPRESSION_EXT: Record<CompressionAlgorithm, string> = { gzip: '.gz', zstd: '.zst', none: '' };

function backupExtension(parts: KeyParts): string {
  const base = parts.format === 'plain' ? '.sql' : '.dump';
  return `${base}${COMPRESSION_EXT[parts.compression]}${parts.encrypted ? '.age' : ''}`;
}

// The folder + prefix every key of ours starts with (what to list).
export function keyPrefix(location: Location): string {
  return location.subfolder ? `${location.subfolder}/${location.prefix}` : location.prefix;
}

// Where one database's backups live when BACKUP_DATABASES is used: its own folder under BUCKET_SUBFOLDER.
export function databaseLocation(base: Location, database: string): Location {
  const folder = encodeDatabaseFolder(database);
  return { subfolder: base.subfolder ? `${base.subfolder}/${folder}` : folder, prefix: base.prefix };
}

// Whether `key` is one of our backups in some set's folder: `[subfolder/]<encoded name>/<prefix><time>.<ext>`.
export function isSetBackupKey(base: Location, key: string): boolean {
  const under = base.subfolder ? `${base.subfolder}/` : '';
  if (!key.startsWith(under)) return false;
  const rest = key.slice(under.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || !/^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})*$/.test(rest.slice(0, slash))) return false;
  const name = rest.slice(slash + 1);
  const backup = parsePieceKey(name)?.backupKey ?? name;
  return parseBackupKey(backup, base.prefix).ours && name.startsWith(base.prefix);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

export function formatTimestamp(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}_` +
    `${pad(date.getUTCHours())}-${pad(date.getUTCMinutes())}-${pad(date.getUTCSeconds())}`
  );
}

export function backupKey(location: Location, startedAt: Date, parts: KeyParts): string {
  return `${keyPrefix(location)}${formatTimestamp(startedAt)}${backupExtension(parts)}`;
}

// Objects the service writes beside backups (manifests, alert state) that are never backups themselves.
export const MANIFEST_SUFFIX = '.manifest.json';
export const RESERVED_FOLDER = '.backup-sentinel/';

export function manifestKey(backupKey: string): string {
  return `${backupKey}${MANIFEST_SUFFIX}`;
}

// The reserved folder is matched as a whole path segment: a database folder such as `x.backup-sentinel/`
// (a legal name) holds backups like any other.
export function isAuxiliaryKey(key: string): boolean {
  return key.endsWith(MANIFEST_SUFFIX) || key.startsWith(RESERVED_FOLDER) || key.includes(`/${RESERVED_FOLDER}`) || key.endsWith('/');
}

// A backup too large for one object (10,000 parts) continues in pieces `<key>.002`, `<key>.003`, ...:
// the first piece keeps the backup's own key, so a backup that fits in one object is named exactly as
// before. Only a key whose base is in our naming is a piece, so another tool's `x.002` stays a backup.
const PIECE = /^(.+)\.(\d{3,})$/;

// The key of a backup's piece `index` (1 is the backup's own key).
export function pieceKey(backupKey: string, index: number): string {
  return index === 1 ? backupKey : `${backupKey}.${String(index).padStart(3, '0')}`;
}

// Whether a key follows our naming (only such a backup can be split into pieces).
export function isOurBackupKey(key: string): boolean {
  return OURS.test(key);
}

// The backup a continuation piece belongs to and its index (2 and up); undefined for any other key.
export function parsePieceKey(key: string): { backupKey: string; index: number } | undefined {
  const match = PIECE.exec(key);
  if (!match) return undefined;
  const [, backupKey = '', digits = ''] = match;
  const index = Number(digits);
  if (index < 2 || !Number.isSafeInteger(index) || !isOurBackupKey(backupKey)) return undefined;
  return { backupKey, index };
}

export interface ParsedKey {
  // Time from the name, when the name carries one (ours or the Railway template's ISO timestamp).
  time: Date | undefined;
  // Our own naming (we may prune it); false for other tools' objects under the prefix.
  ours: boolean;
  parts: KeyParts | undefined;
}

const OURS = /(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})\.(sql|dump)(\.gz|\.zst)?(\.age)?$/;
// Railway postgres-s3-backups: `${prefix}-${new Date().toISOString().replace(/[:.]+/g, '-')}.tar.gz`,
// and plain ISO timestamps written by other tools.
const ISO = /(\d{4})-(\d{2})-(\d{2})T(\d{2})[-:](\d{2})[-:](\d{2})(?:[-.:](\d{1,3}))?Z?/;

// Reads what a key says about a backup; a key under the prefix that says nothing is still a backup
// whose time is its LastModified.
export function parseBackupKey(key: string, prefix: string): ParsedKey {
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const ours = OURS.exec(rest);
  if (ours && rest.length === ours[0].length) {
    const [, y, mo, d, h, mi, s, base, comp, age] = ours;
    return {
      time: new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))),
      ours: true,
      parts: {
        format: base === 'sql' ? 'plain' : 'custom',
        compression: comp === '.gz' ? 'gzip' : comp === '.zst' ? 'zstd' : 'none',
        encrypted: age !== undefined,
      },
    };
  }
  const iso = ISO.exec(rest);
  if (iso) {
    // Fractional seconds: ".5" is 500 ms, not 5.
    const [, y, mo, d, h, mi, s, ms] = iso;
    const time = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((ms ?? '0').padEnd(3, '0'))));
    return { time: Number.isNaN(time.getTime()) ? undefined : time, ours: false, parts: undefined };
  }
  return { time: undefined, ours: false, parts: undefined };
}

// A database's folder name under BUCKET_SUBFOLDER when several databases are backed up: every UTF-8
// byte outside [A-Za-z0-9_.-] as %XX (uppercase hex), and a leading "." too, so no name can reach
// the reserved folder, escape its folder with "/", or collide with the "@globals" folder ("@" is
// always encoded). The folder is followed by "/", so "app" never is a prefix of "app_v2".
export function encodeDatabaseFolder(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const ch = String.fromCharCode(byte);
    const plain = /[A-Za-z0-9_.-]/.test(ch) && !(out === '' && ch === '.');
    out += plain ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
