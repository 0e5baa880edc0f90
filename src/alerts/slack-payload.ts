import type { AlertMessage, EntryStatus, MessageEntry } from './format-message.ts';

// The Slack incoming-webhook body for a message: Block Kit blocks plus a top-level `text`, which is
// all that mobile notifications and screen readers show.

export interface SlackPayload {
  text: string;
  blocks: Record<string, unknown>[];
}

const EMOJI: Record<EntryStatus | AlertMessage['tone'], string> = {
  fail: ':red_circle:',
  warn: ':warning:',
  resolved: ':white_check_mark:',
  ok: ':white_check_mark:',
  info: ':information_source:',
};

const LABEL: Record<EntryStatus, string> = { fail: 'FAIL', warn: 'WARN', resolved: 'RESOLVED', info: 'INFO' };

// Slack's limits: header text 150 characters, section text 3000, 50 blocks per message.
const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const ENTRIES_MAX = 40;

export function buildSlackPayload(message: AlertMessage): SlackPayload {
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(message.subject, HEADER_MAX), emoji: true } },
  ];
  let shown = 0;
  for (const section of message.sections) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${escape(section.heading)}*` } });
    for (const entry of section.entries) {
      if (shown >= ENTRIES_MAX) break;
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(entryText(entry), SECTION_MAX) } });
      shown += 1;
    }
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(escape(message.footer), SECTION_MAX) }] });
  return { text: `${EMOJI[message.tone]} ${message.subject}`, blocks };
}

function entryText(entry: MessageEntry): string {
  const lines = [`${EMOJI[entry.status]} *${escape(entry.title)}* · ${LABEL[entry.status]}`, escape(entry.summary)];
  for (const detail of entry.details) lines.push(`• ${escape(detail)}`);
  if (entry.hint !== undefined) lines.push(`_What to do:_ ${escape(entry.hint)}`);
  lines.push(`<${entry.runbookUrl.replaceAll('|', '%7C').replaceAll('>', '%3E')}|Runbook>`);
  return lines.join('\n');
}

// Slack mrkdwn needs &, < and > escaped; everything else is shown as written.
function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
