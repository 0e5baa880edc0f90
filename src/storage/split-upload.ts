import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { pieceKey } from '../core/naming.ts';
import { MAX_PARTS, MultipartUpload } from './multipart-upload.ts';

// One object of a backup stored in several (naming.ts pieceKey).
export interface StoredPiece {
  key: string;
  size: number;
}

export interface SplitUploadOptions {
  client: S3Client;
  // What every piece carries; Key is the backup's key (the first piece's).
  params: Omit<PutObjectCommandInput, 'Body'>;
  body: AsyncIterable<Buffer>;
  partSize: number;
  queueSize: number;
  // Bytes stored so far, over all pieces.
  onProgress?: ((loaded: number) => void) | undefined;
  // Parts per object: S3's MAX_PARTS unless a test lowers it.
  maxParts?: number | undefined;
}

// Uploads a stream of any length with a fixed part size: when one object would need more than
// maxParts parts, the stream goes on in a new object `<key>.002`, then `.003`, ... All pieces share one
// pool of queueSize + 1 part buffers, so memory does not grow with the backup. A stream that fits in
// one object is uploaded exactly as by MultipartUpload alone (same key, same requests).
//
// The first object is completed last: until then the other pieces have no backup to belong to, so
// nobody reading the storage sees part of a backup. On failure done() rejects; cleaning up is the
// caller's (openUploads() to abort, startedPieceKeys() to delete).
export class SplitUpload {
  // Parts sent over all pieces.
  parts = 0;
  readonly #options: SplitUploadOptions;
  readonly #uploads: MultipartUpload[] = [];
  // Positions (0 = the first object) of the multipart uploads completed.
  readonly #completed = new Set<number>();

  constructor(options: SplitUploadOptions) {
    this.#options = options;
  }

  async done(): Promise<void> {
    const { client, params, partSize, queueSize, onProgress } = this.#options;
    const maxParts = this.#options.maxParts ?? MAX_PARTS;
    const limit = maxParts * partSize;
    const source = this.#options.body[Symbol.asyncIterator]();
    const pool: Buffer[] = [];
    let carry: Buffer | undefined;
    let exhausted = false;
    let before = 0;

    // The next chunk of the source, the rest of a cut one first; undefined at its end.
    const next = async (): Promise<Buffer | undefined> => {
      if (carry !== undefined) {
        const chunk = carry;
        carry = undefined;
        return chunk;
      }
      if (exhausted) return undefined;
      const result = await source.next();
      if (result.done === true) {
        exhausted = true;
        return undefined;
      }
      return result.value;
    };
    // At most `limit` bytes of the source: one object's worth.
    const piece = async function* (): AsyncGenerator<Buffer> {
      let sent = 0;
      while (sent < limit) {
        let chunk = await next();
        if (chunk === undefined) return;
        if (sent + chunk.length > limit) {
          carry = chunk.subarray(limit - sent);
          chunk = chunk.subarray(0, limit - sent);
        }
        sent += chunk.length;
        yield chunk;
      }
    };
    const hasMore = async (): Promise<boolean> => {
      for (;;) {
        const chunk = await next();
        if (chunk === undefined) return false;
        if (chunk.length > 0) {
          carry = chunk;
          return true;
        }
      }
    };

    try {
      for (let index = 1; index === 1 || (await hasMore()); index += 1) {
        const offset = before;
        const upload = new MultipartUpload({
          client,
          params: { ...params, Key: pieceKey(params.Key ?? '', index) },
          body: piece(),
          partSize,
          queueSize,
          onProgress: onProgress === undefined ? undefined : (loaded) => onProgress(offset + loaded),
          maxParts,
          pool,
        });
        this.#uploads.push(upload);
        await upload.uploadParts();
        this.parts += upload.parts;
        before += upload.size;
        if (index > 1) {
          await upload.complete();
          this.#completed.add(index - 1);
        }
      }
      await this.#uploads[0]?.complete();
      this.#completed.add(0);
    } catch (error) {
      // Ends the source without waiting: a body stalled in a read settles only once the caller ends it.
      if (!exhausted) void source.return?.().catch(() => undefined);
      throw error;
    }
  }

  // Every piece with its size, in order.
  pieces(): StoredPiece[] {
    return this.#uploads.map((u, i) => ({ key: pieceKey(this.#options.params.Key ?? '', i + 1), size: u.size }));
  }

  // Multipart uploads started and not completed (to abort after a failure).
  openUploads(): { key: string; uploadId: string }[] {
    return this.pieces().flatMap((piece, i) => {
      const uploadId = this.#uploads[i]?.uploadId;
      return uploadId !== undefined && !this.#completed.has(i) ? [{ key: piece.key, uploadId }] : [];
    });
  }

  // The keys of the pieces after the first that were started: stored, or maybe stored (a PutObject
  // cut off at its end), to delete after a failure.
  laterPieceKeys(): string[] {
    return this.pieces()
      .slice(1)
      .map((p) => p.key);
  }
}
