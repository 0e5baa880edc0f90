import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs, { constants, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { printableKey } from '../util/printable-key.ts';
import type {
  BackupStore,
  ConditionalStore,
  ListOptions,
  PutOptions,
  PutResult,
  StoredObject,
  StoredObjectWithMetadata,
  VersionedObject,
  WriteCondition,
} from './store.ts';

// Names the directory store keeps beside objects; keys that would collide with them are refused, and
// list never returns them.
const TEMP_PREFIX = '.~put-';
const META_SUFFIX = '.~meta.json';
// A conditional write holds `<TEMP_PREFIX>lock-<name>` (created with O_EXCL) around read-compare-write.
// A lock older than this was left by a process that died holding it, and is broken.
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

interface Sidecar {
  metadata: Record<string, string>;
  contentType?: string;
}

// Backup storage in a local directory (the embedded default): keys are relative paths below `root`.
// An object appears under its name only by an atomic rename once the whole stream is on disk.
export class DirStore implements BackupStore, ConditionalStore {
  readonly description: string;
  private readonly root: string;
  private readonly logger: Logger | undefined;
  // Links list has warned about, so an hourly check does not repeat the warning.
  private readonly warnedLinks = new Set<string>();

  constructor(root: string, options: { logger?: Logger } = {}) {
    this.root = path.resolve(root);
    this.description = `dir:${this.root}`;
    this.logger = options.logger;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    let file: string;
    try {
      file = await this.insideFile(key, 'write');
    } catch (error) {
      body.destroy();
      throw error;
    }
    const folder = path.dirname(file);
    const temp = path.join(folder, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${path.basename(file)}`);
    const metaTemp = `${temp}${META_SUFFIX}`;
    const { signal, onProgress } = options;
    let size = 0;
    // Boxed: what the body's source threw may be any value, even undefined.
    let bodyError: { thrown: unknown } | undefined;
    const counted = async function* (source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of source) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += buffer.length;
          onProgress?.(size);
          yield buffer;
        }
      } catch (error) {
        bodyError ??= { thrown: error };
        throw error;
      }
    };
    try {
      signal?.throwIfAborted();
      await fs.mkdir(folder, { recursive: true });
      // A write error is mapped, and the body destroyed with it, before the loop reading the body ends:
      // leaving the loop destroys an unfinished body with a bare AbortError, and the backup pipeline
      // keeps the first error it sees, so "no space left on device" and its hint would be lost.
      const writeFailed = (error: unknown): unknown => {
        if (bodyError !== undefined || signal?.aborted) return error;
        const mapped = this.wrap(error, `write ${printableKey(key)}`);
        // Only where something listens for it (the pipeline does): an unheard 'error' would crash.
        body.destroy(body.listenerCount('error') > 0 ? mapped : undefined);
        return mapped;
      };
      await pipeline(body, counted, (source: AsyncIterable<Buffer>) => writeFileFrom(temp, source, writeFailed), signal ? { signal } : {});
      const sidecar: Sidecar = { metadata: lowerCaseKeys(options.metadata ?? {}) };
      if (options.contentType !== undefined) sidecar.contentType = options.contentType;
      await fs.writeFile(metaTemp, JSON.stringify(sidecar));
      signal?.throwIfAborted();
      await fs.rename(metaTemp, `${file}${META_SUFFIX}`);
      await fs.rename(temp, file);
      return { key, size, parts: 1 };
    } catch (error) {
      body.destroy();
      await Promise.all([removeQuietly(temp), removeQuietly(metaTemp)]);
      await this.removeEmptyFolders(folder);
      if (bodyError !== undefined && !signal?.aborted) throw bodyError.thrown;
      if (signal?.aborted) {
        throw new StorageError('Aborted', `Writing ${printableKey(key)} to ${this.description} was aborted; nothing was stored`, {
          cause: signal.reason,
        });
      }
      throw this.wrap(error, `write ${printableKey(key)}`);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<StoredObject[]> {
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash === -1 ? '' : prefix.slice(0, slash + 1);
    if (baseKey) assertSafeKey(baseKey.slice(0, -1), this.description);
    const action = `list ${prefix || '(all)'}`;
    const keys: string[] = [];
    try {
      throwIfAborted(options.signal, action, this.description);
      const realRoot = await this.realRoot();
      if (baseKey && realRoot !== undefined) await this.assertNoLinkOut(realRoot, baseKey.slice(0, -1).split('/'), action);
      await this.collectKeys(path.join(this.root, baseKey), baseKey, prefix, keys, realRoot);
    } catch (error) {
      throw this.wrap(error, action);
    }
    const after = options.startAfter;
    const selected = keys.filter((key) => after === undefined || compareKeys(key, after) > 0).sort(compareKeys);
    const objects: StoredObject[] = [];
    for (const key of selected) {
      const stat = await fs.stat(path.join(this.root, key)).catch(() => undefined);
      // Deleted between readdir and stat: not there any more.
      if (stat) objects.push({ key, size: stat.size, lastModified: stat.mtime });
    }
    return objects;
  }

  async head(key: string, signal?: AbortSignal): Promise<StoredObjectWithMetadata | undefined> {
    const file = await this.insideFile(key, 'read');
    try {
      throwIfAborted(signal, `read ${printableKey(key)}`, this.description);
      const stat = await fs.stat(file);
      if (!stat.isFile()) return undefined;
      const sidecar = await readSidecar(`${file}${META_SUFFIX}`);
      return { key, size: stat.size, lastModified: stat.mtime, metadata: sidecar.metadata };
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return undefined;
      throw this.wrap(error, `read ${printableKey(key)}`);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    const file = await this.insideFile(key, 'read');
    try {
      throwIfAborted(signal, `read ${printableKey(key)}`, this.description);
      const handle = await fs.open(file, 'r');
      return handle.createReadStream(signal ? { signal } : {});
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR') || isCode(error, 'EISDIR')) {
        throw new StorageError('NoSuchKey', `No object ${printableKey(key)} in ${this.description}`, {
          cause: error,
          hint: 'list the backups (backup-sentinel list) and use one of the keys shown',
        });
      }
      throw this.wrap(error, `read ${printableKey(key)}`);
    }
  }

  async delete(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    // Every key is checked before anything is deleted.
    for (const key of keys) assertSafeKey(key, this.description);
    for (const key of keys) {
      throwIfAborted(signal, `delete ${printableKey(key)}`, this.description);
      const file = await this.insideFile(key, 'delete');
      try {
        await fs.rm(file, { force: true });
        await fs.rm(`${file}${META_SUFFIX}`, { force: true });
      } catch (error) {
        throw this.wrap(error, `delete ${printableKey(key)}`);
      }
      await this.removeEmptyFolders(path.dirname(file));
    }
  }

  async readVersioned(key: string, signal?: AbortSignal): Promise<VersionedObject | undefined> {
    const file = this.fileOf(key);
    try {
      const body = await fs.readFile(file, signal ? { signal } : {});
      return { body, etag: etagOf(body) };
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR') || isCode(error, 'EISDIR')) return undefined;
      throw this.wrap(error, `read ${key}`);
    }
  }

  // A directory has no conditional writes: an O_EXCL lock file makes read-compare-write atomic
  // between processes sharing the directory (the same host, or a network file system honouring O_EXCL).
  async putConditional(key: string, body: Buffer, condition: WriteCondition, signal?: AbortSignal): Promise<{ etag: string } | undefined> {
    const file = this.fileOf(key);
    try {
      signal?.throwIfAborted();
      return await this.withLock(file, async () => {
        const current = await fs.readFile(file).catch((error: unknown) => {
          if (isCode(error, 'ENOENT')) return undefined;
          throw error;
        });
        const holds = 'ifMatch' in condition ? current !== undefined && etagOf(current) === condition.ifMatch : current === undefined;
        if (!holds) return undefined;
        const temp = path.join(path.dirname(file), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${path.basename(file)}`);
        try {
          await fs.writeFile(temp, body, { flag: 'wx' });
          await fs.rename(temp, file);
        } finally {
          await removeQuietly(temp);
        }
        return { etag: etagOf(body) };
      });
    } catch (error) {
      throw this.wrap(error, `write ${key}`);
    }
  }

  async deleteConditional(key: string, etag: string, signal?: AbortSignal): Promise<boolean> {
    const file = this.fileOf(key);
    try {
      signal?.throwIfAborted();
      return await this.withLock(file, async () => {
        const current = await fs.readFile(file).catch(() => undefined);
        if (current === undefined || etagOf(current) !== etag) return false;
        await fs.rm(file, { force: true });
        return true;
      });
    } catch (error) {
      throw this.wrap(error, `delete ${key}`);
    }
  }

  private async withLock<T>(file: string, task: () => Promise<T>): Promise<T> {
    const lock = path.join(path.dirname(file), `${TEMP_PREFIX}lock-${path.basename(file)}`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await (await fs.open(lock, 'wx')).close();
        break;
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
        const stat = await fs.stat(lock).catch(() => undefined);
        if (stat !== undefined && Date.now() - stat.mtimeMs > STALE_LOCK_MS) await removeQuietly(lock);
        else if (Date.now() > deadline) throw new Error(`${lock} stayed locked for ${LOCK_WAIT_MS} ms`, { cause: error });
        else await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
      }
    }
    try {
      return await task();
    } finally {
      await removeQuietly(lock);
    }
  }

  private fileOf(key: string): string {
    assertSafeKey(key, this.description);
    return path.join(this.root, ...key.split('/'));
  }

  // The file of a key, refusing a path through a symbolic link that leads outside BACKUP_DIR: a link
  // placed in the directory must not make put, get or delete touch files elsewhere on the machine.
  private async insideFile(key: string, action: string): Promise<string> {
    const file = this.fileOf(key);
    const realRoot = await this.realRoot();
    if (realRoot !== undefined) await this.assertNoLinkOut(realRoot, key.split('/'), `${action} ${printableKey(key)}`);
    return file;
  }

  // undefined while the directory does not exist (nothing below it, so no link either). BACKUP_DIR
  // itself may be a link: what counts as inside is where it leads.
  private async realRoot(): Promise<string | undefined> {
    try {
      return await fs.realpath(this.root);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw this.wrap(error, 'open');
    }
  }

  private async assertNoLinkOut(realRoot: string, segments: readonly string[], action: string): Promise<void> {
    let current = this.root;
    for (const [i, segment] of segments.entries()) {
      current = path.join(current, segment);
      const stat = await fs.lstat(current).catch(() => undefined);
      // The rest does not exist yet; put creates real folders.
      if (stat === undefined) return;
      if (!stat.isSymbolicLink()) continue;
      const target = await linkTarget(current);
      if (!isInside(realRoot, target)) {
        const link = segments.slice(0, i + 1).join('/');
        throw new StorageError('Unknown', `Refusing to ${action} in ${this.description}: ${printableKey(link)} is a symbolic link to ${printableKey(target)}, outside BACKUP_DIR`, {
          hint: LINK_HINT,
        });
      }
    }
  }

  private warnLink(key: string, target: string, why: string): void {
    if (this.warnedLinks.has(key)) return;
    this.warnedLinks.add(key);
    this.logger?.warn(
      { component: 'dir-store', key: printableKey(key), target: printableKey(target), dir: this.root, hint: LINK_HINT },
      `not listed: ${printableKey(key)} in ${this.description} is a symbolic link ${why}`,
    );
  }

  private async collectKeys(folder: string, baseKey: string, prefix: string, out: string[], realRoot: string | undefined): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(folder, { withFileTypes: true });
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries) {
      if (isReservedName(entry.name)) continue;
      const key = `${baseKey}${entry.name}`;
      if (entry.isDirectory()) {
        const folderKey = `${key}/`;
        // Descend only where keys under the prefix can be.
        if (folderKey.startsWith(prefix) || prefix.startsWith(folderKey)) {
          await this.collectKeys(path.join(folder, entry.name), folderKey, prefix, out, realRoot);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        out.push(key);
      } else if (entry.isSymbolicLink() && realRoot !== undefined && (key.startsWith(prefix) || prefix.startsWith(`${key}/`))) {
        // A link to a file inside the directory is listed like the file; one leading outside is
        // skipped with a warning (restore and delete would refuse it), and so is a linked folder
        // (following it could loop).
        const link = path.join(folder, entry.name);
        const target = await linkTarget(link);
        const stat = await fs.stat(link).catch(() => undefined);
        if (!isInside(realRoot, target)) this.warnLink(key, target, 'leading outside BACKUP_DIR');
        else if (stat?.isFile() === true && key.startsWith(prefix)) out.push(key);
        else if (stat?.isDirectory() === true) this.warnLink(key, target, 'to a folder (linked folders are not followed)');
      }
    }
  }

  // S3 has no folders: once a folder's last object is gone, the folder goes too (never the root).
  private async removeEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current.startsWith(`${this.root}${path.sep}`)) {
      try {
        await fs.rmdir(current);
      } catch {
        return;
      }
      current = path.dirname(current);
    }
  }

  private wrap(error: unknown, action: string): StorageError {
    return toDirStoreError(error, { action, where: this.description, root: this.root });
  }
}

// A local file system answers at once; a stopping run just goes no further (checked between steps).
function throwIfAborted(signal: AbortSignal | undefined, action: string, where: string): void {
  if (signal?.aborted !== true) return;
  throw new StorageError('Aborted', `Could not ${action} in ${where}: the run was cancelled`, {
    cause: signal.reason,
    hint: 'the service is stopping (or the run was cancelled); the next run picks up where this one stopped',
  });
}

// Maps a file system error of `action` (e.g. "write nightly/x.sql.gz") to a StorageError that says
// what to do; a StorageError passes unchanged.
export function toDirStoreError(error: unknown, context: { action: string; where: string; root: string }): StorageError {
  const { action, where, root } = context;
  if (error instanceof StorageError) return error;
  if (isCode(error, 'EACCES') || isCode(error, 'EPERM') || isCode(error, 'EROFS')) {
    return new StorageError('AccessDenied', `Permission denied to ${action} in ${where}`, {
      cause: error,
      hint: `make BACKUP_DIR (${root}) writable by the user backup-sentinel runs as`,
    });
  }
  if (isCode(error, 'ENOTDIR') || isCode(error, 'EEXIST')) {
    return new StorageError('Unknown', `Could not ${action} in ${where}: a file stands where a folder should be`, {
      cause: error,
      hint: `point BACKUP_DIR at a directory (${root} or one of its folders is a regular file)`,
    });
  }
  if (isCode(error, 'ENOSPC') || isCode(error, 'EDQUOT')) {
    const what = isCode(error, 'EDQUOT') ? 'disk quota exceeded' : 'no space left on device';
    return new StorageError('Unknown', `Could not ${action} in ${where}: ${what}`, {
      cause: error,
      hint:
        `free disk space on the volume holding BACKUP_DIR (${root}) or point BACKUP_DIR at a larger volume; ` +
        'keep fewer backups (a lower RETENTION_DAYS; retention must not be off, RETENTION_DAYS=0) and remove leftovers copied in by hand; ' +
        'nothing half-written was kept, the next run tries again',
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError('Unknown', `Could not ${action} in ${where}: ${reason}`, { cause: error });
}

const LINK_HINT =
  'backups must be real files and folders inside BACKUP_DIR (links that stay inside it are fine): replace the link by what it points to, or set BACKUP_DIR to the real location';

// Where a link leads: its real path, or for a dangling link the path it names.
async function linkTarget(link: string): Promise<string> {
  try {
    return await fs.realpath(link);
  } catch {
    return path.resolve(path.dirname(link), await fs.readlink(link));
  }
}

function isInside(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

function isReservedName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || name.endsWith(META_SUFFIX);
}

// Keys are '/'-separated relative paths that must stay inside the directory.
function assertSafeKey(key: string, where: string): void {
  const segments = key.split('/');
  const bad =
    key.length === 0 ||
    key.includes('\\') ||
    key.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..' || isReservedName(s));
  if (bad) {
    throw new StorageError('Unknown', `Invalid object key ${JSON.stringify(key)} for ${where}`, {
      hint:
        'keys are relative paths like "folder/name.sql.gz": no "..", ".", empty or leading/trailing "/" segments, ' +
        `no backslashes, and no names starting with "${TEMP_PREFIX}" or ending with "${META_SUFFIX}"; check BUCKET_SUBFOLDER and BACKUP_FILE_PREFIX`,
    });
  }
}

// S3 orders keys by their UTF-8 bytes; do the same so both stores list in one order.
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function lowerCaseKeys(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
}

async function readSidecar(file: string): Promise<Sidecar> {
  try {
    // O_NOFOLLOW: a linked sidecar is never read (it could lead anywhere).
    const parsed = JSON.parse(await fs.readFile(file, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW })) as Partial<Sidecar>;
    return { metadata: parsed.metadata ?? {} };
  } catch (error) {
    // An object copied in by hand has no sidecar: it simply has no metadata.
    if (isCode(error, 'ENOENT') || isCode(error, 'ELOOP') || error instanceof SyntaxError) return { metadata: {} };
    throw error;
  }
}

// The directory's stand-in for an ETag: a hash of the content (the lease's content changes at every write).
function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

// Writes a new file from the chunks and flushes it to disk before it is renamed into place (a backup
// must survive a power cut). A file system error (ENOSPC, EACCES...) goes through `failed`, which
// returns the error to throw, while the source is still being read.
async function writeFileFrom(file: string, source: AsyncIterable<Buffer>, failed: (error: unknown) => unknown): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'wx');
  } catch (error) {
    throw failed(error);
  }
  try {
    for await (const chunk of source) {
      try {
        let offset = 0;
        while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
      } catch (error) {
        throw failed(error);
      }
    }
    await handle.sync().catch((error: unknown) => {
      throw failed(error);
    });
  } finally {
    await handle.close();
  }
}

// Cleanup after a failure must not hide the failure.
async function removeQuietly(file: string): Promise<void> {
  await fs.rm(file, { force: true }).catch(() => undefined);
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
