import { setTimeout as delay } from 'node:timers/promises';
import { AlertDeliveryError, shortMessageOf, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AlertMessage } from './format-message.ts';
import type { DeliveryOutcome, NotificationMetrics } from './notification-metrics.ts';
import { RetryLaterError, type ChannelName, type Notifier } from './notifier.ts';

export interface RetryPolicy {
  // Tries per message and channel, the first one included.
  attempts: number;
  // Wait before the 2nd try; doubles for each further try, capped at maxDelayMs.
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 2_000, maxDelayMs: 60_000 };

// Resolves after ms, or rejects early when signal aborts. Tests inject a faster one.
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const realSleep: Sleep = async (ms, signal) => {
  await delay(ms, undefined, { signal });
};

export interface DeliveryResult {
  channel: ChannelName;
  description: string;
  // cancelled: cut off by shutdown (stop()); neither the channel's fault nor final, so it stays pending.
  outcome: DeliveryOutcome | 'cancelled';
  attempts: number;
  // The last error, when not sent.
  error?: AlertDeliveryError;
}

export interface DispatchOptions {
  retry: RetryPolicy;
  sleep: Sleep;
  signal: AbortSignal;
  logger: Logger;
  metrics?: NotificationMetrics;
}

// The wait before try number `attempt + 1` (attempt counts from 1): exponential, capped.
function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

// Sends one message through every channel at once; each channel retries on its own, so one channel
// down (or hanging) never delays or blocks another. Never throws.
export async function dispatchMessage(message: AlertMessage, notifiers: readonly Notifier[], options: DispatchOptions): Promise<DeliveryResult[]> {
  return await Promise.all(notifiers.map((notifier) => deliverWithRetries(message, notifier, options)));
}

// Sends one message through one channel, retrying transient failures. Never throws.
export async function deliverWithRetries(message: AlertMessage, notifier: Notifier, options: DispatchOptions): Promise<DeliveryResult> {
  const { retry, sleep, signal, logger, metrics } = options;
  const log = logger.child({ channel: notifier.channel });
  let lastError: AlertDeliveryError | undefined;
  let attempt = 0;
  while (attempt < Math.max(1, retry.attempts)) {
    attempt += 1;
    try {
      await notifier.send(message, signal);
      log.info({ attempt, subject: message.subject }, `alert sent through ${notifier.description}`);
      metrics?.record(notifier.channel, 'sent');
      return { channel: notifier.channel, description: notifier.description, outcome: 'sent', attempts: attempt };
    } catch (error) {
      lastError = error instanceof AlertDeliveryError ? error : new AlertDeliveryError(`${notifier.description}: ${shortMessageOf(error)}`, false);
      if (lastError.permanent || signal.aborted) break;
      if (attempt >= retry.attempts) break;
      const wait = lastError instanceof RetryLaterError ? Math.min(lastError.retryAfterMs, retry.maxDelayMs) : backoffDelay(retry, attempt);
      log.warn({ attempt, retryInMs: wait, err: errForLog(lastError) }, `alert delivery failed, retrying: ${lastError.shortMessage}`);
      try {
        await sleep(wait, signal);
      } catch {
        break;
      }
    }
  }
  const error = lastError ?? new AlertDeliveryError(`${notifier.description}: not sent`, false);
  if (signal.aborted) {
    log.warn({ attempt, subject: message.subject }, `alert delivery through ${notifier.channel} stopped by shutdown; it stays pending and is sent after the restart`);
    return { channel: notifier.channel, description: notifier.description, outcome: 'cancelled', attempts: attempt, error };
  }
  const outcome: DeliveryOutcome = error.permanent ? 'rejected' : 'failed';
  log.error(
    { attempt, permanent: error.permanent, err: errForLog(error), hint: error.hint, subject: message.subject },
    error.permanent
      ? `alert NOT delivered, ${notifier.channel} refused it permanently (not retried): ${error.shortMessage}`
      : `alert NOT delivered through ${notifier.channel} after ${attempt} tries: ${error.shortMessage}`,
  );
  metrics?.record(notifier.channel, outcome);
  return { channel: notifier.channel, description: notifier.description, outcome, attempts: attempt, error };
}
