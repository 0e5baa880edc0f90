import type { UrlTarget } from './channel-urls.ts';
import type { AlertMessage, EntryStatus } from './format-message.ts';
import { postToChannel } from './http-delivery.ts';
import type { Notifier } from './notifier.ts';

export interface TeamsNotifierOptions {
  timeoutMs?: number;
}

const COLOR: Record<EntryStatus | AlertMessage['tone'], string> = { fail: 'Attention', warn: 'Warning', resolved: 'Good', ok: 'Good', info: 'Accent' };
const LABEL: Record<EntryStatus, string> = { fail: 'FAIL', warn: 'WARN', resolved: 'RESOLVED', info: 'INFO' };
// Teams shows cards up to about 28 KB; the entries beyond this many are left out (the subject counts them).
const ENTRIES_MAX = 30;

const text = (value: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'TextBlock', text: value, wrap: true, ...extra });

// The body a Teams workflow ("When a Teams webhook request is received") expects: a message whose
// attachment is an Adaptive Card.
function buildTeamsPayload(message: AlertMessage): Record<string, unknown> {
  const body: Record<string, unknown>[] = [text(message.subject, { size: 'Large', weight: 'Bolder', color: COLOR[message.tone] })];
  let shown = 0;
  for (const section of message.sections) {
    body.push(text(section.heading, { weight: 'Bolder', separator: true, spacing: 'Medium' }));
    for (const entry of section.entries) {
      if (shown >= ENTRIES_MAX) break;
      shown += 1;
      body.push(text(`${LABEL[entry.status]} · ${entry.title}`, { weight: 'Bolder', color: COLOR[entry.status] }), text(entry.summary, { spacing: 'None' }));
      if (entry.details.length > 0) body.push(text(entry.details.map((d) => `- ${d}`).join('\n'), { spacing: 'None', isSubtle: true }));
      if (entry.hint !== undefined) body.push(text(`What to do: ${entry.hint}`, { spacing: 'None' }));
      body.push(text(`[Runbook](${entry.runbookUrl})`, { spacing: 'None' }));
    }
  }
  body.push(text(message.footer, { isSubtle: true, size: 'Small', separator: true }));
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body, msteams: { width: 'Full' } },
      },
    ],
  };
}

// Posts messages to a Microsoft Teams workflow webhook (teams+https://... in ALERT_URLS).
export class TeamsNotifier implements Notifier {
  readonly channel: string;
  readonly description: string;
  readonly #target: UrlTarget;
  readonly #timeoutMs: number;

  constructor(target: UrlTarget, options: TeamsNotifierOptions = {}) {
    this.#target = target;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.channel = target.channel;
    this.description = target.description;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    await postToChannel(
      { url: this.#target.url.reveal(), headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildTeamsPayload(message)) },
      this.description,
      { service: 'Teams', revoked: 'the workflow was deleted, turned off or its URL regenerated: copy the URL of the "When a Teams webhook request is received" trigger into ALERT_URLS as teams+https://...' },
      this.#timeoutMs,
      signal,
    );
  }
}
