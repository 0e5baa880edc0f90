import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

// Counts the bytes passing through (pg_dump's uncompressed output).
export class ByteCounter extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

// The last stage before storage: sha256 and size of the stored bytes, and a gate that holds the end
// of the stream until `beforeEnd` resolved (pg_dump exited 0, output not empty). When it rejects, the
// stream errors instead of ending, so the store never completes an object from a failed dump.
export class HashGate extends Transform {
  readonly #hash = createHash('sha256');
  readonly #beforeEnd: () => Promise<void>;
  bytes = 0;
  #digest: string | undefined;

  constructor(beforeEnd: () => Promise<void>, highWaterMark = 1024 * 1024) {
    super({ highWaterMark });
    this.#beforeEnd = beforeEnd;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#beforeEnd().then(
      () => {
        this.#digest = this.#hash.digest('hex');
        callback();
      },
      (error: unknown) => callback(error as Error),
    );
  }

  // Hex sha256 of everything that passed, once the stream ended.
  get sha256(): string {
    if (this.#digest === undefined) throw new Error('sha256 read before the stream ended');
    return this.#digest;
  }
}
