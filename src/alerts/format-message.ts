import type { CheckName, Severity } from '../core/findings.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import type { Notification, NotificationItem, ResolvedItem } from './policy.ts';
import { printableKey } from '../util/printable-key.ts';

// Turns a Notification into channel-neutral text: a subject that says it all, and one entry per alert
// with what, since when, the values and the runbook link. slack-payload.ts and email-body.ts render it.

export interface MessageContext {
  // SENTINEL_NAME: which deployment is talking, e.g. "vlvt-backups".
  name: string;
  // Where the backups are, e.g. "s3://vlvt-backups/db/backup-" (never holds secrets).
  where: string;
  runbookUrl: string;
}

export type EntryStatus = Severity | 'resolved' | 'info';

export interface MessageEntry {
  status: EntryStatus;
  // Absent in test messages.
  check?: CheckName;
  // The backup set (BACKUP_DATABASES, or @globals) the entry is about; absent for one database.
  set?: string;
  // With several destinations: the destination (with sets, the set's).
  destination?: string;
  title: string;
  summary: string;
  // "since 2026-11-27 03:00 UTC (27 h 0 min ago)", "lasted 3 h 5 min", values like "age: 27.1 h".
  details: string[];
  hint?: string;
  runbookUrl: string;
}

interface MessageSection {
  heading: string;
  entries: MessageEntry[];
}

export interface AlertMessage {
  kind: Notification['kind'];
  // The worst thing in the message: drives colour and emoji.
  tone: 'fail' | 'warn' | 'ok' | 'info';
  subject: string;
  sections: MessageSection[];
  // Deployment and location, one line.
  footer: string;
}

const TITLES: Record<CheckName, string> = {
  stale: 'Backups are stale',
  empty: 'Newest backup is empty',
  size_anomaly: 'Backup size anomaly',
  backup_failed: 'Backup run failed',
  storage_unreachable: 'Backup storage unreachable',
  retention: 'Retention is not working',
  verify_failed: 'Backup verification failed',
  drill_failed: 'Restore drill failed',
  alert_channel: 'Alert channel refuses messages',
  incomplete_uploads: 'Incomplete uploads left in storage',
};

const TAGS: Record<Notification['kind'], string> = {
  firing: 'FIRING',
  reminder: 'STILL FIRING',
  resolved: 'RESOLVED',
  test: 'TEST',
};

// The runbook section for a check: RUNBOOK_URL#<check-with-hyphens>, unless RUNBOOK_URL names a section.
export function runbookLink(runbookUrl: string, check: CheckName): string {
  return runbookUrl.includes('#') ? runbookUrl : `${runbookUrl}#${check.replaceAll('_', '-')}`;
}

export function formatMessage(notification: Notification, context: MessageContext): AlertMessage {
  const now = notification.at;
  const sections: MessageSection[] = [];
  const started = notification.started.map((i) => firingEntry(i, now, context));
  const resolved = notification.resolved.map((r) => resolvedEntry(r, context));
  const still = notification.stillFiring.map((i) => firingEntry(i, now, context));
  if (started.length > 0) sections.push({ heading: notification.kind === 'reminder' ? 'Firing' : 'Started', entries: started });
  if (resolved.length > 0) sections.push({ heading: 'Resolved', entries: resolved });
  if (still.length > 0) sections.push({ heading: notification.kind === 'reminder' ? 'Still firing' : 'Also firing', entries: still });
  const firing = [...notification.started, ...notification.stillFiring];
  const tone = firing.some((i) => i.severity === 'fail') ? 'fail' : firing.length > 0 ? 'warn' : notification.kind === 'test' ? 'info' : 'ok';
  return {
    kind: notification.kind,
    tone,
    subject: `[${TAGS[notification.kind]}] ${context.name}: ${subjectText(notification)}`,
    sections,
    footer: `${context.name} · ${context.where}`,
  };
}

// A message that proves a channel works (backup-sentinel alert-test).
export function formatTestMessage(context: MessageContext, at: Date): AlertMessage {
  return {
    kind: 'test',
    tone: 'info',
    subject: `[TEST] ${context.name}: alert delivery works`,
    sections: [
      {
        heading: 'Test',
        entries: [
          {
            status: 'info',
            title: 'Test message',
            summary: `backup-sentinel alert-test sent this at ${formatTime(at)}; no action needed`,
            details: ['alerts for this deployment will arrive here'],
            runbookUrl: context.runbookUrl,
          },
        ],
      },
    ],
    footer: `${context.name} · ${context.where}`,
  };
}

// A summary fit for a subject line: one line, at most 120 characters.
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= 120 ? flat : `${flat.slice(0, 119)}…`;
}

function subjectText(n: Notification): string {
  const more = (count: number): string => (count > 0 ? ` (+${count} more)` : '');
  if (n.kind === 'firing' || n.kind === 'test') {
    const [first, ...rest] = n.started;
    return first === undefined ? 'test' : `${oneLine(first.summary)}${more(rest.length)}`;
  }
  if (n.kind === 'resolved') {
    const [first, ...rest] = n.resolved;
    if (first === undefined) return 'resolved';
    const still = n.stillFiring.length > 0 ? `; ${n.stillFiring.length} still firing` : '';
    return `${TITLES[first.check].toLowerCase()} resolved after ${formatDuration(first.durationMs)}${more(rest.length)}${still}`;
  }
  const [first, ...rest] = n.stillFiring;
  if (first === undefined) return 'reminder';
  return `${oneLine(first.summary)} (firing for ${formatDuration(n.at.getTime() - first.since.getTime())})${more(rest.length)}`;
}

function firingEntry(item: NotificationItem, now: Date, context: MessageContext): MessageEntry {
  const details = [`since ${formatTime(item.since)} (${formatDuration(now.getTime() - item.since.getTime())} ago)`];
  if (item.escalated) details.push('severity rose to fail');
  details.push(...formatValues(item.values));
  const entry: MessageEntry = {
    status: item.severity,
    check: item.check,
    title: TITLES[item.check],
    summary: item.summary,
    details,
    runbookUrl: runbookLink(context.runbookUrl, item.check),
  };
  if (item.set !== undefined) entry.set = item.set;
  if (item.destination !== undefined) entry.destination = item.destination;
  if (item.hint !== undefined) entry.hint = item.hint;
  return entry;
}

function resolvedEntry(item: ResolvedItem, context: MessageContext): MessageEntry {
  return {
    status: 'resolved',
    check: item.check,
    ...(item.set === undefined ? {} : { set: item.set }),
    ...(item.destination === undefined ? {} : { destination: item.destination }),
    title: TITLES[item.check],
    summary: `was: ${item.summary}`,
    details: [`lasted ${formatDuration(item.durationMs)} (${formatTime(item.since)} to ${formatTime(item.endedAt)})`],
    runbookUrl: runbookLink(context.runbookUrl, item.check),
  };
}

// "2026-11-27 03:00 UTC"
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

// Finding values as "label: value" lines; the unit comes from the key's suffix (ageHours, sizeBytes ...).
export function formatValues(values: Record<string, number | string>): string[] {
  return Object.entries(values).map(([key, value]) => {
    const unit = /(Bytes|Hours|Ms|Seconds|Days)$/.exec(key)?.[1];
    const label = humanize(unit === undefined ? key : key.slice(0, -unit.length)) || humanize(key);
    return `${label}: ${formatValue(value, unit)}`;
  });
}

function formatValue(value: number | string, unit: string | undefined): string {
  // String values may be object keys, which are anyone's to name.
  if (typeof value === 'string') return printableKey(value);
  switch (unit) {
    case 'Bytes':
      return `${formatBytes(value)}${Math.abs(value) >= 1024 ? ` (${value} B)` : ''}`;
    case 'Hours':
      return `${round(value)} h`;
    case 'Days':
      return `${round(value)} d`;
    case 'Ms':
      return formatDuration(value);
    case 'Seconds':
      return formatDuration(value * 1000);
    default:
      return String(round(value));
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function humanize(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
}
