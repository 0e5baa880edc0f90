import type { CompletedPart, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { s3Sdk } from './s3-sdk.ts';

// S3's limit on the parts of one multipart upload.
export const MAX_PARTS = 10_000;

export interface MultipartUploadOptions {
  client: S3Client;
  // Bucket, Key and what the object carries (Metadata, ContentType, ChecksumAlgorithm); no Body.
  params: Omit<PutObjectCommandInput, 'Body'>;
  body: AsyncIterable<Buffer>;
  partSize: number;
  // Parts uploaded at once.
  queueSize: number;
  // Bytes stored so far, after each part (and after a single PutObject).
  onProgress?: ((loaded: number) => void) | undefined;
  // S3's MAX_PARTS unless a test lowers it.
  maxParts?: number | undefined;
  // Free part buffers (each partSize long) shared with the uploads of the backup's other pieces, so a
  // backup in several objects still holds queueSize + 1 buffers, not that many per object.
  pool?: Buffer[];
}

// Uploads a stream of unknown length in parts of partSize, at most queueSize at once, copying it into
// a pool of at most queueSize + 1 part buffers that are reused part after part. Memory stays at
// (queueSize + 1) × partSize and leaves no part-sized garbage behind: lib-storage's Upload makes a new
// Buffer per part (Buffer.concat), and V8 frees those only at its next full GC, which external memory
// triggers late (tens of MiB of dead parts at a time). A body that fits in one part is one PutObject.
// On failure done() rejects with the first error; aborting the multipart upload (uploadId) is the
// caller's job, as is cancelling requests still in flight (through the client it passes).
// done() is uploadParts() then complete(); a caller may run them apart, to make the object appear
// only after others (split-upload.ts).
export class MultipartUpload {
  uploadId: string | undefined;
  // Parts sent (1 for a single PutObject).
  parts = 0;
  // Bytes stored.
  size = 0;
  readonly #options: MultipartUploadOptions;
  #completed: CompletedPart[] = [];

  constructor(options: MultipartUploadOptions) {
    this.#options = options;
  }

  async done(): Promise<void> {
    await this.uploadParts();
    await this.complete();
  }

  // Uploads every part (or the single PutObject of a body that fits in one part).
  async uploadParts(): Promise<void> {
    const { client, params, body, partSize, queueSize, onProgress } = this.#options;
    const pool: Buffer[] = this.#options.pool ?? [];
    const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(partSize);
    const completed = this.#completed;
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let loaded = 0;
    let part = take();
    let filled = 0;

    const throwIfFailed = (): void => {
      if (failure !== undefined) throw failure.error;
    };
    // Sends the filled part (starting the multipart upload first if needed) once a slot is free.
    const send = async (): Promise<void> => {
      if (this.uploadId === undefined) {
        const created = await client.send(new (s3Sdk().CreateMultipartUploadCommand)(params));
        if (created.UploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
        this.uploadId = created.UploadId;
      }
      while (inFlight.size >= queueSize) {
        await Promise.race(inFlight);
        throwIfFailed();
      }
      const maxParts = this.#options.maxParts ?? MAX_PARTS;
      if (this.parts >= maxParts) {
        // The caller cuts the body into pieces of at most maxParts parts (split-upload.ts): a bug otherwise.
        const partMiB = (partSize / 1024 ** 2).toFixed(0);
        throw new Error(`the body outgrew the ${maxParts} parts of ${partMiB} MiB that one S3 upload can hold: report it`);
      }
      const buffer = part;
      const length = filled;
      const partNumber = ++this.parts;
      // Never rejects (the error is kept in `failure`), so no rejection goes unhandled.
      const task: Promise<void> = this.#uploadPart(this.uploadId, partNumber, buffer.subarray(0, length))
        .then(
          (done) => {
            completed.push(done);
            pool.push(buffer);
            loaded += length;
            onProgress?.(loaded);
          },
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      part = take();
      filled = 0;
    };

    for await (const chunk of body) {
      throwIfFailed();
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(partSize - filled, chunk.length - offset);
        chunk.copy(part, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === partSize) await send();
      }
    }
    throwIfFailed();
    if (this.uploadId === undefined) {
      await client.send(new (s3Sdk().PutObjectCommand)({ ...params, Body: part.subarray(0, filled) }));
      this.parts = 1;
      this.size = filled;
      onProgress?.(filled);
      pool.push(part);
      return;
    }
    if (filled > 0) await send();
    pool.push(part);
    while (inFlight.size > 0) await Promise.race(inFlight);
    throwIfFailed();
    this.size = loaded;
  }

  // Makes the object appear from its uploaded parts (nothing to do after a single PutObject).
  async complete(): Promise<void> {
    if (this.uploadId === undefined) return;
    const { client, params } = this.#options;
    const parts = [...this.#completed].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(
      new (s3Sdk().CompleteMultipartUploadCommand)({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  async #uploadPart(uploadId: string, partNumber: number, data: Buffer): Promise<CompletedPart> {
    const { client, params } = this.#options;
    const out = await client.send(
      new (s3Sdk().UploadPartCommand)({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: data,
        ...(params.ChecksumAlgorithm !== undefined ? { ChecksumAlgorithm: params.ChecksumAlgorithm } : {}),
      }),
    );
    if (out.ETag === undefined) throw new Error(`the storage answered part ${partNumber} without an ETag, so the upload cannot be completed`);
    return {
      PartNumber: partNumber,
      ETag: out.ETag,
      ...(out.ChecksumSHA256 !== undefined ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
    };
  }
}
