import { Counter, type Registry } from 'prom-client';
import type { ChannelName } from './notifier.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';

// A channel's key, or "log": messages that went to the logs only because no channel is configured.
export type MetricChannel = ChannelName;
// sent; failed: transient errors until the retries ran out; rejected: a permanent error (bad webhook,
// login refused), not retried.
export type DeliveryOutcome = 'sent' | 'failed' | 'rejected';

const OUTCOMES: readonly DeliveryOutcome[] = ['sent', 'failed', 'rejected'];

// backup_sentinel_notifications_total{channel,result}, on the registry the composition root passes in.
export class NotificationMetrics {
  readonly #counter: Counter<'channel' | 'result'>;

  constructor(registry: Registry, channels: readonly MetricChannel[]) {
    const existing = registry.getSingleMetric(`${METRIC_PREFIX}notifications_total`);
    this.#counter =
      existing instanceof Counter
        ? (existing)
        : new Counter({
            name: `${METRIC_PREFIX}notifications_total`,
            help: 'Alert notifications by channel and final result (sent, failed after retries, rejected permanently)',
            labelNames: ['channel', 'result'] as const,
            registers: [registry],
          });
    // Series exist from the start, so rate() and absent() work before the first alert.
    for (const channel of channels) for (const result of OUTCOMES) this.#counter.inc({ channel, result }, 0);
  }

  record(channel: MetricChannel, result: DeliveryOutcome): void {
    this.#counter.inc({ channel, result });
  }
}
