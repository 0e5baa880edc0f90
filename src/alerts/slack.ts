import type { Secret } from '../config/secret.ts';
import { AlertDeliveryError } from '../errors.ts';
import type { AlertMessage } from './format-message.ts';
import { networkCode } from './http-delivery.ts';
import { RetryLaterError, scrubSecrets, urlSecretParts, type Notifier } from './notifier.ts';
import { buildSlackPayload } from './slack-payload.ts';

export interface SlackNotifierOptions {
  // How long one POST may take before it counts as a transient failure.
  timeoutMs?: number;
}

const NEW_WEBHOOK_HINT =
  'the webhook was removed, revoked or its channel archived: create a new incoming webhook in Slack (Apps > Incoming Webhooks) and set SLACK_WEBHOOK_URL to it';

// Posts messages to a Slack incoming webhook. The URL is the credential: it is revealed only for the
// request itself and never appears in errors (they name the host only).
export class SlackNotifier implements Notifier {
  readonly channel = 'slack' as const;
  readonly description: string;
  readonly #url: Secret;
  readonly #timeoutMs: number;

  constructor(webhookUrl: Secret, options: SlackNotifierOptions = {}) {
    this.#url = webhookUrl;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    let host = 'an unparsable URL';
    try {
      host = new URL(webhookUrl.reveal()).host;
    } catch {
      // Config validation already reported it.
    }
    this.description = `Slack webhook on ${host}`;
  }

  async send(message: AlertMessage, signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    let status: number;
    let body: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(this.#url.reveal(), {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(buildSlackPayload(message)),
        signal: combined,
        redirect: 'error',
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      body = await response.text();
    } catch (error) {
      // fetch's own errors can carry the URL; only a code of ours goes out.
      // Cut off by shutdown: not the channel's fault, so not permanent; the message stays pending.
      if (signal.aborted) throw new AlertDeliveryError('Slack delivery stopped: the service is shutting down; it is sent after the restart', false);
      if (timeout.aborted) {
        throw new AlertDeliveryError(`${this.description} did not answer within ${this.#timeoutMs / 1000} s`, false, {
          hint: 'Slack may be slow or unreachable from here; it will be retried',
        });
      }
      throw new AlertDeliveryError(`${this.description} unreachable (${networkCode(error)})`, false, {
        hint: 'check that this host can reach Slack over HTTPS (DNS, firewall, proxy); it will be retried',
      });
    }
    if (status >= 200 && status < 300) return;
    const reason = slackReason(scrubSecrets(body, [this.#url.reveal(), ...urlSecretParts(this.#url.reveal())]));
    const what = `${this.description} answered HTTP ${status}${reason ? ` ${reason}` : ''}`;
    if (status === 429) {
      const seconds = Number(retryAfter);
      throw new RetryLaterError(`${what} (rate limited)`, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000);
    }
    if (status >= 500 || status === 408) {
      throw new AlertDeliveryError(what, false, { hint: 'Slack had a problem on its side; it will be retried' });
    }
    if (status === 404 || status === 410 || status === 403 || status === 401) {
      throw new AlertDeliveryError(what, true, { hint: NEW_WEBHOOK_HINT });
    }
    throw new AlertDeliveryError(what, true, {
      hint: 'Slack refused the message itself; please report this with the log line (it is a backup-sentinel bug), alerts still go to the other channels and the logs',
    });
  }
}

// Slack answers errors with a short token such as no_service, invalid_token or channel_is_archived;
// anything else (an HTML page from a proxy) is not shown, it could echo the request.
function slackReason(body: string): string {
  const trimmed = body.trim();
  return /^[a-z_]{2,60}$/.test(trimmed) ? `"${trimmed}"` : '';
}
