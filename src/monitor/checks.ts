import type { MonitorSettings } from '../config/types.ts';
import type { StorageErrorCode } from '../errors.ts';
import { formatBytes } from '../util/format.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import { compareBackups, type BackupObject } from '../core/backup-catalog.ts';
import { checkSizeAnomaly } from './size-anomaly.ts';
import { printableKey } from '../util/printable-key.ts';

// The monitor's decisions: pure functions of (what storage holds, policy, now). No I/O, no clock.

export type MonitorPolicy = Omit<MonitorSettings, 'cron'>;

// The checks this monitor evaluates (others, like retention, come from other components).
export const MONITOR_CHECKS: readonly CheckName[] = ['stale', 'empty', 'size_anomaly', 'backup_failed', 'storage_unreachable'];
// The checks that judge what storage holds: unknown while storage cannot be listed.
export const STORAGE_CHECKS: readonly CheckName[] = ['stale', 'empty', 'size_anomaly'];

// This process's last backup run, as far as the monitor needs it.
export interface BackupRunOutcome {
  ok: boolean;
  finishedAt: Date;
  // One line, for failed runs (BackupError.shortMessage).
  error?: string;
  stage?: string;
  runId?: string;
}

// Why listing the storage failed.
export interface StorageFailure {
  code: StorageErrorCode;
  message: string;
  hint?: string;
}

export interface CheckInput {
  // The recent backups in storage (any order); the newest and the previous sizeWindow are enough.
  backups: readonly BackupObject[];
  // Set when the listing failed: then the stored backups are unknown, so storage_unreachable is
  // reported and the previous check's stale/empty/size findings are kept as they were (neither raised
  // from old data nor falsely resolved).
  storageFailure?: StorageFailure | undefined;
  previousFindings?: readonly Finding[] | undefined;
  lastRun?: BackupRunOutcome | undefined;
  // Where the backups are looked for, for messages (e.g. "s3://bucket/db/backup-"); never secret.
  where?: string;
}

const HOUR_MS = 3_600_000;

// Every finding for this state, worst first; an empty array means all clear.
export function evaluate(input: CheckInput, policy: MonitorPolicy, now: Date): Finding[] {
  const findings: Finding[] = [];
  if (input.storageFailure !== undefined) {
    findings.push(checkStorageUnreachable(input.storageFailure, input.where));
    findings.push(...(input.previousFindings ?? []).filter((f) => STORAGE_CHECKS.includes(f.check)));
  } else {
    const newest = newestBackup(input.backups);
    const stale = checkStale(newest, policy, now, input.where);
    if (stale) findings.push(stale);
    const empty = checkEmpty(newest, policy);
    if (empty) findings.push(empty);
    const anomaly = checkSizeAnomaly(input.backups, policy);
    if (anomaly) findings.push(anomaly);
  }
  const failed = checkBackupFailed(input.lastRun);
  if (failed) findings.push(failed);
  return findings.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'fail' ? -1 : 1));
}

function newestBackup(backups: readonly BackupObject[]): BackupObject | undefined {
  let newest: BackupObject | undefined;
  for (const b of backups) if (newest === undefined || compareBackups(b, newest) > 0) newest = b;
  return newest;
}

function hours(ms: number): number {
  return Math.round((ms / HOUR_MS) * 10) / 10;
}

// stale: no backup at all, or the newest is older than MAX_BACKUP_AGE_HOURS.
export function checkStale(newest: BackupObject | undefined, policy: Pick<MonitorPolicy, 'maxAgeHours'>, now: Date, where = 'storage'): Finding | undefined {
  if (newest === undefined) {
    return {
      check: 'stale',
      severity: 'fail',
      summary: `no backup found in ${where}`,
      values: { limitHours: policy.maxAgeHours, count: 0 },
      hint: 'check that backups are being taken (logs of the backup job) and that BUCKET_SUBFOLDER and BACKUP_FILE_PREFIX match the names they are written under',
    };
  }
  const ageMs = now.getTime() - newest.time.getTime();
  if (ageMs <= policy.maxAgeHours * HOUR_MS) return undefined;
  return {
    check: 'stale',
    severity: 'fail',
    summary: `newest backup is ${hours(ageMs)} h old (limit ${policy.maxAgeHours} h): ${printableKey(newest.key)}`,
    values: {
      ageHours: hours(ageMs),
      limitHours: policy.maxAgeHours,
      newestKey: newest.key,
      newestTime: newest.time.toISOString(),
    },
    hint: 'backups stopped: look at the backup job (its logs, BACKUP_CRON_SCHEDULE, whether it is running at all), then take one now with `backup-sentinel backup`',
  };
}

// empty: the newest backup is 0 bytes or no larger than an empty compressed dump.
function checkEmpty(newest: BackupObject | undefined, policy: Pick<MonitorPolicy, 'emptyMaxBytes'>): Finding | undefined {
  if (newest === undefined || newest.size > policy.emptyMaxBytes) return undefined;
  return {
    check: 'empty',
    severity: 'fail',
    summary: `newest backup is ${formatBytes(newest.size)} (no larger than ${formatBytes(policy.emptyMaxBytes)}, an empty dump): ${printableKey(newest.key)}`,
    values: { sizeBytes: newest.size, limitBytes: policy.emptyMaxBytes, key: newest.key },
    hint: 'the dump holds no data: check that BACKUP_DATABASE_URL names the right database and that the job\'s user may read its tables (EMPTY_BACKUP_MAX_BYTES sets the limit)',
  };
}

// backup_failed: this process's last run failed (reported at once, not at the next hourly check).
function checkBackupFailed(lastRun: BackupRunOutcome | undefined): Finding | undefined {
  if (lastRun === undefined || lastRun.ok) return undefined;
  const values: Record<string, string | number> = { finishedAt: lastRun.finishedAt.toISOString() };
  if (lastRun.stage !== undefined) values.stage = lastRun.stage;
  if (lastRun.runId !== undefined) values.runId = lastRun.runId;
  return {
    check: 'backup_failed',
    severity: 'fail',
    summary: `last backup run failed${lastRun.stage ? ` at ${lastRun.stage}` : ''}: ${lastRun.error ?? 'unknown error'}`,
    values,
    hint: 'read the service logs for this run id; fix the cause, then run `backup-sentinel backup` to take one now',
  };
}

const STORAGE_HINTS: Partial<Record<StorageErrorCode, string>> = {
  AccessDenied: 'the credentials may not list the bucket: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the key is allowed s3:ListBucket on it',
  InvalidCredentials: 'the access key is not known to the storage: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (R2: an R2 API token\'s S3 credentials)',
  NoSuchBucket: 'the bucket does not exist at this endpoint: check AWS_S3_BUCKET, AWS_S3_ENDPOINT and AWS_S3_REGION',
  Network: 'the storage endpoint cannot be reached: check AWS_S3_ENDPOINT (scheme, host, port), DNS and outbound firewall rules',
};

// storage_unreachable: listing failed; carries the error code and what to do.
function checkStorageUnreachable(failure: StorageFailure, where = 'storage'): Finding {
  return {
    check: 'storage_unreachable',
    severity: 'fail',
    summary: `cannot list ${where}: ${failure.code}: ${failure.message}`,
    values: { code: failure.code },
    hint: STORAGE_HINTS[failure.code] ?? failure.hint ?? 'check the storage settings (AWS_S3_* or BACKUP_DIR) and the service logs',
  };
}
