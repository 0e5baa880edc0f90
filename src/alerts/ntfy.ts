import type { NtfyTarget } from './channel-urls.ts';
import type { AlertMessage } from './format-message.ts';
import { postToChannel } from './http-delivery.ts';
import type { Notifier } from './notifier.ts';
import { messageText, truncateText } from './plain-text.ts';

export interface NtfyNotifierOptions {
  timeoutMs?: number;
}

const PRIORITY: Record<AlertMessage['tone'], number> = { fail: 5, warn: 4, ok: 3, info: 2 };
const TAG: Record<AlertMessage['tone'], string> = { fail: 'rotating_light', warn: 'warning', ok: 'white_check_mark', info: 'information_source' };

// ntfy's JSON publishing (POST to the server's root): title and text travel in the body, so no
// header has to carry non-ASCII text. Bodies over 4096 bytes would become attachments: kept below.
function buildNtfyPayload(message: AlertMessage, topic: string): Record<string, unknown> {
  const click = message.sections[0]?.entries[0]?.runbookUrl;
  return {
    topic,
    title: truncateText(message.subject, 250),
    message: truncateText(messageText(message, false), 3500),
    priority: PRIORITY[message.tone],
    tags: [TAG[message.tone]],
    ...(click === undefined ? {} : { click }),
  };
}

// Publishes messages to an ntfy topic (ntfy:// or ntfys:// in ALERT_URLS).
export class NtfyNotifier implements Notifier {
  readonly channel: string;
  readonly description: string;
  readonly #target: NtfyTarget;
  readonly #timeoutMs: number;

  constructor(target: NtfyTarget, options: NtfyNotifierOptions = {}) {
    this.#target = target;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.channel = target.channel;
    this.description = target.description;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const { auth } = this.#target;
    const url = new URL(this.#target.url.reveal());
    const topic = url.pathname.slice(1);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const secrets = [topic];
    if (auth !== undefined && 'token' in auth) {
      headers.authorization = `Bearer ${auth.token.reveal()}`;
      secrets.push(auth.token.reveal());
    } else if (auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password.reveal()}`).toString('base64')}`;
      secrets.push(auth.password.reveal());
    }
    await postToChannel(
      { url: `${url.origin}/`, headers, body: JSON.stringify(buildNtfyPayload(message, topic)) },
      this.description,
      { service: 'ntfy', revoked: 'the ntfy server refused the user, password or token (or the topic is reserved for another user): fix them in ALERT_URLS (ntfy://user:password@host/topic or ntfy://tk_token@host/topic)', secrets },
      this.#timeoutMs,
      signal,
    );
  }
}
