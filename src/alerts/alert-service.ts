import type { Registry } from 'prom-client';
import { shortMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, Finding } from '../monitor/findings.ts';
import { DEFAULT_RETRY, dispatchMessage, realSleep, type DeliveryResult, type RetryPolicy, type Sleep } from './dispatcher.ts';
import { formatMessage, type MessageContext } from './format-message.ts';
import { NotificationMetrics } from './notification-metrics.ts';
import type { Notifier } from './notifier.ts';
import {
  differsMaterially,
  emptyAlertState,
  evaluateAlerts,
  firingAlerts,
  recordDelivery,
  type ActiveAlert,
  type AlertState,
  type Notification,
} from './policy.ts';
import type { AlertStateStore } from './state-store.ts';

export interface AlertServiceOptions {
  context: MessageContext;
  repeatHours: number;
  notifiers: readonly Notifier[];
  stateStore: AlertStateStore;
  logger: Logger;
  // The service's one prom-client registry; backup_sentinel_notifications_total is registered on it.
  registry?: Registry;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
}

export interface ProcessResult {
  notification: Notification | undefined;
  deliveries: DeliveryResult[];
  // The message reached people (or the logs, with no channel), so the state moved on.
  delivered: boolean;
}

const NOTHING: ProcessResult = { notification: undefined, deliveries: [], delivered: false };

// Turns findings into notifications: keeps the alert state (loaded from and saved to storage),
// decides with the pure policy, sends through every channel. Calls are serialised; none throws.
export class AlertService {
  readonly #options: AlertServiceOptions;
  readonly #log: Logger;
  readonly #metrics: NotificationMetrics | undefined;
  readonly #retry: RetryPolicy;
  readonly #stop = new AbortController();
  #state: AlertState = emptyAlertState();
  #saved: AlertState = emptyAlertState();
  #loaded = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: AlertServiceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'alerts' });
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    const channels = options.notifiers.length > 0 ? options.notifiers.map((n) => n.channel) : (['log'] as const);
    this.#metrics = options.registry === undefined ? undefined : new NotificationMetrics(options.registry, channels);
  }

  // Says where alerts go and loads the stored state; never throws.
  async start(): Promise<void> {
    const { notifiers, stateStore, repeatHours } = this.#options;
    if (notifiers.length === 0) {
      this.#log.warn(
        'no alert channel configured (SLACK_WEBHOOK_URL, SMTP_URL or SMTP_HOST): alerts go to the logs and metrics only',
      );
    } else {
      this.#log.info({ channels: notifiers.map((n) => n.description), repeatHours }, `alerts go to ${notifiers.map((n) => n.description).join(' and ')}`);
    }
    await this.#enqueue(async () => {
      await this.#ensureLoaded();
      this.#log.info({ stateLocation: stateStore.location }, 'alert state kept in the backup storage');
    });
  }

  // Handles the findings of one run of `checks` (e.g. the monitor's MONITOR_CHECKS): an alert of one
  // of these checks without a finding now is resolved; alerts of other checks are left alone.
  async process(findings: readonly Finding[], now: Date, checks: readonly CheckName[]): Promise<ProcessResult> {
    return await this.#run(findings, now, checks);
  }

  // A backup run failed: notify at once instead of waiting for the next check. `finding` is the
  // backup_failed finding; other alerts are left as they are.
  async notifyBackupFailed(finding: Finding, now: Date): Promise<ProcessResult> {
    return await this.#run([{ ...finding, check: 'backup_failed' }], now, ['backup_failed']);
  }

  // The alerts currently firing (for /status).
  firing(): ActiveAlert[] {
    return firingAlerts(this.#state);
  }

  // Stops retries and waits for what is in flight; later calls do nothing.
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#queue.catch(() => undefined);
  }

  async #run(findings: readonly Finding[], now: Date, scope: readonly CheckName[]): Promise<ProcessResult> {
    if (this.#stop.signal.aborted) return NOTHING;
    return await this.#enqueue(async () => {
      try {
        return await this.#evaluateAndSend(findings, now, scope);
      } catch (error) {
        this.#log.error({ err: error }, `alert processing failed: ${shortMessageOf(error)}`);
        return NOTHING;
      }
    });
  }

  async #evaluateAndSend(findings: readonly Finding[], now: Date, scope: readonly CheckName[]): Promise<ProcessResult> {
    await this.#ensureLoaded();
    const { notification, next } = evaluateAlerts(this.#state, findings, now, { repeatHours: this.#options.repeatHours }, scope);
    this.#state = next;
    if (notification === undefined) {
      await this.#saveIfChanged();
      return { notification, deliveries: [], delivered: false };
    }
    const message = formatMessage(notification, this.#options.context);
    const level = notification.kind === 'resolved' ? 'info' : 'warn';
    this.#log[level](
      {
        kind: notification.kind,
        subject: message.subject,
        started: notification.started.map((i) => i.check),
        resolved: notification.resolved.map((i) => i.check),
        stillFiring: notification.stillFiring.map((i) => i.check),
      },
      `alert: ${message.subject}`,
    );
    let deliveries: DeliveryResult[] = [];
    if (this.#options.notifiers.length === 0) {
      this.#metrics?.record('log', 'sent');
    } else {
      deliveries = await dispatchMessage(message, this.#options.notifiers, {
        retry: this.#retry,
        sleep: this.#options.sleep ?? realSleep,
        signal: this.#stop.signal,
        logger: this.#log,
        ...(this.#metrics === undefined ? {} : { metrics: this.#metrics }),
      });
    }
    // Try again next run only when nothing got through and some channel may still work later.
    const delivered = deliveries.length === 0 || deliveries.some((d) => d.outcome === 'sent') || deliveries.every((d) => d.outcome === 'rejected');
    if (delivered) this.#state = recordDelivery(this.#state, notification);
    else if (!this.#stop.signal.aborted) this.#log.warn('no channel took the alert; it will be sent again at the next check');
    await this.#saveIfChanged();
    return { notification, deliveries, delivered };
  }

  async #ensureLoaded(): Promise<void> {
    if (this.#loaded) return;
    const { stateStore } = this.#options;
    try {
      const loaded = await stateStore.load();
      if (loaded.kind === 'loaded') {
        this.#state = loaded.state;
        this.#log.info({ stateLocation: stateStore.location, firing: firingAlerts(loaded.state).map((a) => a.check) }, 'alert state loaded');
      } else if (loaded.kind === 'missing') {
        this.#log.info({ stateLocation: stateStore.location }, 'no alert state stored yet: starting with nothing firing');
      } else {
        this.#log.warn(
          { stateLocation: stateStore.location, reason: loaded.reason },
          `stored alert state is unreadable (${loaded.reason}): starting fresh; it is rewritten at the next change`,
        );
      }
      this.#saved = this.#state;
    } catch (error) {
      this.#log.warn(
        { stateLocation: stateStore.location, error: shortMessageOf(error) },
        `could not read the alert state (${shortMessageOf(error)}): starting fresh; an alert already sent may be sent once more`,
      );
    }
    this.#loaded = true;
  }

  async #saveIfChanged(): Promise<void> {
    if (!differsMaterially(this.#state, this.#saved)) return;
    const { stateStore } = this.#options;
    try {
      await stateStore.save(this.#state);
      this.#saved = this.#state;
    } catch (error) {
      // Kept in memory; saved again at the next run.
      this.#log.warn({ stateLocation: stateStore.location, error: shortMessageOf(error) }, `could not save the alert state: ${shortMessageOf(error)}`);
    }
  }

  async #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => undefined);
    return await result;
  }
}
