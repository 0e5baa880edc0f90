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
// The parts of a URL that may be its credential: a webhook's path segments and query values (a
// workflow engine's 404 may quote "webhook <uuid> is not registered"), as sent and decoded. Short
// segments (api, v1, hooks) are left: they are no secret and would blank out ordinary words.
export function urlSecretParts(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const raw = [...parsed.pathname.split('/'), ...parsed.searchParams.values(), parsed.username, parsed.password];
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const parts = new Set(raw.flatMap((part) => [part, decode(part)]).filter((part) => part.length >= 8));
  return [...parts].sort((a, b) => b.length - a.length);
}

export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 3) result = result.split(secret).join('***');
  }
  return result;
}
