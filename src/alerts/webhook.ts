import { createHmac } from 'node:crypto';
import type { Secret } from '../config/secret.ts';
import type { UrlTarget } from './channel-urls.ts';
import type { AlertMessage } from './format-message.ts';
import { postToChannel } from './http-delivery.ts';
import type { Notifier } from './notifier.ts';
import { buildWebhookPayload, WEBHOOK_PAYLOAD_VERSION } from './webhook-payload.ts';

export interface WebhookNotifierOptions {
  // SENTINEL_NAME, in the body.
  sentinel: string;
  // ALERT_WEBHOOK_SECRET: signs every body (HMAC-SHA256) so the receiver can tell it came from us.
  secret?: Secret | undefined;
  timeoutMs?: number;
  clock?: () => Date;
}

const SIGNATURE_HEADER = 'x-backup-sentinel-signature';

// "sha256=<hex>": HMAC-SHA256 of the exact body bytes with the shared secret, as GitHub signs its webhooks.
function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

// Posts the versioned JSON body (webhook-payload.ts) to any HTTP receiver (webhook+https://... in ALERT_URLS).
export class WebhookNotifier implements Notifier {
  readonly channel: string;
  readonly description: string;
  readonly #target: UrlTarget;
  readonly #options: WebhookNotifierOptions;

  constructor(target: UrlTarget, options: WebhookNotifierOptions) {
    this.#target = target;
    this.#options = options;
    this.channel = target.channel;
    this.description = target.description;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const { secret, sentinel, clock } = this.#options;
    const body = JSON.stringify(buildWebhookPayload(message, sentinel, (clock ?? (() => new Date()))()));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-backup-sentinel-event': message.kind,
      'x-backup-sentinel-payload-version': String(WEBHOOK_PAYLOAD_VERSION),
    };
    if (secret !== undefined) headers[SIGNATURE_HEADER] = signBody(body, secret.reveal());
    await postToChannel(
      { url: this.#target.url.reveal(), headers, body },
      this.description,
      {
        service: 'the webhook receiver',
        revoked: 'the receiver refused the request (wrong path, or it did not accept the signature): check the URL in ALERT_URLS and that the receiver uses the same ALERT_WEBHOOK_SECRET',
        refused: 'the receiver refused the body: check that it accepts the documented JSON (docs/alerts.md, "Generic webhook", version 1)',
      },
      this.#options.timeoutMs ?? 10_000,
      signal,
    );
  }
}
