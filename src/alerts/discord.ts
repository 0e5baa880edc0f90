import type { DiscordTarget } from './channel-urls.ts';
import type { AlertMessage } from './format-message.ts';
import { postToChannel } from './http-delivery.ts';
import type { Notifier } from './notifier.ts';
import { messageText, truncateText } from './plain-text.ts';

export interface DiscordNotifierOptions {
  timeoutMs?: number;
  // Where Discord's API is. Only tests change it (a loopback stand-in): it is no setting, so a
  // configuration can never send the webhook token anywhere but discord.com.
  apiBase?: string;
}

const COLOR: Record<AlertMessage['tone'], number> = { fail: 0xc62828, warn: 0xef6c00, ok: 0x2e7d32, info: 0x1565c0 };

// Discord's limits: content 2000 characters, embed title 256, embed description 4096.
function buildDiscordPayload(message: AlertMessage): Record<string, unknown> {
  return {
    content: truncateText(message.subject, 2000),
    embeds: [{ title: truncateText(message.subject, 256), description: truncateText(messageText(message, false), 4096), color: COLOR[message.tone] }],
    // Object keys and server text end up in messages: they must never ping @everyone or a role.
    allowed_mentions: { parse: [] },
  };
}

// Posts messages to a Discord channel webhook (discord://<id>/<token> in ALERT_URLS).
export class DiscordNotifier implements Notifier {
  readonly channel: string;
  readonly description: string;
  readonly #target: DiscordTarget;
  readonly #options: DiscordNotifierOptions;

  constructor(target: DiscordTarget, options: DiscordNotifierOptions = {}) {
    this.#target = target;
    this.#options = options;
    this.channel = target.channel;
    this.description = target.description;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const { webhookId, token } = this.#target;
    const url = `${this.#options.apiBase ?? 'https://discord.com'}/api/webhooks/${webhookId}/${token.reveal()}`;
    await postToChannel(
      { url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildDiscordPayload(message)) },
      this.description,
      { service: 'Discord', revoked: 'the webhook was deleted or its token reset: create a new one (channel settings > Integrations > Webhooks) and put its id and token in ALERT_URLS as discord://<id>/<token>', secrets: [token.reveal()] },
      this.#options.timeoutMs ?? 10_000,
      signal,
    );
  }
}
