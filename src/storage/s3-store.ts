import { Readable } from 'node:stream';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.ts';
import { StorageError, type LeftoverUpload } from '../errors.ts';
import { SplitUpload } from './split-upload.ts';
import { createS3Client, describeS3, type S3ClientTuning } from './s3-client.ts';
import { toStorageError } from './s3-errors.ts';
import { s3Sdk } from './s3-sdk.ts';
import type {
  BackupStore,
  IncompleteUpload,
  IncompleteUploadStore,
  ConditionalStore,
  ListOptions,
  PutOptions,
  PutResult,
  StoredObject,
  StoredObjectWithMetadata,
  VersionedObject,
  WriteCondition,
} from './store.ts';

const MiB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MiB;
// The largest part, whatever the database size: memory is (queueSize + 1) part buffers while
// uploading, so 3 × 16 MiB at most. One object holds 10,000 parts of 16 MiB (156 GiB); a larger
// backup goes on in further objects (split-upload.ts) instead of growing its parts.
const MAX_PART_SIZE = 16 * MiB;
// With no size hint: the largest.
export const DEFAULT_PART_SIZE = MAX_PART_SIZE;
// The hint is an estimate: plan for twice it in 9,000 parts, leaving room for a database that grew.
const HINT_MARGIN = 2;
const PLANNED_PARTS = 9_000;
const DELETE_BATCH = 1_000;

// Part size for a multipart upload of an unknown-length stream expected to be about sizeHint bytes:
// small databases keep 5 MiB parts (little memory); from about 75 GB on, parts stay at MAX_PART_SIZE
// and a backup larger than one object holds is split into several.
export function choosePartSize(sizeHint: number | undefined): number {
  if (sizeHint === undefined || !Number.isFinite(sizeHint) || sizeHint <= 0) return DEFAULT_PART_SIZE;
  const wanted = Math.ceil((HINT_MARGIN * sizeHint) / PLANNED_PARTS);
  const roundedToMiB = Math.ceil(wanted / MiB) * MiB;
  return Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, roundedToMiB));
}

// Parts uploaded at once, whatever their size. Memory is (queueSize + 1) part buffers, reused (see
// multipart-upload.ts). Against the benchmark's S3 server, 2 parts of 5 MiB at once upload 255 MiB in
// 2.0-2.2 s against 1.9-2.0 s with 4 (still 4x what a zstd backup produces) and peak 12-18 MiB lower;
// over a high-latency link more in flight could help (S3StoreOptions.queueSize).
export const DEFAULT_QUEUE_SIZE = 2;

export interface S3StoreOptions {
  // A client to use instead of one built from settings (for sharing).
  client?: S3Client;
  tuning?: Partial<S3ClientTuning>;
  // Overrides choosePartSize (tests use 5 MiB to exercise multipart uploads with little data).
  partSize?: number;
  queueSize?: number;
  // Parts per object before the backup goes on in a new object; S3's MAX_PARTS unless a test lowers it.
  maxParts?: number;
  // How long the clean-up of a failed upload (AbortMultipartUpload, deleting a stray object) may take:
  // the endpoint that failed the upload may not answer it either. Default 30 s.
  cleanupTimeoutMs?: number;
}

const DEFAULT_CLEANUP_TIMEOUT_MS = 30_000;

// Backup storage in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Backblaze B2).
export class S3Store implements BackupStore, IncompleteUploadStore, ConditionalStore {
  readonly description: string;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly settings: S3Settings;
  private readonly options: S3StoreOptions;

  constructor(settings: S3Settings, options: S3StoreOptions = {}) {
    this.settings = settings;
    this.options = options;
    this.bucket = settings.bucket;
    this.client = options.client ?? createS3Client(settings, options.tuning);
    this.description = describeS3(settings);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { signal, onProgress } = options;
    const partSize = this.options.partSize ?? choosePartSize(options.sizeHint);
    const queueSize = this.options.queueSize ?? DEFAULT_QUEUE_SIZE;
    const context = { operation: 'upload', where: this.description, key };
    // Cancels in-flight part uploads when the caller aborts, without cancelling the abort request itself.
    const inFlight = new AbortController();
    let size = 0;
    let bodyError: unknown;
    const counted = Readable.from(
      (async function* () {
        try {
          for await (const chunk of body) {
            const buffer: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
            size += buffer.length;
            yield buffer;
          }
        } catch (error) {
          bodyError ??= error;
          throw error;
        }
      })(),
      { objectMode: false, highWaterMark: 64 * 1024 },
    );
    // Ends the body with the reason, so the producer stops (never blocked on a pipe nobody reads) and a
    // pipeline listening on it sees the storage failure first.
    const release = (reason: unknown): void => {
      if (body.destroyed) return;
      // Emitting 'error' with no listener would crash the process: then just end the stream.
      body.destroy(body.listenerCount('error') > 0 && reason instanceof Error ? reason : undefined);
    };
    const aborted = (): StorageError =>
      new StorageError('Aborted', `Upload of ${key} to ${this.description} was aborted; nothing was stored`, {
        cause: signal?.reason,
      });
    const onAbort = (): void => {
      inFlight.abort(signal?.reason);
      // Ending the source first ends a read that would otherwise wait for data forever.
      release(aborted());
      counted.destroy();
    };
    // The upload notices a failed request only when the body gives its next chunk, which may be never
    // if the body stalls: end the body at the first failed request so the upload settles.
    let requestError: StorageError | undefined;
    const onRequestError = (error: unknown): void => {
      if (requestError !== undefined || signal?.aborted) return;
      requestError = toStorageError(error, context);
      release(requestError);
    };
    const watched = watchRequests(this.client, inFlight.signal, onRequestError);
    const params: Omit<PutObjectCommandInput, 'Body'> = { Bucket: this.bucket, Key: key };
    if (options.metadata) params.Metadata = options.metadata;
    if (options.contentType) params.ContentType = options.contentType;
    // Object-lock buckets refuse uploads without an integrity checksum.
    if (this.settings.objectLock) params.ChecksumAlgorithm = 'SHA256';
    const upload = new SplitUpload({ client: watched.client, params, body: counted, partSize, queueSize, onProgress, maxParts: this.options.maxParts });
    try {
      signal?.throwIfAborted();
      signal?.addEventListener('abort', onAbort, { once: true });
      await upload.done();
    } catch (error) {
      let failure: unknown;
      if (signal?.aborted) failure = aborted();
      else if (requestError !== undefined) failure = requestError;
      else if (bodyError !== undefined) failure = bodyError;
      else failure = toStorageError(error, context);
      release(failure);
      // Parts still in flight would otherwise land after the abort below and stay behind.
      inFlight.abort(failure);
      // The body emits its 'error' on a later tick: let a pipeline listening on it hear it before we reject.
      await new Promise((resolve) => setImmediate(resolve));
      const open = upload.openUploads();
      const cleanups = [];
      for (const { key: pieceKey, uploadId } of open) cleanups.push(await this.abortMultipart(pieceKey, uploadId));
      // A single PutObject cut off at the very end may still have been stored.
      if (signal?.aborted && !open.some((u) => u.key === key) && watched.putSent()) await this.deleteQuietly(key);
      // The pieces after the first are no backup without it: none may stay.
      for (const pieceKey of upload.laterPieceKeys()) await this.deleteQuietly(pieceKey);
      for (const cleanup of cleanups) {
        if (cleanup === undefined) continue;
        if (failure instanceof StorageError) failure.message += `\n${cleanup.note}`;
        options.onLeftover?.(cleanup.leftover);
      }
      throw failure;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    // Aborted while the last request completed: the caller was told "aborted", so leave nothing behind.
    const pieces = upload.pieces();
    if (signal?.aborted) {
      for (const piece of pieces) await this.deleteQuietly(piece.key);
      throw aborted();
    }
    return { key, size, parts: upload.parts, ...(pieces.length > 1 ? { pieces } : {}) };
  }

  async list(prefix: string, options: ListOptions = {}): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new (s3Sdk().ListObjectsV2Command)({
            Bucket: this.bucket,
            ...(prefix ? { Prefix: prefix } : {}),
            ...(options.startAfter !== undefined && token === undefined ? { StartAfter: options.startAfter } : {}),
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
          options.signal ? { abortSignal: options.signal } : {},
        );
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined) continue;
          objects.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw toStorageError(error, { operation: 'list', where: this.description, key: `${prefix}*` });
    }
    // S3 already sorts by UTF-8 bytes; some S3-compatible servers do not.
    return objects.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  async head(key: string, signal?: AbortSignal): Promise<StoredObjectWithMetadata | undefined> {
    try {
      const out = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      return {
        key,
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
        metadata: lowerCaseKeys(out.Metadata ?? {}),
      };
    } catch (error) {
      const wrapped = toStorageError(error, { operation: 'head', where: this.description, key });
      // HEAD answers carry no body: a 404 is a missing object (or, indistinguishably, a missing bucket).
      if (wrapped.code === 'NoSuchKey') return undefined;
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) throw await this.explainForbiddenHead(key, wrapped, signal);
      throw wrapped;
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const out = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      if (!(out.Body instanceof Readable)) throw new Error('GetObject returned no Node.js stream body');
      return out.Body;
    } catch (error) {
      throw toStorageError(error, { operation: 'download', where: this.description, key });
    }
  }

  async delete(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const where = { operation: 'delete', where: this.description, key: describeBatch(batch) };
      let errors;
      try {
        const out = await this.client.send(
          new (s3Sdk().DeleteObjectsCommand)({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          signal ? { abortSignal: signal } : {},
        );
        errors = out.Errors ?? [];
      } catch (error) {
        throw toStorageError(error, where);
      }
      const failed = errors.filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0];
        const cause = Object.assign(new Error(first?.Message ?? 'delete failed'), { name: first?.Code ?? 'Unknown' });
        const wrapped = toStorageError(cause, { ...where, key: `${failed.length} of ${batch.length} objects (first: ${first?.Key ?? '?'})` });
        throw wrapped;
      }
    }
  }

  // A 403 to HEAD has no body, so it cannot say whether the key id is unknown (InvalidAccessKeyId), the
  // secret is wrong (SignatureDoesNotMatch) or the key lacks permission (AccessDenied). A GET of the
  // first byte of the same key needs the same permission and answers with an error code: ask it.
  private async explainForbiddenHead(key: string, headError: StorageError, signal: AbortSignal | undefined): Promise<StorageError> {
    try {
      const out = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key, Range: 'bytes=0-0' }), signal ? { abortSignal: signal } : {});
      (out.Body as Readable | undefined)?.destroy();
      return headError;
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      if (typeof name !== 'string' || !/^(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|ExpiredToken)$/.test(name)) return headError;
      return toStorageError(error, { operation: 'head', where: this.description, key });
    }
  }

  async readVersioned(key: string, signal?: AbortSignal): Promise<VersionedObject | undefined> {
    try {
      const out = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      if (out.Body === undefined || out.ETag === undefined) throw new Error('GetObject returned no body or no ETag');
      const body = Buffer.from(await out.Body.transformToByteArray());
      return { body, etag: out.ETag };
    } catch (error) {
      const wrapped = toStorageError(error, { operation: 'download', where: this.description, key });
      if (wrapped.code === 'NoSuchKey') return undefined;
      throw wrapped;
    }
  }

  // If-None-Match / If-Match on PutObject (AWS S3 since 2024, R2, MinIO).
  async putConditional(key: string, body: Buffer, condition: WriteCondition, signal?: AbortSignal): Promise<{ etag: string } | undefined> {
    const precondition = 'ifMatch' in condition ? { IfMatch: condition.ifMatch } : { IfNoneMatch: '*' };
    try {
      const out = await this.client.send(
        new (s3Sdk().PutObjectCommand)({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json', ...precondition }),
        signal ? { abortSignal: signal } : {},
      );
      if (out.ETag === undefined) throw new Error('PutObject returned no ETag');
      return { etag: out.ETag };
    } catch (error) {
      if (isPreconditionFailure(error)) return undefined;
      throw toStorageError(error, { operation: 'conditional write', where: this.description, key });
    }
  }

  async deleteConditional(key: string, etag: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key, IfMatch: etag }), signal ? { abortSignal: signal } : {});
      return true;
    } catch (error) {
      if (isPreconditionFailure(error)) return false;
      throw toStorageError(error, { operation: 'conditional delete', where: this.description, key });
    }
  }

  async listIncompleteUploads(prefix: string, signal?: AbortSignal): Promise<IncompleteUpload[]> {
    const uploads: IncompleteUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new (s3Sdk().ListMultipartUploadsCommand)({
            Bucket: this.bucket,
            ...(prefix ? { Prefix: prefix } : {}),
            ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
          signal ? { abortSignal: signal } : {},
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Key === undefined || upload.UploadId === undefined) continue;
          uploads.push({ key: upload.Key, uploadId: upload.UploadId, initiatedAt: upload.Initiated ?? new Date(0) });
        }
        if (!page.IsTruncated || (page.NextKeyMarker === undefined && page.NextUploadIdMarker === undefined)) break;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    } catch (error) {
      throw toStorageError(error, { operation: 'list incomplete uploads', where: this.description, key: `${prefix}*` });
    }
    return uploads;
  }

  async abortIncompleteUpload(upload: LeftoverUpload, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }), signal ? { abortSignal: signal } : {});
    } catch (error) {
      if ((error as { name?: unknown }).name === 'NoSuchUpload') return;
      throw toStorageError(error, { operation: `abort multipart upload ${upload.uploadId}`, where: this.description, key: upload.key });
    }
  }

  private async deleteQuietly(key: string): Promise<void> {
    await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: this.bucket, Key: key }), { abortSignal: this.cleanupSignal() }).catch(() => undefined);
  }

  private cleanupSignal(): AbortSignal {
    return AbortSignal.timeout(this.options.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS);
  }

  // Removes the parts of a failed multipart upload, within the clean-up timeout. When that fails, says
  // which upload is left (for the caller) with a note for the error message.
  private async abortMultipart(key: string, uploadId: string | undefined): Promise<{ leftover: LeftoverUpload; note: string } | undefined> {
    if (uploadId === undefined) return undefined;
    try {
      await this.client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: key, UploadId: uploadId }), { abortSignal: this.cleanupSignal() });
      return undefined;
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'NoSuchUpload') return undefined;
      const why = name === 'AbortError' || name === 'TimeoutError' ? 'no answer in time' : (name ?? 'error');
      return {
        leftover: { key, uploadId },
        note:
          `The multipart upload ${uploadId} could not be aborted (${why}); its parts stay stored and billed until ` +
          'the daily sweep of incomplete uploads aborts it, or a lifecycle rule that aborts incomplete multipart uploads removes them.',
      };
    }
  }
}

// A client for one upload. Data-carrying requests (UploadPart, PutObject) stop when signal aborts
// (the caller aborts it, or the upload failed); Create/Complete/Abort are left alone, since cancelling
// them halfway could leave an upload the server knows and we do not. onError hears every failed
// request except the final AbortMultipartUpload. `putSent` tells whether a PutObject was sent.
function watchRequests(
  client: S3Client,
  signal: AbortSignal,
  onError: (error: unknown) => void,
): { client: S3Client; putSent: () => boolean } {
  let putSent = false;
  const watch = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      onError(error);
      throw error;
    });
  const send = (command: Parameters<S3Client['send']>[0], options?: object): Promise<unknown> => {
    if (command instanceof s3Sdk().PutObjectCommand) {
      putSent = true;
      return watch(client.send(command, { ...options, abortSignal: signal }));
    }
    if (command instanceof s3Sdk().UploadPartCommand) return watch(client.send(command, { ...options, abortSignal: signal }));
    if (command instanceof s3Sdk().AbortMultipartUploadCommand) return client.send(command, options ?? {});
    return watch(client.send(command, options ?? {}));
  };
  const proxy = new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'send') return send;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { client: proxy, putSent: () => putSent };
}

// 412 PreconditionFailed; 409 ConditionalRequestConflict (AWS: a concurrent conditional write won);
// 404 on If-Match of a key that is gone (AWS answers so where R2 answers 412).
function isPreconditionFailure(error: unknown): boolean {
  const shape = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = shape.$metadata?.httpStatusCode;
  return (
    shape.name === 'PreconditionFailed' ||
    shape.name === 'ConditionalRequestConflict' ||
    shape.name === 'NoSuchKey' ||
    status === 412 ||
    status === 409 ||
    (status === 404 && shape.name !== 'NoSuchBucket')
  );
}

function describeBatch(keys: readonly string[]): string {
  return keys.length === 1 ? (keys[0] ?? '') : `${keys.length} objects (${keys[0] ?? ''} ... ${keys.at(-1) ?? ''})`;
}

function lowerCaseKeys(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
}
