import type { CheckName } from '../core/findings.ts';
import type { AlertMessage, EntryStatus } from './format-message.ts';

// The generic webhook's JSON body, version 1 (docs/alerts.md documents it field by field). Fields may
// be added within a version; a change that removes or redefines one raises `version`.

export const WEBHOOK_PAYLOAD_VERSION = 1;

interface WebhookAlert {
  // firing (fail or warn), resolved, or info (a test message).
  state: 'firing' | 'resolved' | 'info';
  // fail or warn while firing; null for resolved and info entries.
  severity: 'fail' | 'warn' | null;
  check: CheckName | null;
  // The backup set it is about (a database under BACKUP_DATABASES, or "@globals"); null for one database.
  set: string | null;
  // With several destinations: the destination (with sets, the set's; absent with one destination).
  destination?: string;
  // The message section it is listed in: "Started", "Firing", "Still firing", "Also firing", "Resolved", "Test".
  section: string;
  title: string;
  summary: string;
  details: string[];
  // What to do, when the check knows.
  hint: string | null;
  runbookUrl: string;
}

export interface WebhookPayload {
  version: typeof WEBHOOK_PAYLOAD_VERSION;
  // firing: something started; reminder: still firing after ALERT_REPEAT_HOURS; resolved; test: alert-test.
  kind: AlertMessage['kind'];
  // The worst thing in the message: fail, warn, ok (all resolved) or info.
  tone: AlertMessage['tone'];
  subject: string;
  // SENTINEL_NAME.
  sentinel: string;
  // Deployment and where the backups are, one line.
  footer: string;
  sentAt: string;
  alerts: WebhookAlert[];
}

const STATE: Record<EntryStatus, WebhookAlert['state']> = { fail: 'firing', warn: 'firing', resolved: 'resolved', info: 'info' };

export function buildWebhookPayload(message: AlertMessage, sentinel: string, sentAt: Date): WebhookPayload {
  return {
    version: WEBHOOK_PAYLOAD_VERSION,
    kind: message.kind,
    tone: message.tone,
    subject: message.subject,
    sentinel,
    footer: message.footer,
    sentAt: sentAt.toISOString(),
    alerts: message.sections.flatMap((section) =>
      section.entries.map((entry) => ({
        state: STATE[entry.status],
        severity: entry.status === 'fail' || entry.status === 'warn' ? entry.status : null,
        check: entry.check ?? null,
        set: entry.set ?? null,
        // Only with sets and several destinations, so the payload of other deployments stays as it was.
        ...(entry.destination === undefined ? {} : { destination: entry.destination }),
        section: section.heading,
        title: entry.title,
        summary: entry.summary,
        details: entry.details,
        hint: entry.hint ?? null,
        runbookUrl: entry.runbookUrl,
      })),
    ),
  };
}
