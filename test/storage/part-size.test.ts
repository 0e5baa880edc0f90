import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePartSize, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE } from '../../src/storage/s3-store.ts';

const MiB = 1024 * 1024;
const GB = 1e9;
const TB = 1e12;

describe('choosePartSize', () => {
  it('keeps the 5 MiB minimum for a 1 GB database, so small databases use little memory', () => {
    assert.equal(choosePartSize(1 * GB), 5 * MiB);
    assert.equal(choosePartSize(1_000), 5 * MiB);
  });

  it('grows parts with the database only up to 16 MiB, so part buffers stay at 3 × 16 MiB for a 1 TB database', () => {
    assert.equal(choosePartSize(1 * TB), 16 * MiB);
    assert.equal(choosePartSize(1e15), 16 * MiB);
    assert.ok((DEFAULT_QUEUE_SIZE + 1) * choosePartSize(1 * TB) <= 48 * MiB);
  });

  it('sizes parts in between below about 75 GB', () => {
    assert.equal(choosePartSize(50 * GB), 11 * MiB);
    assert.equal(choosePartSize(100 * GB), 16 * MiB);
  });

  it('uses the largest part when the size is unknown (a larger backup is split into several objects)', () => {
    for (const hint of [undefined, 0, -5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(choosePartSize(hint), DEFAULT_PART_SIZE);
    assert.equal(DEFAULT_PART_SIZE, 16 * MiB);
  });
});

describe('DEFAULT_QUEUE_SIZE', () => {
  it('uploads two parts at once, so three part buffers bound the memory', () => {
    assert.equal(DEFAULT_QUEUE_SIZE, 2);
  });
});
