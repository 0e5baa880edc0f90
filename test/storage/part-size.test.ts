import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePartSize, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, MAX_PARTS } from '../../src/storage/s3-store.ts';

const MiB = 1024 * 1024;
const GB = 1e9;
const TB = 1e12;

describe('choosePartSize', () => {
  it('keeps the 5 MiB minimum for a 1 GB database, so small databases use little memory', () => {
    assert.equal(choosePartSize(1 * GB), 5 * MiB);
    assert.equal(choosePartSize(1_000), 5 * MiB);
  });

  it('grows parts so a 1 TB dump fits in 10,000 parts even if it is twice the hint', () => {
    const part = choosePartSize(1 * TB);
    assert.equal(part % MiB, 0, 'whole MiB');
    assert.ok(part * MAX_PARTS >= 2 * TB, `${part / MiB} MiB parts hold ${(part * MAX_PARTS) / TB} TB`);
    assert.ok(part <= 256 * MiB, `${part / MiB} MiB is more memory than needed`);
    assert.equal(part, 212 * MiB);
  });

  it('sizes parts in between for 100 GB', () => {
    const part = choosePartSize(100 * GB);
    assert.ok(part * MAX_PARTS >= 200 * GB && part < 30 * MiB, `${part / MiB} MiB`);
  });

  it('uses a default that still fits a 1 TB dump when the size is unknown', () => {
    for (const hint of [undefined, 0, -5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(choosePartSize(hint), DEFAULT_PART_SIZE);
    assert.ok(DEFAULT_PART_SIZE * MAX_PARTS >= 1 * TB);
  });

  it('never exceeds the 5 GiB S3 part limit', () => {
    assert.equal(choosePartSize(1e15), 5 * 1024 * MiB);
  });
});

describe('DEFAULT_QUEUE_SIZE', () => {
  it('uploads two parts at once, so three part buffers bound the memory', () => {
    assert.equal(DEFAULT_QUEUE_SIZE, 2);
  });
});
