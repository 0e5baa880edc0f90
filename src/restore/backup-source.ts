import { Readable, Writable, type Duplex, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { childEnv } from '../backup/child-env.ts';
import { parseManifest, type BackupManifest } from '../backup/manifest.ts';
import { isOurBackupKey, manifestKey, parseBackupKey, parsePieceKey, pieceKey } from '../core/naming.ts';
import { ARCHIVE_SNIFF_BYTES, isAgeEncrypted, sniffArchive, sniffCompression, type BackupFormat } from '../core/backup-format.ts';
import { RestoreError, StorageError } from '../errors.ts';
import type { BackupStore } from '../storage/store.ts';
import { ChildFilter } from './child-filter.ts';
import { createDecompressStream } from './decompress.ts';
import { createIntegrityCheck, IntegrityError, type IntegrityCheck } from './integrity.ts';
import type { PgTools } from './pg-tools.ts';
import { printableKey } from '../util/printable-key.ts';

// Makes the age decryption stage (src/crypto createDecryptStream, bound to the configured key).
export type DecryptFactory = () => Transform;

// What we know about one stored backup before reading it.
export interface BackupInfo {
  key: string;
  // From the manifest, else our naming, else the object's first bytes.
  parts: BackupFormat;
  // undefined when the object has no manifest (then there is no sha256 to check against).
  manifest: BackupManifest | undefined;
  // Stored bytes (manifest, else the object's size).
  size: number | undefined;
  // A backup stored as several objects: every object's key in order, the first being `key`. Absent
  // for a backup in one object. Read them with openBackup.
  pieces?: readonly string[];
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

async function readManifest(store: BackupStore, key: string, signal: AbortSignal | undefined): Promise<BackupManifest | undefined> {
  let body: Readable;
  try {
    body = await store.get(manifestKey(key), signal);
  } catch (error) {
    if (error instanceof StorageError && error.code === 'NoSuchKey') return undefined;
    throw error;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_MANIFEST_BYTES) {
      body.destroy();
      break;
    }
    chunks.push(chunk);
  }
  const manifest = length > MAX_MANIFEST_BYTES ? undefined : parseManifest(Buffer.concat(chunks).toString('utf8'));
  // A manifest that is there but unreadable must not quietly turn the sha256 check off.
  if (!manifest || manifest.key !== key) {
    throw new RestoreError(`the manifest of ${printableKey(key)} (${printableKey(manifestKey(key))}) is unreadable or belongs to another key, so the backup's sha256 cannot be trusted`, {
      hint: 'the manifest was damaged or replaced in storage: treat this backup as suspect and use another one',
    });
  }
  return manifest;
}

// How describeBackup reads an object's first bytes when neither a manifest nor our naming says what it
// holds: an encrypted object is decrypted to see inside, a compressed one decompressed.
export interface ProbeOptions {
  decrypt: DecryptFactory | undefined;
  zstdPath: string;
}

// Reads the manifest and the backup's format; RestoreError when the object is missing, or encrypted
// while no key is configured. Every storage call stops when signal aborts (StorageError Aborted).
export async function describeBackup(store: BackupStore, key: string, prefix: string, probe: ProbeOptions, signal?: AbortSignal): Promise<BackupInfo> {
  const head = await store.head(key, signal);
  if (!head) {
    throw new RestoreError(`no backup named ${printableKey(key)} in ${store.description}`, { hint: 'run `backup-sentinel list` to see the backups, or use --latest' });
  }
  const piece = parsePieceKey(key);
  if (piece !== undefined && (await store.head(piece.backupKey, signal)) !== undefined) {
    throw new RestoreError(`${printableKey(key)} is piece ${piece.index} of the backup ${printableKey(piece.backupKey)}, not a backup of its own`, {
      hint: `name the backup itself (--key ${printableKey(piece.backupKey)}): its pieces are read with it, in order`,
    });
  }
  const manifest = await readManifest(store, key, signal);
  const fromName = parseBackupKey(key, prefix).parts ?? parseBackupKey(key, '').parts;
  const parts: BackupFormat = manifest
    ? { format: manifest.format, compression: manifest.compression, encrypted: manifest.encryption === 'age' }
    : (fromName ?? (await probeFormat(store, key, probe, signal)));
  const pieces = await findPieces(store, key, head.size, manifest, signal);
  const size = manifest?.size ?? (pieces === undefined ? head.size : pieces.reduce((sum, p) => sum + p.size, 0));
  return { key, parts, manifest, size, ...(pieces === undefined ? {} : { pieces: pieces.map((p) => p.key) }) };
}

// The objects of a backup stored in several (the manifest lists them; without one, the listing
// does), each checked to be there, so a restore stops before it touches the target. Undefined for a
// backup in one object.
async function findPieces(
  store: BackupStore,
  key: string,
  size: number,
  manifest: BackupManifest | undefined,
  signal: AbortSignal | undefined,
): Promise<{ key: string; size: number }[] | undefined> {
  const stop = signal === undefined ? {} : { signal };
  if (manifest?.pieces !== undefined && manifest.pieces.length > 1) {
    const listed = new Map((await store.list(key, stop)).map((o) => [o.key, o.size]));
    for (const [i, piece] of manifest.pieces.entries()) {
      if (piece.key !== pieceKey(key, i + 1)) {
        throw new RestoreError(`the manifest of ${printableKey(key)} lists ${printableKey(piece.key)} as piece ${i + 1}, which is not that piece's name`, {
          hint: 'the manifest was damaged or replaced in storage: treat this backup as suspect and use another one',
        });
      }
      if (!listed.has(piece.key)) throw missingPiece(key, piece.key, i + 1, manifest.pieces.length);
    }
    return manifest.pieces;
  }
  // Only a key in our naming can have pieces (another tool's backup is one object): no listing for it.
  if (manifest !== undefined || !isOurBackupKey(key)) return undefined;
  // No manifest: the pieces are what the listing holds, and they must follow on without a gap.
  const found = (await store.list(`${key}.`, stop))
    .map((o) => ({ object: o, piece: parsePieceKey(o.key) }))
    .filter((p) => p.piece?.backupKey === key)
    .sort((a, b) => (a.piece?.index ?? 0) - (b.piece?.index ?? 0));
  if (found.length === 0) return undefined;
  const pieces = [{ key, size }];
  for (const { object, piece } of found) {
    const expected = pieces.length + 1;
    if (piece?.index !== expected) throw missingPiece(key, pieceKey(key, expected), expected, undefined);
    pieces.push({ key: object.key, size: object.size });
  }
  return pieces;
}

function missingPiece(key: string, missing: string, index: number, of: number | undefined): RestoreError {
  return new RestoreError(`${printableKey(key)} is stored in ${of === undefined ? 'several' : of} objects and piece ${index}, ${printableKey(missing)}, is missing from storage`, {
    hint: 'the backup cannot be read without every piece: use another backup, and look for what deleted the object (a lifecycle rule, a manual delete)',
  });
}

// The stored bytes of a backup: its one object, or its pieces one after the other (each opened only
// when the one before it ended, so one download at a time). A piece gone since describeBackup fails
// the stream with the store's NoSuchKey error, which names it. Aborting signal ends the download.
export async function openBackup(store: BackupStore, info: BackupInfo, signal?: AbortSignal): Promise<Readable> {
  const pieces = info.pieces;
  if (pieces === undefined || pieces.length <= 1) return store.get(info.key, signal);
  const first = await store.get(info.key, signal);
  const out = Readable.from(
    (async function* () {
      let current: Readable | undefined = first;
      try {
        for (const [i, key] of pieces.entries()) {
          current = i === 0 ? first : await store.get(key, signal);
          for await (const chunk of current as AsyncIterable<Buffer>) yield chunk;
        }
      } finally {
        current?.destroy();
      }
    })(),
    { objectMode: false },
  );
  // Destroyed before its first read, the generator never runs, and neither does its finally.
  out.once('close', () => first.destroy());
  return out;
}

// Stored bytes read to tell the format: enough for age's first 64 KiB chunk and a compressor's first
// block to yield the few hundred bytes that name the archive format.
const PROBE_BYTES = 256 * 1024;

// Tells what an object holds from its first bytes: age header, then (decrypted) gzip or zstd magic,
// then (decompressed) pg_dump custom "PGDMP", tar "ustar", else plain SQL.
export async function probeFormat(store: BackupStore, key: string, probe: ProbeOptions, signal?: AbortSignal): Promise<BackupFormat> {
  const stored = await readHead(store, key, PROBE_BYTES, signal);
  const encrypted = isAgeEncrypted(stored);
  if (encrypted && !probe.decrypt) throw noKeyError(key);
  const decrypted = encrypted && probe.decrypt ? await decodeHead(stored, [probe.decrypt()], PROBE_BYTES) : stored;
  const compression = sniffCompression(decrypted);
  const script = compression === 'none' ? decrypted : await decodeHead(decrypted, [createDecompressStream(compression, probe.zstdPath)], ARCHIVE_SNIFF_BYTES);
  return { format: sniffArchive(script), compression, encrypted };
}

async function readHead(store: BackupStore, key: string, bytes: number, signal: AbortSignal | undefined): Promise<Buffer> {
  const body = await store.get(key, signal);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes) break;
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}

// Runs the first bytes of a stream through decoding stages and keeps up to `bytes` of what comes out.
// The input is cut short on purpose, so a stage failing at its end is expected once it gave output;
// failing before any output (a wrong key, a damaged header) is a real error.
async function decodeHead(head: Buffer, stages: Duplex[], bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  const enough = new Error('enough bytes to tell the format');
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      length += chunk.length;
      callback(length >= bytes ? enough : undefined);
    },
  });
  try {
    await pipeline([Readable.from([head]), ...stages, collect]);
  } catch (error) {
    if (error !== enough && length === 0) throw error;
  } finally {
    destroyStages(stages);
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}

function noKeyError(key: string): RestoreError {
  return new RestoreError(`${printableKey(key)} is encrypted (age) and no decryption key is configured`, {
    hint: 'set BACKUP_ENCRYPTION_IDENTITY (AGE-SECRET-KEY-1... or its file) or BACKUP_ENCRYPTION_PASSPHRASE',
  });
}

// Ends every stage (killing child processes such as zstd, pg_restore and psql) when a pipeline could
// not even start, e.g. because reading the object failed: pipeline() only cleans up what it ran.
// Destroyed without an error: nobody listens to these streams' 'error' events any more.
export function destroyStages(stages: readonly { destroy(): unknown }[]): void {
  for (const stage of stages) stage.destroy();
}

export interface DecodeStages {
  // stored bytes -> sha256 check -> [age decryption] -> decompression -> [pg_restore -f -]: the SQL script.
  stages: Duplex[];
  integrity: IntegrityCheck;
}

export interface DecodeOptions {
  tools: PgTools;
  decrypt: DecryptFactory | undefined;
  onBytes?: (bytes: number) => void;
  // For custom dumps: stop after decompression instead of converting to SQL (a parallel pg_restore
  // reads the archive file itself).
  archiveOnly?: boolean;
  // pg_restore --no-owner --no-privileges (custom dumps; plain ones are filtered by the scan stage).
  noOwner?: boolean;
}

// The streaming stages that turn a stored backup into its SQL script; pipe store.get(key) into them.
export function createDecodeStages(info: BackupInfo, options: DecodeOptions): DecodeStages {
  const integrity = createIntegrityCheck({
    key: info.key,
    sha256: info.manifest?.sha256,
    size: info.manifest?.size,
    ...(options.onBytes ? { onBytes: options.onBytes } : {}),
  });
  const stages: Duplex[] = [integrity.stream];
  if (info.parts.encrypted) {
    if (!options.decrypt) throw noKeyError(info.key);
    stages.push(options.decrypt());
  }
  stages.push(createDecompressStream(info.parts.compression, options.tools.zstd));
  if (info.parts.format !== 'plain' && !options.archiveOnly) {
    // pg_restore without a database writes the archive (custom or tar, both read from a pipe) as an
    // SQL script; it reads every data block.
    const args = options.noOwner ? ['--no-owner', '--no-privileges', '-f', '-'] : ['-f', '-'];
    stages.push(new ChildFilter('pg_restore', options.tools.pgRestore, args, childEnv()));
  }
  return { stages, integrity };
}

// Reads the object once more only to hash it: after a restore or verification failed somewhere else
// (e.g. the decompressor choked on a flipped byte before the end), tells whether the stored bytes
// themselves are damaged. Resolves to the IntegrityError, or undefined when they match the manifest.
// `signal`: the run's, so a stop ends this second read too.
export async function findIntegrityError(store: BackupStore, info: BackupInfo, signal?: AbortSignal): Promise<IntegrityError | undefined> {
  if (!info.manifest) return undefined;
  const check = createIntegrityCheck({ key: info.key, sha256: info.manifest.sha256, size: info.manifest.size });
  try {
    const body = await openBackup(store, info, signal);
    await pipeline(body, check.stream, new Writable({ write: (_c, _e, cb) => cb() }));
    return undefined;
  } catch (error) {
    return error instanceof IntegrityError ? error : undefined;
  }
}
