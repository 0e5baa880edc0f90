import type { BackupError, BackupStage, LeftoverUpload } from '../errors.ts';
import type { BackupManifest } from './manifest.ts';

// What one backup run ended as; kept by the service for /status, metrics, the monitor and alerts.
export type BackupTrigger = 'schedule' | 'startup' | 'manual';

interface RunBase {
  runId: string;
  trigger: BackupTrigger;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
}

export interface BackupSuccess extends RunBase {
  status: 'success';
  key: string;
  manifest: BackupManifest;
  // With several destinations: the run at each (every one stored when the run succeeded).
  destinations?: DestinationResult[];
}

// With several destinations, how the run ended at one of them: stored there, or failed there (while
// another destination may hold the copy).
export interface DestinationResult {
  destination: string;
  // The store's description (s3://bucket, dir:/path): where, for people.
  where: string;
  result: BackupSuccess | BackupFailure;
}

export interface BackupFailure extends RunBase {
  status: 'failed';
  stage: BackupStage;
  // One line, for alerts and metrics.
  shortMessage: string;
  error: BackupError;
  // The multipart upload the run could not abort (its parts stay stored until swept).
  leftoverUpload?: LeftoverUpload;
  // With several destinations, when the dump itself succeeded: the run at each (some may hold the copy).
  destinations?: DestinationResult[];
}

export interface BackupSkipped extends RunBase {
  status: 'skipped';
  reason: 'running' | 'locked';
  message: string;
}

// The run was stopped because the service is stopping (a redeploy, SIGTERM): neither a success nor a
// failure, so it is not alerted about and not counted; the next start backs up again. `error` says
// where it was cut off (and the exit code of `backup` stays non-zero).
export interface BackupCancelled extends RunBase {
  status: 'cancelled';
  stage: BackupStage;
  shortMessage: string;
  error: BackupError;
  // Parts of an upload the cut-off run could not abort: the sweep after the restart lists them.
  leftoverUpload?: LeftoverUpload;
}

export type BackupResult = BackupSuccess | BackupFailure | BackupSkipped | BackupCancelled;

// The run as one destination saw it: its own result when the run reached the destinations, else the
// run's (a dump that failed failed everywhere).
export function resultAt(result: BackupResult, destination: string): BackupResult {
  if (result.status !== 'success' && result.status !== 'failed') return result;
  return result.destinations?.find((d) => d.destination === destination)?.result ?? result;
}
