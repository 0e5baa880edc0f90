import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { Secret } from '../config/secret.ts';
import type { EncryptionSettings } from '../config/types.ts';
import { createDecryptStream } from './age-decrypt.ts';
import { createEncryptStream } from './age-encrypt.ts';

export interface EncryptionCost {
  bytes: number;
  passthroughMBps: number;
  // sha256 over the same bytes: the pipeline hashes stored bytes anyway, a native-speed yardstick.
  sha256MBps: number;
  encryptMBps: number;
  decryptMBps: number;
  // CPU-bound seconds the stage adds per GiB of compressed dump (what a backup/restore pays).
  encryptSecondsPerGiB: number;
  decryptSecondsPerGiB: number;
  // Time through the stage / time through a passthrough for the same bytes.
  encryptTimeRatio: number;
  decryptTimeRatio: number;
}

// Streams `bytes` of incompressible data (like compressed dump output) through a passthrough, a
// sha256 stage, the age encrypt stage and the decrypt stage, in `writeSize` pieces; each is timed
// `rounds` times and the best round kept (the machine is shared). Throughput in MB/s (10^6 bytes).
export async function measureEncryptionCost(bytes = 256 * 1024 * 1024, writeSize = 64 * 1024, rounds = 3): Promise<EncryptionCost> {
  const identity = await generateX25519Identity();
  const settings: EncryptionSettings = {
    recipients: [await identityToRecipient(identity)],
    passphrase: undefined,
    identity: new Secret(identity),
  };
  const piece = randomBytes(writeSize);
  // Decryption reads a real age file: one of up to 64 MiB, decrypted as many times as needed.
  const sampleBytes = Math.min(bytes, 64 * 1024 * 1024);
  const sample = await collect(pieces(piece, sampleBytes), createEncryptStream(settings));
  const passes = Math.max(1, Math.round(bytes / sampleBytes));
  const best = async (stage: () => Promise<void>): Promise<number> => {
    let fastest = Infinity;
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      await stage();
      fastest = Math.min(fastest, (performance.now() - started) / 1000);
    }
    return fastest;
  };
  const passthroughSeconds = await best(() => drain(pieces(piece, bytes), new PassThrough()));
  const sha256Seconds = await best(() => drain(pieces(piece, bytes), hashingPassThrough()));
  const encryptSeconds = await best(() => drain(pieces(piece, bytes), createEncryptStream(settings)));
  const decryptSeconds =
    ((await best(async () => {
      for (let pass = 0; pass < passes; pass++) await drain(sample, createDecryptStream(settings));
    })) *
      bytes) /
    (passes * sampleBytes);
  const mbps = (seconds: number): number => Math.round(bytes / 1e6 / seconds);
  const perGiB = (seconds: number): number => Math.round(((seconds * 1024 ** 3) / bytes) * 100) / 100;
  const ratio = (seconds: number): number => Math.round((seconds / passthroughSeconds) * 10) / 10;
  return {
    bytes,
    passthroughMBps: mbps(passthroughSeconds),
    sha256MBps: mbps(sha256Seconds),
    encryptMBps: mbps(encryptSeconds),
    decryptMBps: mbps(decryptSeconds),
    encryptSecondsPerGiB: perGiB(encryptSeconds),
    decryptSecondsPerGiB: perGiB(decryptSeconds),
    encryptTimeRatio: ratio(encryptSeconds),
    decryptTimeRatio: ratio(decryptSeconds),
  };
}

function* pieces(piece: Buffer, bytes: number): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, bytes - sent));
}

function drain(source: Iterable<Buffer>, stage: Transform): Promise<void> {
  return pipeline(Readable.from(source), stage, discard());
}

async function collect(source: Iterable<Buffer>, stage: Transform): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(source), stage, sink);
  return out;
}

function hashingPassThrough(): Transform {
  const hash = createHash('sha256');
  return new PassThrough({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      hash.digest();
      callback();
    },
  });
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
