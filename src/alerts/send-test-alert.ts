import type { Config } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import { createStore } from '../storage/create-store.ts';
import { createNotifiers, messageContext } from './create-alert-service.ts';
import { dispatchMessage, realSleep, type DeliveryResult } from './dispatcher.ts';
import { formatTestMessage } from './format-message.ts';

// One test message through every configured channel, as `alert-test` and `doctor --send` send it.

export interface TestAlertRun {
  subject: string;
  results: DeliveryResult[];
}

// What people do when no channel is configured.
export const NO_CHANNEL_HINT = 'set SLACK_WEBHOOK_URL, SMTP_URL (or SMTP_HOST) with ALERT_EMAIL_TO, and/or ALERT_URLS';

// undefined when no channel is configured (nothing is sent). Never throws for a failed delivery: each
// channel's result says how it went.
export async function sendTestAlert(config: Config, logger: Logger, signal: AbortSignal, onSending?: (subject: string, channels: number) => void): Promise<TestAlertRun | undefined> {
  const notifiers = createNotifiers(config.alerts);
  if (notifiers.length === 0) return undefined;
  // No storage I/O: the store only gives its description for the message footer.
  const context = messageContext(config, createStore(config));
  const message = formatTestMessage(context, new Date());
  onSending?.(message.subject, notifiers.length);
  const results = await dispatchMessage(message, notifiers, {
    retry: { attempts: 2, baseDelayMs: 1_000, maxDelayMs: 5_000 },
    sleep: realSleep,
    signal,
    logger,
  });
  return { subject: message.subject, results };
}

// One channel's result for people (after its name): whether it was sent, and why not.
export function describeDelivery(r: DeliveryResult): { sent: boolean; text: string; hint: string | undefined } {
  if (r.outcome === 'sent') return { sent: true, text: `sent (${r.description})`, hint: undefined };
  const why = r.outcome === 'rejected' ? 'refused, not retried' : r.outcome === 'cancelled' ? 'stopped before it was sent' : `failed after ${r.attempts} tries`;
  return { sent: false, text: `${why}: ${r.error?.shortMessage ?? 'unknown error'}`, hint: r.error?.hint };
}
