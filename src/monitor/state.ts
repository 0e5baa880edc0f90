import type { BackupRunOutcome, MonitorPolicy } from './checks.ts';
import type { Finding } from '../core/findings.ts';
import type { InventorySnapshot, RefreshResult } from './listing.ts';
import type { BackupObject } from '../core/backup-catalog.ts';

// The state the monitor keeps in memory, and what /metrics, /health and /status read from it (pure).

export type BackupRunResult = 'success' | 'failure' | 'skipped';
export const BACKUP_RUN_RESULTS: readonly BackupRunResult[] = ['success', 'failure', 'skipped'];

// One finished backup run as the backup service reports it to the monitor and the metrics.
export interface BackupRunRecord {
  result: BackupRunResult;
  startedAt: Date;
  finishedAt: Date;
  // Stored bytes, for successful runs.
  sizeBytes?: number;
  durationMs?: number;
  key?: string;
  // One line (BackupError.shortMessage) and the failed stage, for failures.
  error?: string;
  stage?: string;
  runId?: string;
}

export interface BackupRunState {
  lastAttempt: BackupRunRecord | undefined;
  lastSuccess: BackupRunRecord | undefined;
  // Runs by result since the process started.
  runs: Record<BackupRunResult, number>;
  // The latest finished runs (not skipped ones), oldest first: their durations for the status page.
  recentRuns: readonly BackupRunRecord[];
}

// How many backups (and finished runs) the monitor keeps in memory for the status page's chart.
export const RECENT_BACKUPS_KEPT = 60;

export function emptyBackupRunState(): BackupRunState {
  return { lastAttempt: undefined, lastSuccess: undefined, runs: { success: 0, failure: 0, skipped: 0 }, recentRuns: [] };
}

// Folds one run into the state; a skipped run (one was already in progress) is counted but is not
// an attempt of its own.
export function applyBackupRun(state: BackupRunState, run: BackupRunRecord): BackupRunState {
  const runs = { ...state.runs, [run.result]: state.runs[run.result] + 1 };
  if (run.result === 'skipped') return { ...state, runs };
  const recentRuns = [...state.recentRuns, run].slice(-RECENT_BACKUPS_KEPT);
  return { lastAttempt: run, lastSuccess: run.result === 'success' ? run : state.lastSuccess, runs, recentRuns };
}

// What the backup_failed check needs from the last attempt.
export function lastRunOutcome(state: BackupRunState): BackupRunOutcome | undefined {
  const run = state.lastAttempt;
  if (run === undefined) return undefined;
  const outcome: BackupRunOutcome = { ok: run.result === 'success', finishedAt: run.finishedAt };
  if (run.error !== undefined) outcome.error = run.error;
  if (run.stage !== undefined) outcome.stage = run.stage;
  if (run.runId !== undefined) outcome.runId = run.runId;
  return outcome;
}

// The result of one check.
export interface CheckResult {
  at: Date;
  // The listing succeeded (false: a storage_unreachable finding says why).
  ok: boolean;
  durationMs: number;
  findings: Finding[];
  listing: RefreshResult | undefined;
  // Shown in /health and metrics but not for alerting: the check at start while the first backup runs.
  quiet?: true;
}

// Everything the monitor holds, as one read-only value.
export interface MonitorSnapshot {
  policy: MonitorPolicy;
  // Where backups are looked for, e.g. "s3://bucket/db/backup-" (never secret).
  where: string;
  lastCheck: CheckResult | undefined;
  lastSuccessfulCheckAt: Date | undefined;
  // Storage answered a listing at least once since start (readiness).
  storageReached: boolean;
  inventory: InventorySnapshot;
  backupRuns: BackupRunState;
  nextCheckAt: Date | undefined;
}

function describeBackup(b: BackupObject, now: Date): Record<string, unknown> {
  return {
    key: b.key,
    sizeBytes: b.size,
    time: b.time.toISOString(),
    timeFrom: b.timeSource,
    ageHours: Math.round(((now.getTime() - b.time.getTime()) / 3_600_000) * 10) / 10,
    ours: b.ours,
  };
}

// /status lists this many recent backups (the status page charts more).
const STATUS_RECENT = 10;

// JSON for people (/status and `check --json`): newest backups, findings, thresholds, next runs.
export function buildStatus(snapshot: MonitorSnapshot, now: Date, extra: { nextBackupAt?: Date | undefined } = {}): Record<string, unknown> {
  const { inventory, lastCheck, backupRuns, policy } = snapshot;
  return {
    storage: snapshot.where,
    findings: lastCheck?.findings ?? [],
    lastCheck: lastCheck === undefined
      ? null
      : { at: lastCheck.at.toISOString(), ok: lastCheck.ok, durationMs: lastCheck.durationMs, listing: lastCheck.listing ?? null },
    nextCheckAt: snapshot.nextCheckAt?.toISOString() ?? null,
    nextBackupAt: extra.nextBackupAt?.toISOString() ?? null,
    backups: {
      count: inventory.count,
      totalBytes: inventory.totalBytes,
      newest: inventory.newest ? describeBackup(inventory.newest, now) : null,
      oldest: inventory.oldest ? describeBackup(inventory.oldest, now) : null,
      recent: inventory.recent.slice(-Math.max(policy.sizeWindow + 1, STATUS_RECENT)).reverse().map((b) => describeBackup(b, now)),
      listedAt: inventory.listedAt?.toISOString() ?? null,
      fullListingAt: inventory.fullListingAt?.toISOString() ?? null,
    },
    lastBackupRun: backupRuns.lastAttempt ?? null,
    lastSuccessfulBackupRun: backupRuns.lastSuccess ?? null,
    thresholds: {
      maxBackupAgeHours: policy.maxAgeHours,
      sizeWindow: policy.sizeWindow,
      sizeDropRatio: policy.sizeDropRatio,
      sizeGrowthRatio: policy.sizeGrowthRatio,
      sizeMinDiffBytes: policy.sizeMinDiffBytes,
      emptyBackupMaxBytes: policy.emptyMaxBytes,
    },
  };
}
