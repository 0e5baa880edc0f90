import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate, type CheckInput, type MonitorPolicy } from '../../src/monitor/checks.ts';
import type { CheckName } from '../../src/core/findings.ts';
import type { BackupObject } from '../../src/core/backup-catalog.ts';
import { median, minSizeDiff } from '../../src/monitor/size-anomaly.ts';

const MiB = 1024 * 1024;
const HOUR = 3_600_000;
const NOW = new Date('2026-03-10T12:00:00Z');

const POLICY: MonitorPolicy = {
  maxAgeHours: 25,
  sizeWindow: 7,
  sizeDropRatio: 0.5,
  sizeGrowthRatio: 3,
  sizeMinDiffBytes: MiB,
  emptyMaxBytes: 1024,
};

// Daily backups, the newest `newestAgeHours` old, sizes given oldest first.
function daily(sizes: number[], newestAgeHours = 9): BackupObject[] {
  return sizes.map((size, i) => {
    const time = new Date(NOW.getTime() - (newestAgeHours + 24 * (sizes.length - 1 - i)) * HOUR);
    return { key: `backup-${time.toISOString()}.sql.gz`, size, time, timeSource: 'name', lastModified: time, ours: true };
  });
}

interface Case {
  title: string;
  input: CheckInput;
  policy?: Partial<MonitorPolicy>;
  expect: CheckName[];
}

const steady = Array.from({ length: 8 }, () => 100 * MiB);

const CASES: Case[] = [
  { title: 'eight steady daily backups, newest 9 h old, are all clear', input: { backups: daily(steady) }, expect: [] },
  { title: 'no backup at all is stale', input: { backups: [] }, expect: ['stale'] },
  { title: 'a newest backup 24.9 h old is not stale', input: { backups: daily(steady, 24.9) }, expect: [] },
  { title: 'a newest backup 25.1 h old is stale', input: { backups: daily(steady, 25.1) }, expect: ['stale'] },
  { title: 'MAX_BACKUP_AGE_HOURS=2 makes a 3 h old backup stale', input: { backups: daily(steady, 3) }, policy: { maxAgeHours: 2 }, expect: ['stale'] },
  { title: 'a backup dated in the future (clock skew) is not stale', input: { backups: daily(steady, -2) }, expect: [] },
  { title: 'a 0-byte newest backup is empty', input: { backups: daily([...steady.slice(1), 0]) }, expect: ['empty'] },
  { title: 'a newest backup of exactly EMPTY_BACKUP_MAX_BYTES is empty', input: { backups: daily([...steady.slice(1), 1024]) }, expect: ['empty'] },
  { title: 'a single tiny backup is empty but not an anomaly', input: { backups: daily([20]) }, expect: ['empty'] },
  { title: 'an old empty backup that is not the newest is ignored', input: { backups: daily([0, ...steady.slice(1)]) }, expect: [] },
  { title: 'a stale and empty newest backup gives both findings', input: { backups: daily([0], 30) }, expect: ['stale', 'empty'] },
  { title: 'a 50% drop is not below the 0.5 ratio', input: { backups: daily([...steady.slice(1), 50 * MiB]) }, expect: [] },
  { title: 'a drop to 49% of the median is a size anomaly', input: { backups: daily([...steady.slice(1), 49 * MiB]) }, expect: ['size_anomaly'] },
  { title: 'a jump to 3x the median is not above the 3x ratio', input: { backups: daily([...steady.slice(1), 300 * MiB]) }, expect: [] },
  { title: 'a jump to 3.1x the median is a size anomaly', input: { backups: daily([...steady.slice(1), 310 * MiB]) }, expect: ['size_anomaly'] },
  {
    title: 'normal growth of 2% a day for a week is not an anomaly',
    input: { backups: daily(steady.map((_, i) => Math.round(100 * MiB * 1.02 ** i))) },
    expect: [],
  },
  // The minimum difference is SIZE_MIN_DIFF_BYTES or half the median, whichever is smaller (unless set).
  { title: 'a 100 KB database dropping 80% to 20 KB is a size anomaly (the floor scales with the median)', input: { backups: daily([100e3, 100e3, 100e3, 20e3]) }, expect: ['size_anomaly'] },
  { title: 'a 40 KB database dropping to 10 KB is a size anomaly', input: { backups: daily([40e3, 40e3, 40e3, 10e3]) }, expect: ['size_anomaly'] },
  { title: 'a 20 KB database growing to 70 KB (3.5x) is a size anomaly', input: { backups: daily([20e3, 20e3, 20e3, 70e3]) }, expect: ['size_anomaly'] },
  { title: 'a 100 KB database at 55 KB is within the ratios', input: { backups: daily([100e3, 100e3, 100e3, 55e3]) }, expect: [] },
  {
    title: 'with a tightened SIZE_DROP_RATIO, a small database\'s 20% dip stays below half the median',
    input: { backups: daily([100e3, 100e3, 100e3, 80e3]) },
    policy: { sizeDropRatio: 0.9 },
    expect: [],
  },
  {
    title: 'with a tightened SIZE_DROP_RATIO, a large database\'s noise stays below SIZE_MIN_DIFF_BYTES',
    input: { backups: daily([...steady.slice(1), 99.5 * MiB]) },
    policy: { sizeDropRatio: 0.999 },
    expect: [],
  },
  {
    title: 'with a tightened SIZE_DROP_RATIO, a large database\'s drop beyond SIZE_MIN_DIFF_BYTES counts',
    input: { backups: daily([...steady.slice(1), 98 * MiB]) },
    policy: { sizeDropRatio: 0.999 },
    expect: ['size_anomaly'],
  },
  {
    title: 'SIZE_MIN_DIFF_BYTES set explicitly is the floor exactly: a 40 KB database dropping to 10 KB stays quiet',
    input: { backups: daily([40e3, 40e3, 40e3, 10e3]) },
    policy: { sizeMinDiffFixed: true },
    expect: [],
  },
  {
    title: 'SIZE_MIN_DIFF_BYTES=0 set explicitly lets a small database\'s drop count',
    input: { backups: daily([40e3, 40e3, 40e3, 10e3]) },
    policy: { sizeMinDiffBytes: 0, sizeMinDiffFixed: true },
    expect: ['size_anomaly'],
  },
  { title: 'one previous backup is enough for a median', input: { backups: daily([100 * MiB, 10 * MiB]) }, expect: ['size_anomaly'] },
  {
    title: 'the median ignores one outlier among the previous backups',
    input: { backups: daily([100 * MiB, 100 * MiB, 5 * MiB, 100 * MiB, 100 * MiB, 100 * MiB]) },
    expect: [],
  },
  {
    title: 'only the previous SIZE_WINDOW backups form the baseline',
    input: { backups: daily([10 * MiB, 10 * MiB, 10 * MiB, 100 * MiB, 100 * MiB, 100 * MiB]) },
    policy: { sizeWindow: 2 },
    expect: [],
  },
  {
    title: 'a wider window sees the same history as a growth anomaly',
    input: { backups: daily([10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB, 100 * MiB]) },
    expect: ['size_anomaly'],
  },
  {
    title: 'empty previous backups do not drag the median down',
    input: { backups: daily([100 * MiB, 0, 0, 0, 100 * MiB]) },
    expect: [],
  },
  {
    title: 'a failed last run is backup_failed even when storage looks fine',
    input: { backups: daily(steady), lastRun: { ok: false, finishedAt: NOW, error: 'pg_dump exited with code 1', stage: 'dump' } },
    expect: ['backup_failed'],
  },
  { title: 'a successful last run is clear', input: { backups: daily(steady), lastRun: { ok: true, finishedAt: NOW } }, expect: [] },
  {
    title: 'a listing failure reports storage_unreachable only, not stale',
    input: { backups: [], storageFailure: { code: 'AccessDenied', message: 'Access Denied' } },
    expect: ['storage_unreachable'],
  },
  {
    title: 'a listing failure and a failed run give both findings',
    input: { backups: [], storageFailure: { code: 'Network', message: 'connect ECONNREFUSED' }, lastRun: { ok: false, finishedAt: NOW } },
    expect: ['storage_unreachable', 'backup_failed'],
  },
];

describe('freshness checks (pure)', () => {
  for (const c of CASES) {
    it(c.title, () => {
      const findings = evaluate(c.input, { ...POLICY, ...c.policy }, NOW);
      assert.deepEqual(findings.map((f) => f.check).sort(), [...c.expect].sort(), JSON.stringify(findings, null, 1));
    });
  }

  it('a stale finding carries the age, the limit and the newest key', () => {
    const backups = daily(steady, 27.26);
    const [finding] = evaluate({ backups }, POLICY, NOW);
    assert.equal(finding?.check, 'stale');
    assert.equal(finding?.severity, 'fail');
    assert.equal(finding?.values.ageHours, 27.3);
    assert.equal(finding?.values.limitHours, 25);
    assert.equal(finding?.values.newestKey, backups.at(-1)?.key);
    assert.match(finding?.summary ?? '', /27\.3 h old \(limit 25 h\)/);
  });

  it('a stale finding without any backup names where it looked', () => {
    const [finding] = evaluate({ backups: [], where: 's3://bucket/db/backup-' }, POLICY, NOW);
    assert.equal(finding?.summary, 'no backup found in s3://bucket/db/backup-');
    assert.equal(finding?.values.count, 0);
  });

  it('a size anomaly is a warning with ratio, median and direction', () => {
    const [finding] = evaluate({ backups: daily([...steady.slice(1), 40 * MiB]) }, POLICY, NOW);
    assert.equal(finding?.severity, 'warn');
    assert.equal(finding?.values.direction, 'drop');
    assert.equal(finding?.values.ratio, 0.4);
    assert.equal(finding?.values.medianBytes, 100 * MiB);
    assert.equal(finding?.values.window, 7);
    assert.match(finding?.summary ?? '', /40% of the median 100 MiB of the previous 7/);
  });

  it('storage_unreachable carries the error code and a hint naming the settings to check', () => {
    const cases = [
      ['AccessDenied', /AWS_ACCESS_KEY_ID/],
      ['NoSuchBucket', /AWS_S3_BUCKET/],
      ['Network', /AWS_S3_ENDPOINT/],
      ['InvalidCredentials', /AWS_SECRET_ACCESS_KEY/],
    ] as const;
    for (const [code, hint] of cases) {
      const [finding] = evaluate({ backups: [], storageFailure: { code, message: 'x' } }, POLICY, NOW);
      assert.equal(finding?.values.code, code);
      assert.equal(finding?.severity, 'fail');
      assert.match(finding?.hint ?? '', hint);
    }
    const [unknown] = evaluate({ backups: [], storageFailure: { code: 'Unknown', message: 'x', hint: 'adapter hint' } }, POLICY, NOW);
    assert.equal(unknown?.hint, 'adapter hint');
  });

  it('while storage cannot be listed, the previous storage findings are kept, not resolved or re-judged', () => {
    const previous = evaluate({ backups: daily([...steady.slice(1), 10 * MiB], 30), lastRun: { ok: false, finishedAt: NOW } }, POLICY, NOW);
    assert.deepEqual(previous.map((f) => f.check).sort(), ['backup_failed', 'size_anomaly', 'stale']);
    const later = new Date(NOW.getTime() + 5 * HOUR);
    const findings = evaluate({ backups: [], storageFailure: { code: 'Network', message: 'down' }, previousFindings: previous }, POLICY, later);
    assert.deepEqual(findings.map((f) => f.check).sort(), ['size_anomaly', 'stale', 'storage_unreachable']);
    assert.deepEqual(findings.find((f) => f.check === 'stale'), previous.find((f) => f.check === 'stale'));
    const clear = evaluate({ backups: [], storageFailure: { code: 'Network', message: 'down' }, previousFindings: [] }, POLICY, later);
    assert.deepEqual(clear.map((f) => f.check), ['storage_unreachable']);
  });

  it('failures sort before warnings', () => {
    const findings = evaluate({ backups: daily([...steady.slice(1), 10 * MiB], 30) }, POLICY, NOW);
    assert.deepEqual(findings.map((f) => f.check), ['stale', 'size_anomaly']);
  });

  it('the newest backup is chosen by time, not by list order', () => {
    const backups = daily(steady).reverse();
    assert.deepEqual(evaluate({ backups }, POLICY, NOW), []);
  });

  it('the minimum difference is SIZE_MIN_DIFF_BYTES or half the median, whichever is smaller, unless set explicitly', () => {
    assert.equal(minSizeDiff(100e3, { sizeMinDiffBytes: MiB }), 50e3);
    assert.equal(minSizeDiff(2 * MiB, { sizeMinDiffBytes: MiB }), MiB);
    assert.equal(minSizeDiff(100 * MiB, { sizeMinDiffBytes: MiB }), MiB);
    assert.equal(minSizeDiff(101, { sizeMinDiffBytes: MiB }), 50);
    assert.equal(minSizeDiff(100e3, { sizeMinDiffBytes: MiB, sizeMinDiffFixed: true }), MiB);
    assert.equal(minSizeDiff(100 * MiB, { sizeMinDiffBytes: 0, sizeMinDiffFixed: true }), 0);
    const [finding] = evaluate({ backups: daily([100e3, 100e3, 100e3, 20e3]) }, POLICY, NOW);
    assert.equal(finding?.values.minDiffBytes, 50e3);
    assert.match(finding?.summary ?? '', /20% of the median/);
  });

  it('median of even and odd counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([]), undefined);
  });
});
