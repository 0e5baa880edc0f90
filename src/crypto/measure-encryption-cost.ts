import { randomBytes } from 'node:crypto';
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
  encryptMBps: number;
  decryptMBps: number;
  // Time with encryption / time without (passthrough) for the same bytes: 1.0 means free.
  encryptTimeRatio: number;
  decryptTimeRatio: number;
}

// Streams `bytes` of incompressible data (like compressed dump output) through a passthrough, the
// age encrypt stage and the decrypt stage, in `writeSize` pieces, and reports throughput in MB/s
// (10^6 bytes). For the benchmark: the cost of encryption beside the same pipeline without it.
export async function measureEncryptionCost(bytes = 256 * 1024 * 1024, writeSize = 64 * 1024): Promise<EncryptionCost> {
  const identity = await generateX25519Identity();
  const settings: EncryptionSettings = {
    recipients: [await identityToRecipient(identity)],
    passphrase: undefined,
    identity: new Secret(identity),
  };
  const piece = randomBytes(writeSize);
  const passthroughSeconds = await timeStage(piece, bytes, new PassThrough());
  const encryptSeconds = await timeStage(piece, bytes, createEncryptStream(settings));
  // Decryption is timed behind a fresh encryption (no multi-GB buffer), minus the encryption time.
  const started = performance.now();
  await pipeline(Readable.from(pieces(piece, bytes)), createEncryptStream(settings), createDecryptStream(settings), discard());
  const decryptSeconds = Math.max((performance.now() - started) / 1000 - encryptSeconds, 1e-6);
  const mbps = (seconds: number): number => Math.round(bytes / 1e6 / seconds);
  return {
    bytes,
    passthroughMBps: mbps(passthroughSeconds),
    encryptMBps: mbps(encryptSeconds),
    decryptMBps: mbps(decryptSeconds),
    encryptTimeRatio: Math.round((encryptSeconds / passthroughSeconds) * 100) / 100,
    decryptTimeRatio: Math.round((decryptSeconds / passthroughSeconds) * 100) / 100,
  };
}

function* pieces(piece: Buffer, bytes: number): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += piece.length) yield piece.subarray(0, Math.min(piece.length, bytes - sent));
}

async function timeStage(piece: Buffer, bytes: number, stage: Transform): Promise<number> {
  const started = performance.now();
  await pipeline(Readable.from(pieces(piece, bytes)), stage, discard());
  return (performance.now() - started) / 1000;
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
