import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createCompressor, parseZstdReport } from '../../src/backup/compress.ts';
import type { BackupError } from '../../src/errors.ts';
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
    const compressor = await createCompressor({ algorithm: 'zstd', level: 1 });
    assert.equal(compressor.kind, 'process');
    if (compressor.kind !== 'process') return;
    let stored = 0;
    const before = process.memoryUsage().rss;
    const feed = pipeline(source(110), counter, compressor.input);
    await pipeline(
      compressor.output,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          stored += chunk.length;
          cb();
        },
      }),
    );
    await feed;
    const report = await compressor.result;
    assert.equal(report.exitCode, 0);
    assert.equal(counter.bytes, 110 * MiB);
    assert.equal(report.inputBytes, 110 * MiB, 'zstd reports the exact input size');
    assert.equal(report.outputBytes, stored);
    assert.ok(stored > 100_000_000, `zstd wrote ${stored} bytes`);
    assert.ok(process.memoryUsage().rss - before < 80 * MiB, 'memory stays bounded');
  });

  it('says so when the zstd binary is missing', async () => {
    await assert.rejects(createCompressor({ algorithm: 'zstd', level: undefined }, '/nonexistent/zstd'), (e: BackupError) => {
      assert.equal(e.stage, 'compress');
      assert.match(e.shortMessage, /cannot start \/nonexistent\/zstd/);
      return true;
    });
  });

  it('reads the byte counts zstd reports', () => {
    assert.deepEqual(parseZstdReport('/*stdin*\\  : 23.74%   (965738112 B => 229273682 B, /*stdout*\\)'), { inputBytes: 965738112, outputBytes: 229273682, exact: true });
    assert.deepEqual(parseZstdReport('stdin : 23.74%   (965738112 => 229273682 bytes, stdout)'), { inputBytes: 965738112, outputBytes: 229273682, exact: true });
    assert.deepEqual(parseZstdReport('(47.7 MiB => 1.67 KiB, /*stdout*\\)'), { inputBytes: 50017075, outputBytes: 1710, exact: false });
    assert.equal(parseZstdReport('zstd: error'), undefined);
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
