import type { AlertMessage, EntryStatus } from './format-message.ts';

// The e-mail for a message: subject, a plain-text part people can read anywhere and an HTML part.

export interface EmailBody {
  subject: string;
  text: string;
  html: string;
}

const LABEL: Record<EntryStatus, string> = { fail: 'FAIL', warn: 'WARN', resolved: 'RESOLVED', info: 'INFO' };
const COLOR: Record<EntryStatus, string> = { fail: '#c62828', warn: '#ef6c00', resolved: '#2e7d32', info: '#1565c0' };

export function buildEmailBody(message: AlertMessage): EmailBody {
  const text: string[] = [message.subject, ''];
  const html: string[] = [
    '<!doctype html><html><body style="font-family:sans-serif;font-size:14px;color:#222">',
    `<h2 style="margin:0 0 12px">${escapeHtml(message.subject)}</h2>`,
  ];
  for (const section of message.sections) {
    text.push(`== ${section.heading} ==`, '');
    html.push(`<h3 style="margin:16px 0 6px">${escapeHtml(section.heading)}</h3>`);
    for (const entry of section.entries) {
      text.push(`[${LABEL[entry.status]}] ${entry.title}`, `  ${entry.summary}`);
      for (const detail of entry.details) text.push(`  - ${detail}`);
      if (entry.hint !== undefined) text.push(`  What to do: ${entry.hint}`);
      text.push(`  Runbook: ${entry.runbookUrl}`, '');
      html.push(
        `<div style="border-left:4px solid ${COLOR[entry.status]};padding:4px 10px;margin:8px 0">`,
        `<div><strong style="color:${COLOR[entry.status]}">${LABEL[entry.status]}</strong> <strong>${escapeHtml(entry.title)}</strong></div>`,
        `<div>${escapeHtml(entry.summary)}</div>`,
        `<ul style="margin:4px 0;padding-left:18px">${entry.details.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>`,
        entry.hint === undefined ? '' : `<div><em>What to do:</em> ${escapeHtml(entry.hint)}</div>`,
        `<div><a href="${escapeHtml(entry.runbookUrl)}">Runbook</a></div>`,
        '</div>',
      );
    }
  }
  text.push('--', message.footer, '');
  html.push(`<p style="color:#777;font-size:12px;margin-top:20px">${escapeHtml(message.footer)}</p>`, '</body></html>');
  return { subject: message.subject, text: text.join('\n'), html: html.join('\n') };
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
