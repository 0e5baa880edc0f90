import type { MonitorSettings } from '../config/types.ts';
import { formatBytes } from '../util/format.ts';
import type { Finding } from '../core/findings.ts';
import { compareBackups, type BackupObject } from '../core/backup-catalog.ts';

// Size anomaly: the newest backup against the median of the previous SIZE_WINDOW (pure).

export type SizePolicy = Pick<
  MonitorSettings,
  'sizeWindow' | 'sizeDropRatio' | 'sizeGrowthRatio' | 'sizeMinDiffBytes' | 'sizeMinDiffFixed' | 'emptyMaxBytes'
>;

// Below the default floor, the minimum difference is this share of the median.
const MIN_DIFF_MEDIAN_SHARE = 0.5;

// The smallest difference from the median that can count as an anomaly. A fixed floor alone hides
// small databases: with 1 MiB, a 100 KB backup could vanish to 20 KB unnoticed. So by default it is
// SIZE_MIN_DIFF_BYTES or half the median, whichever is smaller: a small database is judged by the ratios
// (which already demand a change of half the median for a drop at the default 0.5), while on a large
// one the floor still keeps tightened ratios from flagging noise. Set explicitly, SIZE_MIN_DIFF_BYTES is
// the floor exactly (an operator who silenced a small database keeps it silent).
export function minSizeDiff(medianBytes: number, policy: Pick<SizePolicy, 'sizeMinDiffBytes' | 'sizeMinDiffFixed'>): number {
  if (policy.sizeMinDiffFixed === true) return policy.sizeMinDiffBytes;
  return Math.min(policy.sizeMinDiffBytes, Math.floor(MIN_DIFF_MEDIAN_SHARE * medianBytes));
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

// The sizes the newest backup is compared with: the previous `sizeWindow` backups, leaving out empty
// ones (a failed 0-byte run must not drag the baseline down; the empty check reports those).
export function baselineSizes(backups: readonly BackupObject[], policy: SizePolicy): number[] {
  const sorted = [...backups].sort(compareBackups);
  return sorted
    .slice(0, -1)
    .filter((b) => b.size > policy.emptyMaxBytes)
    .slice(-policy.sizeWindow)
    .map((b) => b.size);
}

// A warn finding when the newest size is below median * dropRatio or above median * growthRatio, and
// at least minSizeDiff away from the median. Needs one previous non-empty backup; an empty newest
// backup is left to the empty check.
export function checkSizeAnomaly(backups: readonly BackupObject[], policy: SizePolicy): Finding | undefined {
  const newest = [...backups].sort(compareBackups).at(-1);
  if (newest === undefined || newest.size <= policy.emptyMaxBytes) return undefined;
  const baseline = baselineSizes(backups, policy);
  const mid = median(baseline);
  if (mid === undefined || mid <= 0) return undefined;
  const ratio = newest.size / mid;
  const diff = Math.abs(newest.size - mid);
  const minDiff = minSizeDiff(mid, policy);
  if (diff < minDiff) return undefined;
  let direction: 'drop' | 'growth';
  if (ratio < policy.sizeDropRatio) direction = 'drop';
  else if (ratio > policy.sizeGrowthRatio) direction = 'growth';
  else return undefined;
  const percent = Math.round(ratio * 100);
  const summary =
    direction === 'drop'
      ? `newest backup is ${formatBytes(newest.size)}, ${percent}% of the median ${formatBytes(mid)} of the previous ${baseline.length} (limit ${Math.round(policy.sizeDropRatio * 100)}%)`
      : `newest backup is ${formatBytes(newest.size)}, ${ratio.toFixed(1)}x the median ${formatBytes(mid)} of the previous ${baseline.length} (limit ${policy.sizeGrowthRatio}x)`;
  return {
    check: 'size_anomaly',
    severity: 'warn',
    summary,
    values: {
      key: newest.key,
      direction,
      sizeBytes: newest.size,
      medianBytes: mid,
      ratio: Math.round(ratio * 1000) / 1000,
      window: baseline.length,
      dropRatio: policy.sizeDropRatio,
      growthRatio: policy.sizeGrowthRatio,
      minDiffBytes: minDiff,
    },
    hint:
      direction === 'drop'
        ? 'a much smaller dump often means tables were dropped or pg_dump saw another database; restore it into a scratch database and compare with the previous one'
        : 'a much larger dump may be normal after a data import; otherwise look for runaway tables (logs, queues) or a changed BACKUP_OPTIONS',
  };
}
