import { PassThrough, type Readable } from 'node:stream';

// Copies one stream into several branches, each read by its own consumer (one upload per destination).
// The source moves at the pace of the slowest live branch (backpressure, bounded memory); a branch that
// is dropped (its upload failed or stalled) no longer holds the others back. The source ending ends
// every live branch; the source failing or being destroyed destroys them, so no consumer completes
// an object from a stream that did not end cleanly.
export class Tee {
  readonly branches: readonly PassThrough[];
  readonly #source: Readable;
  readonly #live: Set<PassThrough>;
  // Live branches whose buffer is full: the source waits until each drained.
  readonly #waiting = new Set<PassThrough>();

  constructor(source: Readable, count: number, highWaterMark = 1024 * 1024) {
    this.#source = source;
    this.branches = Array.from({ length: count }, () => {
      const branch = new PassThrough({ highWaterMark });
      // A branch's error is its consumer's to handle (the upload rejects); without a listener a
      // destroyed branch would throw an uncaught 'error'.
      branch.on('error', () => {});
      return branch;
    });
    this.#live = new Set(this.branches);
    source.on('data', (chunk: Buffer) => {
      for (const branch of this.#live) {
        if (!branch.write(chunk) && !this.#waiting.has(branch)) {
          this.#waiting.add(branch);
          branch.once('drain', () => this.#release(branch));
        }
      }
      if (this.#waiting.size > 0) source.pause();
    });
    source.once('end', () => {
      for (const branch of this.#live) branch.end();
    });
    source.once('error', (error: Error) => {
      for (const branch of this.#live) branch.destroy(error);
    });
    source.once('close', () => {
      if (source.readableEnded) return;
      for (const branch of this.#live) if (!branch.destroyed) branch.destroy(new Error('the backup stream was stopped before its end'));
    });
  }

  // Branches still fed.
  get live(): number {
    return this.#live.size;
  }

  // True when the branch is full and the source waits for it (its consumer is not reading).
  isHoldingBack(branch: PassThrough): boolean {
    return this.#waiting.has(branch);
  }

  // Stops feeding the branch (its consumer failed): the others go on without waiting for it.
  drop(branch: PassThrough): void {
    if (!this.#live.delete(branch)) return;
    branch.destroy();
    this.#release(branch);
  }

  #release(branch: PassThrough): void {
    this.#waiting.delete(branch);
    if (this.#waiting.size === 0 && this.#live.size > 0 && !this.#source.destroyed) this.#source.resume();
  }
}
