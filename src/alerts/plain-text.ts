import { buildEmailBody } from './email-body.ts';
import type { AlertMessage } from './format-message.ts';

// The message as plain text for chat channels (Telegram, ntfy, Discord): the e-mail's text part, the
// same words everywhere. `withSubject` false leaves out the subject line where the channel shows it
// as a title of its own.
export function messageText(message: AlertMessage, withSubject: boolean): string {
  const text = buildEmailBody(message).text.trimEnd();
  return withSubject ? text : text.split('\n').slice(2).join('\n');
}

// Cuts text to `max` characters, saying so at the end.
export function truncateText(text: string, max: number): string {
  const marker = '\n… (cut: see the other channels or the logs for the rest)';
  if (text.length <= max) return text;
  return max <= marker.length * 2 ? `${text.slice(0, max - 1)}…` : `${text.slice(0, max - marker.length)}${marker}`;
}
