import { AlertDeliveryError, type SentinelErrorOptions } from '../errors.ts';
import type { AlertMessage } from './format-message.ts';

// A channel's key: "slack", "email", or an ALERT_URLS entry's kind ("discord", "telegram", "ntfy", "teams",
// "webhook"), with "-2", "-3" ... for the second and further entries of one kind. It keys the delivery
// state and labels the metrics.
export type ChannelName = string;

// One alert channel (Slack webhook, SMTP, an ALERT_URLS entry). `send` delivers one message once, with no retries of its
// own (the dispatcher retries), and throws AlertDeliveryError: `permanent` when trying again cannot help.
export interface Notifier {
  readonly channel: ChannelName;
  // For people and logs, never holding secrets: "Slack webhook on hooks.slack.com".
  readonly description: string;
  send(message: AlertMessage, signal: AbortSignal): Promise<void>;
}

// A transient failure whose server said when to come back (Slack 429 Retry-After).
export class RetryLaterError extends AlertDeliveryError {
  readonly retryAfterMs: number;

  constructor(shortMessage: string, retryAfterMs: number, options: SentinelErrorOptions = {}) {
    super(shortMessage, false, options);
    this.retryAfterMs = retryAfterMs;
  }
}

// Removes every occurrence of the given secret values from a text taken from a library or a server.
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 3) result = result.split(secret).join('***');
  }
  return result;
}
