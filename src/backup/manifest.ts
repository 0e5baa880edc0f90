import { Readable } from 'node:stream';
import type { CompressionAlgorithm, DumpFormat } from '../config/types.ts';
import { manifestKey } from '../core/naming.ts';
import type { BackupStore } from '../storage/store.ts';
import type { PipelineOutput } from './pipeline.ts';

// What a backup is, written as JSON beside it at `<key>.manifest.json` once the upload completed:
// the sha256 and sizes are only known at the end of the stream, and S3 metadata is fixed when an upload
// starts. The same start-time facts are also on the object itself as S3 metadata.
export interface BackupManifest {
  manifestVersion: 1;
  key: string;
  // sha256 (hex) of the stored bytes: what a download must hash to.
  sha256: string;
  // Stored bytes (after compression and encryption).
  size: number;
  // pg_dump's output bytes before compression.
  uncompressedSize: number;
  format: DumpFormat;
  compression: CompressionAlgorithm;
  compressionLevel: number | undefined;
  encryption: 'none' | 'age';
  pgDumpVersion: string;
  serverVersion: string;
  database: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  parts: number;
  // Only on a backup stored as several objects: each one (the first is `key`), in order. Their
  // bytes, read one after the other, are the backup (sha256 and size above are of the whole).
  pieces?: { key: string; size: number }[];
  runId: string;
  // Only on a globals object (pg_dumpall --globals-only, BACKUP_GLOBALS): what it holds.
  globals?: GlobalsFacts;
}

// What a globals object holds besides its SQL: whether role passwords are in it (not when the server
// hides them from the backup user), and the databases of the server at that time with their owners,
// which a plain pg_dump does not carry and a whole-server restore needs for CREATE DATABASE.
export interface GlobalsFacts {
  rolePasswords: 'included' | 'omitted';
  databases: { name: string; owner: string; encoding: string }[];
}

// Object metadata keys (lower-case, sent as x-amz-meta-*): what is known when the upload starts.
export const META = {
  format: 'bs-format',
  compression: 'bs-compression',
  encryption: 'bs-encryption',
  pgDumpVersion: 'bs-pg-dump-version',
  serverVersion: 'bs-server-version',
  database: 'bs-database',
  runId: 'bs-run-id',
  startedAt: 'bs-started-at',
} as const;

export function parseManifest(text: string): BackupManifest | undefined {
  try {
    const value = JSON.parse(text) as Partial<BackupManifest>;
    if (value.manifestVersion !== 1 || typeof value.sha256 !== 'string' || typeof value.key !== 'string') return undefined;
    return value as BackupManifest;
  } catch {
    return undefined;
  }
}

// What a run knows about the object it writes when it starts: the object's metadata, and most of its manifest.
export interface RunFacts {
  key: string;
  format: DumpFormat;
  compression: CompressionAlgorithm;
  encrypted: boolean;
  pgDumpVersion: string;
  serverVersion: string;
  database: string;
  runId: string;
  startedAt: Date;
}

// S3 metadata values travel as HTTP headers: keep printable ASCII, percent-encode anything else.
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

export function objectMetadata(facts: RunFacts): Record<string, string> {
  return {
    [META.format]: facts.format,
    [META.compression]: facts.compression,
    [META.encryption]: facts.encrypted ? 'age' : 'none',
    [META.pgDumpVersion]: facts.pgDumpVersion,
    [META.serverVersion]: facts.serverVersion,
    [META.database]: headerSafe(facts.database),
    [META.runId]: facts.runId,
    [META.startedAt]: facts.startedAt.toISOString(),
  };
}

export function buildManifest(facts: RunFacts, output: PipelineOutput, finished: { finishedAt: Date; durationMs: number }, globals?: GlobalsFacts): BackupManifest {
  return {
    manifestVersion: 1,
    key: facts.key,
    sha256: output.sha256,
    size: output.size,
    uncompressedSize: output.uncompressedSize,
    format: facts.format,
    compression: facts.compression,
    compressionLevel: output.compressionLevel,
    encryption: facts.encrypted ? 'age' : 'none',
    pgDumpVersion: facts.pgDumpVersion,
    serverVersion: facts.serverVersion,
    database: facts.database,
    startedAt: facts.startedAt.toISOString(),
    finishedAt: finished.finishedAt.toISOString(),
    durationMs: finished.durationMs,
    parts: output.parts,
    ...(output.pieces === undefined ? {} : { pieces: output.pieces }),
    runId: facts.runId,
    ...(globals === undefined ? {} : { globals }),
  };
}

// Writes `<key>.manifest.json` beside the backup.
export async function putManifest(store: BackupStore, manifest: BackupManifest): Promise<void> {
  await store.put(manifestKey(manifest.key), Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), { contentType: 'application/json' });
}
