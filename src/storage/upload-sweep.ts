import type { LeftoverUpload } from '../errors.ts';
import type { Finding } from '../core/findings.ts';
import type { IncompleteUpload } from './store.ts';

// Pure decisions of the sweep of incomplete multipart uploads (the service is upload-sweeper.ts).

// Older than this, an incomplete upload under our prefix is no backup in progress (a run that long
// would be stopped by BACKUP_STALL_TIMEOUT_MINUTES long before, unless it kept moving for a whole day).
export const SWEEP_MIN_AGE_MS = 24 * 3600_000;

// Which uploads to abort now: those a failed run of ours reported (known), whatever their age, and
// every other one older than minAgeMs. Younger unknown ones may be a backup in progress: kept.
export function selectUploadsToAbort(
  uploads: readonly IncompleteUpload[],
  known: readonly LeftoverUpload[],
  now: Date,
  minAgeMs: number = SWEEP_MIN_AGE_MS,
): IncompleteUpload[] {
  const knownIds = new Set(known.map((u) => u.uploadId));
  return uploads.filter((u) => knownIds.has(u.uploadId) || now.getTime() - u.initiatedAt.getTime() >= minAgeMs);
}

// An upload that should be gone and is not: reported by a failed run, or stale, and not yet aborted.
export interface UnremovedUpload {
  key: string;
  uploadId: string;
  initiatedAt?: Date | undefined;
  reason: 'failed-run' | 'stale';
}

// The incomplete_uploads finding (at most one): warn while any upload that should be gone is not.
export function checkIncompleteUploads(unremoved: readonly UnremovedUpload[], where: string, lastError: string | undefined): Finding[] {
  if (unremoved.length === 0) return [];
  const first = unremoved[0];
  const oldest = unremoved
    .map((u) => u.initiatedAt?.getTime())
    .filter((t): t is number => t !== undefined)
    .sort((a, b) => a - b)[0];
  const values: Record<string, number | string> = { count: unremoved.length, firstKey: first?.key ?? '', firstUploadId: first?.uploadId ?? '' };
  if (oldest !== undefined) values.oldestInitiated = new Date(oldest).toISOString();
  if (lastError !== undefined) values.lastError = lastError;
  const n = unremoved.length;
  return [
    {
      check: 'incomplete_uploads',
      severity: 'warn',
      summary: `${n} incomplete multipart upload${n === 1 ? '' : 's'} under ${where} could not be removed; their parts stay stored and billed`,
      values,
      hint:
        'the service aborts them at its next sweep (at start, daily, and with every hourly check while one is known); if this persists, check that ' +
        'the key may abort multipart uploads (s3:AbortMultipartUpload) and list them (s3:ListBucketMultipartUploads), or add a lifecycle rule that aborts incomplete multipart uploads',
    },
  ];
}
