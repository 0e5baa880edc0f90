import type { Readable } from 'node:stream';
import type { LeftoverUpload } from '../errors.ts';

// One stored object as listings see it.
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface StoredObjectWithMetadata extends StoredObject {
  // User metadata (x-amz-meta-* on S3), lower-case keys.
  metadata: Record<string, string>;
}

export interface PutOptions {
  metadata?: Record<string, string>;
  contentType?: string;
  // Expected total size when known in advance, to choose a part size; unknown-length streams are fine.
  sizeHint?: number;
  // Aborting stops the upload and removes any partial state (no orphan parts, no partial object).
  signal?: AbortSignal;
  onProgress?: (uploadedBytes: number) => void;
  // Told when a failed put could not remove what it had stored so far (a multipart upload whose abort
  // failed), whatever error put then rejects with.
  onLeftover?: (upload: LeftoverUpload) => void;
}

export interface PutResult {
  key: string;
  size: number;
  parts: number;
  // Set only when the body was stored as several objects (S3: more than one object's 10,000 parts):
  // every object in order, the first under `key` (naming.ts pieceKey).
  pieces?: { key: string; size: number }[];
}

export interface ListOptions {
  // Only keys sorting strictly after this one (S3 StartAfter), for incremental listing.
  startAfter?: string;
  // Aborting stops the listing at once (StorageError Aborted), retries and their back-off included.
  signal?: AbortSignal;
}

// The one interface the rest of the service uses to reach backup storage (S3-compatible bucket or a
// local directory). Keys are '/'-separated relative paths. Errors are StorageError with a code.
// Calls that take a signal stop at once when it aborts (StorageError Aborted), retries and their
// back-off included: a service stopping does not wait out a provider outage.
export interface BackupStore {
  // Human description for messages, e.g. "s3://bucket" or "dir:/var/backups". Never holds secrets.
  readonly description: string;
  // Streams body into key; the object appears only when the whole stream was stored.
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  // Every object whose key starts with prefix, sorted by key ascending.
  list(prefix: string, options?: ListOptions): Promise<StoredObject[]>;
  // undefined when the object does not exist.
  head(key: string, signal?: AbortSignal): Promise<StoredObjectWithMetadata | undefined>;
  // Streams the object; StorageError code NoSuchKey when it does not exist. Aborting also ends the stream.
  get(key: string, signal?: AbortSignal): Promise<Readable>;
  // Deletes the keys (batched where the storage allows); missing keys are not an error. Aborted, a
  // batch whose answer had not come may or may not be deleted: the caller counts only what resolved.
  delete(keys: readonly string[], signal?: AbortSignal): Promise<void>;
}

// A multipart upload that was started and neither completed nor aborted (its parts are stored and billed).
export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiatedAt: Date;
}

// What storage with multipart uploads (S3) offers besides BackupStore, for the sweep of incomplete uploads.
export interface IncompleteUploadStore {
  // Every incomplete multipart upload whose key starts with prefix.
  listIncompleteUploads(prefix: string, signal?: AbortSignal): Promise<IncompleteUpload[]>;
  // Aborts it (its parts are deleted); an upload that is already gone is not an error.
  abortIncompleteUpload(upload: LeftoverUpload, signal?: AbortSignal): Promise<void>;
}

export function hasIncompleteUploads(store: BackupStore): store is BackupStore & IncompleteUploadStore {
  const candidate = store as Partial<IncompleteUploadStore>;
  return typeof candidate.listIncompleteUploads === 'function' && typeof candidate.abortIncompleteUpload === 'function';
}

// An object's bytes with its entity tag, for compare-and-swap writes.
export interface VersionedObject {
  body: Buffer;
  // Opaque; changes whenever the object is written (S3: the ETag header, quotes included).
  etag: string;
}

// The precondition of a conditional write: create only if absent, or replace only the version read.
export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string };

// Compare-and-swap on small objects (the leader lease), implemented by both stores beside BackupStore.
// Kept a separate interface so stand-in stores in tests need not implement it. Bodies are small
// buffers, and a failed precondition is an answer (undefined / false), not an error.
export interface ConditionalStore {
  // undefined when the object does not exist. Each call stops (StorageError Aborted) when signal aborts.
  readVersioned(key: string, signal?: AbortSignal): Promise<VersionedObject | undefined>;
  // Writes body only if the condition holds; the new etag, or undefined when it did not hold.
  putConditional(key: string, body: Buffer, condition: WriteCondition, signal?: AbortSignal): Promise<{ etag: string } | undefined>;
  // Deletes key only if its etag is still this one; false when it changed or is gone.
  deleteConditional(key: string, etag: string, signal?: AbortSignal): Promise<boolean>;
}

export function supportsConditionalWrites(store: BackupStore): store is BackupStore & ConditionalStore {
  const s = store as Partial<ConditionalStore>;
  return typeof s.readVersioned === 'function' && typeof s.putConditional === 'function' && typeof s.deleteConditional === 'function';
}
