import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../errors.ts';
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

  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = `dir:${this.root}`;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    let file: string;
    try {
      file = this.fileOf(key);
    } catch (error) {
      body.destroy();
      throw error;
    }
    const folder = path.dirname(file);
    const temp = path.join(folder, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${path.basename(file)}`);
    const metaTemp = `${temp}${META_SUFFIX}`;
    const { signal, onProgress } = options;
    let size = 0;
    let bodyError: unknown;
    const counted = async function* (source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of source) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += buffer.length;
          onProgress?.(size);
          yield buffer;
        }
      } catch (error) {
        bodyError ??= error;
        throw error;
      }
    };
    try {
      signal?.throwIfAborted();
      await fs.mkdir(folder, { recursive: true });
      await pipeline(body, counted, createWriteStream(temp, { flags: 'wx' }), signal ? { signal } : {});
      await syncFile(temp);
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
      if (bodyError !== undefined && !signal?.aborted) throw bodyError;
      if (signal?.aborted) {
        throw new StorageError('Aborted', `Writing ${key} to ${this.description} was aborted; nothing was stored`, {
          cause: signal.reason,
        });
      }
      throw this.wrap(error, `write ${key}`);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<StoredObject[]> {
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash === -1 ? '' : prefix.slice(0, slash + 1);
    if (baseKey) assertSafeKey(baseKey.slice(0, -1), this.description);
    const keys: string[] = [];
    try {
      await this.collectKeys(path.join(this.root, baseKey), baseKey, prefix, keys);
    } catch (error) {
      throw this.wrap(error, `list ${prefix || '(all)'}`);
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

  async head(key: string): Promise<StoredObjectWithMetadata | undefined> {
    const file = this.fileOf(key);
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) return undefined;
      const sidecar = await readSidecar(`${file}${META_SUFFIX}`);
      return { key, size: stat.size, lastModified: stat.mtime, metadata: sidecar.metadata };
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return undefined;
      throw this.wrap(error, `read ${key}`);
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.fileOf(key);
    try {
      const handle = await fs.open(file, 'r');
      return handle.createReadStream();
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR') || isCode(error, 'EISDIR')) {
        throw new StorageError('NoSuchKey', `No object ${key} in ${this.description}`, {
          cause: error,
          hint: 'list the backups (backup-sentinel list) and use one of the keys shown',
        });
      }
      throw this.wrap(error, `read ${key}`);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const files = keys.map((key) => this.fileOf(key));
    for (const file of files) {
      try {
        await fs.rm(file, { force: true });
        await fs.rm(`${file}${META_SUFFIX}`, { force: true });
      } catch (error) {
        throw this.wrap(error, `delete ${path.relative(this.root, file)}`);
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

  private async collectKeys(folder: string, baseKey: string, prefix: string, out: string[]): Promise<void> {
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
          await this.collectKeys(path.join(folder, entry.name), folderKey, prefix, out);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        out.push(key);
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
    const where = this.description;
    if (isCode(error, 'EACCES') || isCode(error, 'EPERM') || isCode(error, 'EROFS')) {
      return new StorageError('AccessDenied', `Permission denied to ${action} in ${where}`, {
        cause: error,
        hint: `make BACKUP_DIR (${this.root}) writable by the user backup-sentinel runs as`,
      });
    }
    if (isCode(error, 'ENOTDIR') || isCode(error, 'EEXIST')) {
      return new StorageError('Unknown', `Could not ${action} in ${where}: a file stands where a folder should be`, {
        cause: error,
        hint: `point BACKUP_DIR at a directory (${this.root} or one of its folders is a regular file)`,
      });
    }
    if (isCode(error, 'ENOSPC') || isCode(error, 'EDQUOT')) {
      return new StorageError('Unknown', `No space left to ${action} in ${where}`, {
        cause: error,
        hint: 'free disk space or point BACKUP_DIR at a larger volume',
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    return new StorageError('Unknown', `Could not ${action} in ${where}: ${reason}`, { cause: error });
  }
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
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<Sidecar>;
    return { metadata: parsed.metadata ?? {} };
  } catch (error) {
    // An object copied in by hand has no sidecar: it simply has no metadata.
    if (isCode(error, 'ENOENT') || error instanceof SyntaxError) return { metadata: {} };
    throw error;
  }
}

// The directory's stand-in for an ETag: a hash of the content (the lease's content changes at every write).
function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

// Flushes the file to disk before it is renamed into place (a backup must survive a power cut).
async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.sync();
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
