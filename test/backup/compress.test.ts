import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createCompressor } from '../../src/backup/compress.ts';
import { ByteCounter, HashGate } from '../../src/backup/hash.ts';

const MiB = 1024 * 1024;

// `count` MiB-sized chunks of one random MiB: zstd -1 (512 KiB window) cannot shrink it.
function source(count: number): Readable {
  const chunk = randomBytes(MiB);
  let sent = 0;
  return new Readable({
    read() {
      this.push(sent++ < count ? chunk : null);
    },
  });
}

function sink(): { stream: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return {
    chunks,
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  };
}

describe('compression and hashing stages', () => {
  it('streams more than 100 MB of output from zstd without keeping it in memory', async () => {
    const counter = new ByteCounter();
    const compressor = createCompressor({ algorithm: 'zstd', level: 1 });
    let stored = 0;
    const before = process.memoryUsage().rss;
    await pipeline(
      source(110),
      counter,
      compressor.stream,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          stored += chunk.length;
          cb();
        },
      }),
    );
    assert.equal(counter.bytes, 110 * MiB);
    assert.ok(stored > 100_000_000, `zstd wrote ${stored} bytes`);
    assert.ok(process.memoryUsage().rss - before < 80 * MiB, 'memory stays bounded');
  });

  it('fails the stream when the zstd binary is missing', async () => {
    const compressor = createCompressor({ algorithm: 'zstd', level: undefined }, '/nonexistent/zstd');
    await assert.rejects(pipeline(source(1), compressor.stream, sink().stream), /zstd/);
  });

  it('hashes what passes and holds the end until the check passes, or errors instead of ending', async () => {
    const ok = new HashGate(async () => {});
    await pipeline(Readable.from([Buffer.from('abc')]), ok, sink().stream);
    assert.equal(ok.sha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const refused = new HashGate(async () => {
      throw new Error('pg_dump exited 1');
    });
    const out = sink();
    await assert.rejects(pipeline(Readable.from([Buffer.from('abc')]), refused, out.stream), /pg_dump exited 1/);
  });
});
