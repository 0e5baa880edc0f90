import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration } from '../../src/util/format.ts';

describe('formatDuration', () => {
  it('rounds before splitting, so a minute or an hour never reads as 60 of the smaller unit', () => {
    assert.equal(formatDuration(599_600), '10 min 0 s');
    assert.equal(formatDuration(3_599_700), '1 h 0 min');
    assert.equal(formatDuration(7_199_999), '2 h 0 min');
  });

  it('keeps its usual forms', () => {
    assert.equal(formatDuration(1_234), '1.23 s');
    assert.equal(formatDuration(42_000), '42.0 s');
    assert.equal(formatDuration(150_000), '2 min 30 s');
    assert.equal(formatDuration(27 * 3_600_000), '27 h 0 min');
    assert.equal(formatDuration(72 * 3_600_000), '3.0 d');
  });
});
