import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { createDecryptStream } from '../../src/crypto/age-decrypt.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { generateKeyPair, keySettings, makeTempDir, patternBytes, runStageOk, type KeyPair } from './age-helpers.ts';

const CHUNK = 64 * 1024;

// Writes `pieces` into `stage` without ending it and returns how many bytes came out meanwhile.
async function bytesOutBeforeEnd(stage: Transform, pieces: Buffer[]): Promise<number> {
  let out = 0;
  stage.on('data', (d: Buffer) => (out += d.length));
  for (const piece of pieces) {
    if (!stage.write(piece)) await once(stage, 'drain');
  }
  await new Promise((resolve) => setImmediate(resolve));
  stage.destroy();
  return out;
}

describe('age streams are streaming', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let key: KeyPair;
  before(async () => {
    temp = await makeTempDir();
    key = await generateKeyPair(temp.dir, 'key');
  });
  after(() => temp.remove());

  it('emits ciphertext for every completed chunk before the input ends', async () => {
    const pieces = Array.from({ length: 16 }, (_, i) => patternBytes(CHUNK, i + 1)); // 1 MiB
    const out = await bytesOutBeforeEnd(createEncryptStream(keySettings([key.recipient])), pieces);
    // All but the last chunk (held back: it may be the final one) are out, with header and tags.
    assert.ok(out >= 15 * (CHUNK + 16), `only ${out} bytes out before the end`);
  });

  it('emits plaintext for every authenticated chunk before the input ends', async () => {
    const plaintext = patternBytes(16 * CHUNK + 10, 3);
    const encrypted = await runStageOk(createEncryptStream(keySettings([key.recipient])), [plaintext]);
    const pieces: Buffer[] = [];
    for (let i = 0; i < encrypted.length - 100; i += 10_000) pieces.push(encrypted.subarray(i, Math.min(i + 10_000, encrypted.length - 100)));
    const out = await bytesOutBeforeEnd(createDecryptStream(keySettings([], key.identity)), pieces);
    assert.ok(out >= 15 * CHUNK, `only ${out} bytes out before the end`);
  });

  it('streams 200 MB through encryption and decryption with small memory growth', async () => {
    const total = 200 * 1024 * 1024;
    const piece = patternBytes(256 * 1024, 99);
    function* source(): Generator<Buffer> {
      for (let sent = 0; sent < total; sent += piece.length) yield piece;
    }
    const expected = createHash('sha256');
    for (let sent = 0; sent < total; sent += piece.length) expected.update(piece);
    const actual = createHash('sha256');
    let received = 0;
    // Memory is judged after a warm-up of the first 50 MiB. V8's young generation and GC timing differ per
    // Node version (Node 24 lets RSS float up to ~40 MiB here), but a stage that buffered its input would
    // hold at least the remaining 150 MiB.
    const warmUp = 50 * 1024 * 1024;
    let rssBefore: number | undefined;
    let rssPeak = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        actual.update(chunk);
        received += chunk.length;
        const rss = process.memoryUsage.rss();
        if (rssBefore === undefined && received >= warmUp) rssBefore = rss;
        if (rssBefore !== undefined) rssPeak = Math.max(rssPeak, rss);
        callback();
      },
    });
    await pipeline(Readable.from(source()), createEncryptStream(keySettings([key.recipient])), createDecryptStream(keySettings([], key.identity)), sink);
    assert.equal(received, total);
    assert.equal(actual.digest('hex'), expected.digest('hex'));
    assert.ok(rssBefore !== undefined);
    const growthMiB = (rssPeak - rssBefore) / 1024 / 1024;
    assert.ok(growthMiB < 100, `RSS grew by ${growthMiB.toFixed(1)} MiB while streaming the last 150 MiB`);
  });
});
