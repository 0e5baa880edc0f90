import type { TelegramTarget } from './channel-urls.ts';
import type { AlertMessage } from './format-message.ts';
import { postToChannel } from './http-delivery.ts';
import type { Notifier } from './notifier.ts';
import { messageText, truncateText } from './plain-text.ts';

export interface TelegramNotifierOptions {
  timeoutMs?: number;
  // Where the Bot API is. Only tests change it (a loopback stand-in): it is no setting, so a
  // configuration can never send the bot token anywhere but api.telegram.org.
  apiBase?: string;
}

// Plain text (no parse_mode): nothing in a message can break Telegram's markup. 4096 characters at most.
function buildTelegramPayload(message: AlertMessage, chatId: string): Record<string, unknown> {
  return { chat_id: chatId, text: truncateText(messageText(message, true), 4096), disable_web_page_preview: true };
}

// Sends messages through a Telegram bot (tgram://<bot token>/<chat id> in ALERT_URLS), Bot API sendMessage.
export class TelegramNotifier implements Notifier {
  readonly channel: string;
  readonly description: string;
  readonly #target: TelegramTarget;
  readonly #options: TelegramNotifierOptions;

  constructor(target: TelegramTarget, options: TelegramNotifierOptions = {}) {
    this.#target = target;
    this.#options = options;
    this.channel = target.channel;
    this.description = target.description;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const { botToken, chatId } = this.#target;
    const url = `${this.#options.apiBase ?? 'https://api.telegram.org'}/bot${botToken.reveal()}/sendMessage`;
    await postToChannel(
      { url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildTelegramPayload(message, chatId)) },
      this.description,
      {
        service: 'Telegram',
        revoked: 'the bot token was revoked or the bot was removed from the chat (or blocked): check the token with @BotFather, add the bot to the chat, and fix ALERT_URLS (tgram://<bot token>/<chat id>)',
        refused: 'Telegram refused the request: usually a wrong chat id ("chat not found") or a bot that was never added to the chat; fix the chat id in ALERT_URLS (tgram://<bot token>/<chat id>)',
        secrets: [botToken.reveal()],
      },
      this.#options.timeoutMs ?? 10_000,
      signal,
    );
  }
}
