import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RestoreError } from '../errors.ts';
import { formatBytes } from '../util/format.ts';
import { printableKey } from '../util/printable-key.ts';

// Why stored bytes are not what the backup wrote.
export class IntegrityError extends RestoreError {
  readonly kind: 'sha256' | 'size';

  constructor(kind: 'sha256' | 'size', shortMessage: string, hint: string) {
    super(shortMessage, { hint });
    this.kind = kind;
  }
}

export interface IntegrityExpectation {
  key: string;
  // From the manifest; undefined when there is none (then only the actual digest is reported).
  sha256: string | undefined;
  size: number | undefined;
  onBytes?: (bytes: number) => void;
}

interface IntegrityOutcome {
  sha256: string;
  bytes: number;
  // false when there was nothing to compare with.
  checked: boolean;
}

export interface IntegrityCheck {
  // Pass-through stream that hashes every stored byte and fails at its end on a mismatch.
  stream: Transform;
  // Settles when the stream ended: resolves only when size and sha256 matched (or nothing was expected).
  verified: Promise<IntegrityOutcome>;
}

const HINT =
  'do not use this backup: the stored object differs from what was uploaded (corrupted or truncated in storage or in transit). Restore an older backup, and run `backup-sentinel verify` on the others';

// Hashes the stored bytes while they stream past (no temp file, no second read).
export function createIntegrityCheck(expect: IntegrityExpectation): IntegrityCheck {
  const hash = createHash('sha256');
  let bytes = 0;
  let settled = false;
  let resolveFn!: (outcome: IntegrityOutcome) => void;
  let rejectFn!: (error: unknown) => void;
  const verified = new Promise<IntegrityOutcome>((resolve, reject) => {
    resolveFn = resolve;
    rejectFn = reject;
  });
  // Callers may not await it on every path (e.g. when a later stage failed first).
  verified.catch(() => {});
  const settle = (error: unknown, outcome?: IntegrityOutcome) => {
    if (settled) return;
    settled = true;
    if (outcome) resolveFn(outcome);
    else rejectFn(error);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      expect.onBytes?.(bytes);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const sha256 = hash.digest('hex');
      let error: IntegrityError | undefined;
      if (expect.size !== undefined && bytes !== expect.size) {
        const what = bytes < expect.size ? 'truncated' : 'longer than uploaded';
        error = new IntegrityError('size', `${printableKey(expect.key)} is ${what}: ${formatBytes(bytes)} (${bytes} bytes) stored, ${formatBytes(expect.size)} (${expect.size} bytes) in its manifest`, HINT);
      } else if (expect.sha256 !== undefined && sha256 !== expect.sha256.toLowerCase()) {
        error = new IntegrityError('sha256', `${printableKey(expect.key)} fails its sha256 check: stored bytes hash to ${sha256}, the manifest says ${expect.sha256}`, HINT);
      }
      if (error) {
        settle(error);
        callback(error);
        return;
      }
      settle(undefined, { sha256, bytes, checked: expect.sha256 !== undefined });
      callback();
    },
    destroy(error, callback) {
      settle(error ?? new RestoreError(`reading ${printableKey(expect.key)} stopped before its end`));
      callback(error);
    },
  });
  return { stream, verified };
}
