import type { BackupResult } from '../backup/result.ts';
import type { BackupRunRecord } from './state.ts';

// Turns the backup service's result of one run into what the monitor and the metrics record (pure).
// A run cancelled because the service stops is neither a success nor a failure: nothing is recorded
// (no backup_failed alert for a redeploy, no backup_runs_total count).
export function toBackupRunRecord(result: BackupResult): BackupRunRecord | undefined {
  const base = { startedAt: result.startedAt, finishedAt: result.finishedAt, durationMs: result.durationMs, runId: result.runId };
  switch (result.status) {
    case 'success':
      return { ...base, result: 'success', key: result.key, sizeBytes: result.manifest.size };
    case 'failed':
      return { ...base, result: 'failure', error: result.shortMessage, stage: result.stage };
    case 'skipped':
      return { ...base, result: 'skipped' };
    case 'cancelled':
      return undefined;
  }
}
