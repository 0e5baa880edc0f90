// Standalone benchmark of the age encryption stage. Usage: npx tsx bench/encryption.ts [MiB]
// 1. The stage alone: MB/s of a passthrough, sha256, encrypt and decrypt over incompressible bytes.
// 2. The same backup with and without encryption: dump-like text -> compression (zlib gzip -6, or
//    the zstd -3 -T0 binary through pipes) -> [age encrypt] -> sha256 -> discard, timed both ways
//    (best of 2, interleaved). Self-contained on purpose; the real pipeline's ratio, with pg_dump,
//    belongs in bench/run.ts.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { createEncryptStream } from '../src/crypto/age-encrypt.ts';
import { measureEncryptionCost } from '../src/crypto/measure-encryption-cost.ts';

const mib = Number(process.argv[2] ?? 256);
if (!Number.isFinite(mib) || mib <= 0) {
  console.error(`usage: npx tsx bench/encryption.ts [MiB > 0], got ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}
const bytes = mib * 1024 * 1024;
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`age encryption benchmark, ${mib} MiB, ${os.cpus().length} CPUs, load average ${load()}`);

const rssBefore = process.memoryUsage().rss;
const stage = await measureEncryptionCost(bytes);
console.log('stage alone:', JSON.stringify({ ...stage, rssGrowthMiB: Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024) }));

// A 4 MiB block of COPY-like rows, repeated: compresses about like a real plain dump.
function dumpBlock(): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let id = 1; size < 4 * 1024 * 1024; id++) {
    const row = `${id}\tcustomer ${id % 977}\t${randomBytes(8).toString('hex')}\t${(id * 37) % 10000}.${id % 100}\t2026-11-${String((id % 28) + 1).padStart(2, '0')} 12:00:00+00\n`;
    rows.push(row);
    size += row.length;
  }
  return Buffer.from(rows.join(''));
}
const block = dumpBlock();
function* dump(): Generator<Buffer> {
  for (let sent = 0; sent < bytes; sent += block.length) yield block.subarray(0, Math.min(block.length, bytes - sent));
}

const recipient = await identityToRecipient(await generateX25519Identity());
type Algorithm = 'zstd' | 'gzip';
function compressor(algorithm: Algorithm): { stream: Duplex; done: Promise<unknown> } {
  if (algorithm === 'gzip') return { stream: zlib.createGzip({ level: 6, chunkSize: 256 * 1024 }), done: Promise.resolve() };
  const child = spawn('zstd', ['-q', '-c', '-3', '-T0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { stream: Duplex.from({ writable: child.stdin, readable: child.stdout }), done };
}

async function backupSeconds(algorithm: Algorithm, encrypt: boolean): Promise<{ seconds: number; stored: number }> {
  const hash = createHash('sha256');
  let stored = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      stored += chunk.length;
      callback();
    },
  });
  const compress = compressor(algorithm);
  const stages: Duplex[] = [compress.stream];
  if (encrypt) stages.push(createEncryptStream({ recipients: [recipient], passphrase: undefined, identity: undefined }));
  const started = performance.now();
  await pipeline([Readable.from(dump()), ...stages, sink]);
  hash.digest();
  await compress.done;
  return { seconds: (performance.now() - started) / 1000, stored };
}

for (const algorithm of ['zstd', 'gzip'] as const) {
  let plain = Infinity;
  let encrypted = Infinity;
  let stored = 0;
  for (let round = 0; round < 2; round++) {
    plain = Math.min(plain, (await backupSeconds(algorithm, false)).seconds);
    const run = await backupSeconds(algorithm, true);
    encrypted = Math.min(encrypted, run.seconds);
    stored = run.stored;
  }
  console.log(
    `${algorithm}: ${mib} MiB of dump -> ${(stored / 1024 / 1024).toFixed(0)} MiB stored; ` +
      `without encryption ${plain.toFixed(2)} s, with ${encrypted.toFixed(2)} s, ratio ${(encrypted / plain).toFixed(3)}`,
  );
}
console.log(`load average at end ${load()} (other work on this machine skews every number)`);
