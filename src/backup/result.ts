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
}

export interface BackupFailure extends RunBase {
  status: 'failed';
  stage: BackupStage;
  // One line, for alerts and metrics.
  shortMessage: string;
  error: BackupError;
  // The multipart upload the run could not abort (its parts stay stored until swept).
  leftoverUpload?: LeftoverUpload;
}

export interface BackupSkipped extends RunBase {
  status: 'skipped';
  reason: 'running' | 'locked';
  message: string;
}

export type BackupResult = BackupSuccess | BackupFailure | BackupSkipped;
