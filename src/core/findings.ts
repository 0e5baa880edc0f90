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
  // The backup set (database) the finding is about, with BACKUP_DATABASES or SENTINEL_CONFIG; absent
  // for one database and for findings about the whole service (alert channels, the lease).
  set?: string;
  // With several destinations: the destination the finding is about (with sets, the destination of
  // `set`; a storage outage names only the destination).
  destination?: string;
}

// With backup sets and several destinations, each (set, destination) is watched on its own under this
// one name; destination names hold no "@", so the last "@" splits it.
export function pairKey(set: string, destination: string): string {
  return `${set}@${destination}`;
}

export function splitPair(key: string): { set: string; destination: string } {
  const at = key.lastIndexOf('@');
  return { set: key.slice(0, at), destination: key.slice(at + 1) };
}

// The one name of what a finding or alert is about (its alert key and scope): the set, or with a
// destination beside it their pair; a destination alone (a storage outage) is its own name.
export function unitOf(f: { set?: string | undefined; destination?: string | undefined }): string | undefined {
  if (f.destination === undefined) return f.set;
  return f.set === undefined ? f.destination : pairKey(f.set, f.destination);
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
