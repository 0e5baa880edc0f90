// The shared vocabulary of problems the service reports: the monitor produces findings, alerts notify
// about them, /health and metrics expose them.

export type CheckName =
  | 'stale'
  | 'empty'
  | 'size_anomaly'
  | 'backup_failed'
  | 'storage_unreachable'
  | 'retention'
  | 'verify_failed'
  | 'drill_failed'
  // An alert channel refuses every message (revoked webhook, SMTP login refused): raised by the alert service.
  | 'alert_channel'
  | 'incomplete_uploads';

export type Severity = 'warn' | 'fail';

export interface Finding {
  check: CheckName;
  severity: Severity;
  // One line for people, e.g. "no new backup for 27 h (limit 25 h)".
  summary: string;
  // The values that triggered it, e.g. { ageHours: 27.1, limitHours: 25 }.
  values: Record<string, number | string>;
  hint?: string;
  // The backup set (database) the finding is about, with BACKUP_DATABASES, or the destination, with
  // several destinations; absent for one database in one place and for findings about the whole
  // service (alert channels, the lease).
  set?: string;
}

export const ALL_CHECKS: readonly CheckName[] = [
  'stale',
  'empty',
  'size_anomaly',
  'backup_failed',
  'storage_unreachable',
  'retention',
  'verify_failed',
  'drill_failed',
  'alert_channel',
  'incomplete_uploads',
];
