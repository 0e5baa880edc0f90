import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareWithDump, compareWithEstimates, describeMismatch, findVanishedTables } from '../../src/restore/compare.ts';

describe('table and row comparisons', () => {
  it('finds the tables of the previous backup that the newest lacks, and ignores new ones', () => {
    assert.deepEqual(findVanishedTables(['public.a', 'public.b', 'audit.c'], ['public.a', 'public.new']), ['public.b', 'audit.c']);
    assert.deepEqual(findVanishedTables([], ['public.a']), []);
  });

  it('requires restored counts to equal the rows the dump loaded', () => {
    const mismatches = compareWithDump(new Map([['public.a', 10], ['public.b', 4]]), new Map([['public.a', 10], ['public.b', 5], ['public.odd', 1]]));
    assert.deepEqual(mismatches.map(describeMismatch), ['public.b has 4 rows after restoring, the dump loaded 5']);
  });

  it('accepts counts within the tolerance of the estimates and flags gross differences', () => {
    const restored = new Map([['small', 5], ['grew', 100_000], ['ok', 9_000], ['emptied', 0]]);
    const estimates = new Map<string, number | undefined>([
      ['small', 900], // within the 1,000-row floor
      ['grew', 300_000], // off by 200,000 > 50 %
      ['ok', 12_000], // off by 3,000 <= 6,000
      ['emptied', 50_000],
      ['unknown', undefined],
      ['missing big', 20_000],
      ['missing small', 10],
    ]);
    const found = compareWithEstimates(restored, estimates, { ratio: 0.5, minRows: 1000 }).map((m) => m.table);
    assert.deepEqual(found, ['grew', 'emptied', 'missing big']);
  });
});
