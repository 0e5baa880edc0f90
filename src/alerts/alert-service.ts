import type { Registry } from 'prom-client';
import { shortMessageOf, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import {
  channelFindings,
  channelStatesKey,
  onlyChannels,
  pendingOf,
  withQueued,
  withRefused,
  withSent,
  type ChannelStates,
} from './channel-state.ts';
import { DEFAULT_RETRY, deliverWithRetries, realSleep, type DeliveryResult, type DispatchOptions, type RetryPolicy, type Sleep } from './dispatcher.ts';
import { formatMessage, formatTime, type AlertMessage, type MessageContext } from './format-message.ts';
import { LocalCopyError } from './local-state.ts';
import { NotificationMetrics } from './notification-metrics.ts';
import type { ChannelName, Notifier } from './notifier.ts';
import {
  materialKey,
  emptyAlertState,
  evaluateAlerts,
  firingAlerts,
  recordDelivery,
  type ActiveAlert,
  type AlertState,
  type Notification,
} from './policy.ts';
import type { AlertStateStore, PersistedAlertState } from './state-store.ts';

export interface AlertServiceOptions {
  context: MessageContext;
  repeatHours: number;
  notifiers: readonly Notifier[];
  // Where the state lives across restarts: the stored object, or that object mirrored by a local copy
  // (MirroredAlertState), which keeps what was sent when the storage itself fails.
  stateStore: AlertStateStore;
  logger: Logger;
  // The service's one prom-client registry; backup_sentinel_notifications_total is registered on it.
  registry?: Registry;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
}

export interface ProcessResult {
  notification: Notification | undefined;
  // Per channel, the outcome for this run's message (or, when a backlog of older messages did not go
  // through, for the older message that failed).
  deliveries: DeliveryResult[];
  // The message reached people (or the logs, with no channel), so the state moved on; a channel that
  // did not take it owes it and sends it when it works again.
  delivered: boolean;
}

// What one channel did in one run: how many of its pending messages it took, and the outcome for the
// new message (undefined when only pending ones were tried).
interface ChannelRun {
  notifier: Notifier;
  sentPending: number;
  tookMessage: boolean;
  result: DeliveryResult | undefined;
}

// Rounds after the first in one run: a channel refusing (or working again) is itself notified.
const MAX_CHANNEL_ROUNDS = 2;

const NOTHING: ProcessResult = { notification: undefined, deliveries: [], delivered: false };

// Turns findings into notifications: keeps the alert state (loaded from and saved to storage),
// decides with the pure policy, sends through every channel and keeps, per channel, what it still
// owes. Calls are serialised; none throws.
export class AlertService {
  readonly #options: AlertServiceOptions;
  readonly #log: Logger;
  readonly #metrics: NotificationMetrics | undefined;
  readonly #retry: RetryPolicy;
  #stop = new AbortController();
  #state: AlertState = emptyAlertState();
  #channels: ChannelStates = {};
  #revision = 0;
  // What was last saved (materialKey), undefined when a save is due even without a change.
  #saved: string | undefined = this.#materialKey();
  #loaded = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: AlertServiceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'alerts' });
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    const channels = options.notifiers.length > 0 ? options.notifiers.map((n) => n.channel) : (['log'] as const);
    this.#metrics = options.registry === undefined ? undefined : new NotificationMetrics(options.registry, channels);
  }

  // Says where alerts go and (re)loads the stored state; never throws. Callable again, e.g. when this
  // instance takes over from another one: it then reloads what the other one saved, and a stop()
  // before is undone.
  async start(): Promise<void> {
    const { notifiers, stateStore, repeatHours } = this.#options;
    if (this.#stop.signal.aborted) this.#stop = new AbortController();
    if (notifiers.length === 0) {
      this.#log.warn(
        'no alert channel configured (SLACK_WEBHOOK_URL, SMTP_URL, SMTP_HOST or ALERT_URLS): alerts go to the logs and metrics only',
      );
    } else {
      this.#log.info({ channels: notifiers.map((n) => n.description), repeatHours }, `alerts go to ${notifiers.map((n) => n.description).join(' and ')}`);
    }
    await this.#enqueue(async () => {
      this.#loaded = false;
      await this.#ensureLoaded();
      this.#log.info({ stateLocation: stateStore.location }, 'alert state kept in the backup storage');
    });
  }

  // Handles the findings of one run of `checks` (e.g. the monitor's MONITOR_CHECKS): an alert of one
  // of these checks without a finding now is resolved; alerts of other checks are left alone.
  // `set`: the backup set the run speaks for (BACKUP_DATABASES); its findings name it.
  async process(findings: readonly Finding[], now: Date, checks: readonly CheckName[], set?: string): Promise<ProcessResult> {
    return await this.#run(findings, now, checks, set);
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

  // The checks this service evaluates: whether its channels take messages, when it has any.
  checks(): readonly CheckName[] {
    return this.#options.notifiers.length > 0 ? ['alert_channel'] : [];
  }

  // Findings of the alert channels themselves (`alert_channel`: a channel refuses messages), for
  // /health and metrics. From memory, no I/O.
  findings(): Finding[] {
    return channelFindings(this.#channels);
  }

  // Messages each channel still owes (for /status).
  pendingDeliveries(): Partial<Record<ChannelName, number>> {
    const counts: Partial<Record<ChannelName, number>> = {};
    for (const n of this.#options.notifiers) counts[n.channel] = pendingOf(this.#channels, n.channel).length;
    return counts;
  }

  // Waits for what is queued or in flight (sends and the save of the state after them), stopping nothing.
  async settled(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }

  // Stops retries and waits for what is in flight; later calls do nothing.
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#queue.catch(() => undefined);
  }

  async #run(findings: readonly Finding[], now: Date, scope: readonly CheckName[], set?: string): Promise<ProcessResult> {
    if (this.#stop.signal.aborted) return NOTHING;
    return await this.#enqueue(async () => {
      try {
        return await this.#evaluateAndSend(findings, now, scope, set);
      } catch (error) {
        this.#log.error({ err: errForLog(error) }, `alert processing failed: ${shortMessageOf(error)}`);
        return NOTHING;
      }
    });
  }

  async #evaluateAndSend(findings: readonly Finding[], now: Date, scope: readonly CheckName[], set?: string): Promise<ProcessResult> {
    await this.#ensureLoaded();
    // Every run also speaks for the channels themselves: a refusing channel is a finding.
    // A channel that refused in this run is not asked again in the same run.
    const refusedNow = new Set<ChannelName>();
    const first = await this.#round([...findings, ...channelFindings(this.#channels)], now, [...scope, 'alert_channel'], refusedNow, set);
    for (let round = 0; round < MAX_CHANNEL_ROUNDS && first.channelsChanged; round += 1) {
      const next = await this.#round(channelFindings(this.#channels), now, ['alert_channel'], refusedNow);
      if (!next.channelsChanged) break;
    }
    await this.#saveIfChanged(now);
    return first.result;
  }

  // One evaluation and its delivery. `channelsChanged`: a channel started or stopped refusing.
  async #round(
    findings: readonly Finding[],
    now: Date,
    scope: readonly CheckName[],
    refusedNow: Set<ChannelName>,
    set?: string,
  ): Promise<{ result: ProcessResult; channelsChanged: boolean }> {
    const refusedBefore = this.#refusedKey();
    const { notification, next } = evaluateAlerts(this.#state, findings, now, { repeatHours: this.#options.repeatHours }, scope, set);
    this.#state = next;
    let message: AlertMessage | undefined;
    if (notification !== undefined) {
      message = formatMessage(notification, this.#options.context);
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
    }
    if (this.#options.notifiers.length === 0) {
      if (notification === undefined) return { result: { notification, deliveries: [], delivered: false }, channelsChanged: false };
      this.#metrics?.record('log', 'sent');
      this.#state = recordDelivery(this.#state, notification);
      return { result: { notification, deliveries: [], delivered: true }, channelsChanged: false };
    }
    const hasPending = this.#options.notifiers.some((n) => pendingOf(this.#channels, n.channel).length > 0);
    if (message === undefined && !hasPending) return { result: { notification, deliveries: [], delivered: false }, channelsChanged: false };

    const runs = await Promise.all(
      this.#options.notifiers.map(async (notifier) =>
        refusedNow.has(notifier.channel) ? { notifier, sentPending: 0, tookMessage: false, result: undefined } : await this.#deliverToChannel(notifier, message),
      ),
    );
    for (const run of runs) if (run.result?.outcome === 'rejected') refusedNow.add(run.notifier.channel);
    const deliveries = runs.flatMap((r) => (r.result === undefined ? [] : [r.result]));
    // Delivered when some channel took it, or when every channel refused it (waiting cannot help; they
    // owe it and get it once fixed). Otherwise the next run decides again from what is true then.
    const delivered =
      notification !== undefined && (deliveries.some((d) => d.outcome === 'sent') || deliveries.every((d) => d.outcome === 'rejected'));
    for (const run of runs) this.#applyChannelRun(run, message, delivered, now);
    if (notification !== undefined) {
      if (delivered) this.#state = recordDelivery(this.#state, notification);
      else if (!this.#stop.signal.aborted) this.#log.warn('no channel took the alert; it will be sent again at the next check');
      else this.#log.warn('the alert was not sent before shutdown; it is sent after the restart');
    }
    return { result: { notification, deliveries, delivered }, channelsChanged: this.#refusedKey() !== refusedBefore };
  }

  // Sends a channel what it owes, oldest first, then the new message. A channel that owes messages
  // failed last time: its first message gets one try (it is tried again at every check), so a
  // channel that is down does not hold up the run with retries.
  async #deliverToChannel(notifier: Notifier, message: AlertMessage | undefined): Promise<ChannelRun> {
    const options: DispatchOptions = {
      retry: this.#retry,
      sleep: this.#options.sleep ?? realSleep,
      signal: this.#stop.signal,
      logger: this.#log,
      ...(this.#metrics === undefined ? {} : { metrics: this.#metrics }),
    };
    const probe: DispatchOptions = { ...options, retry: { ...this.#retry, attempts: 1 } };
    const pending = pendingOf(this.#channels, notifier.channel);
    let sentPending = 0;
    for (const entry of pending) {
      // Late: the footer says so, since "since ... (x min ago)" was written when it was due.
      const late = { ...entry.message, footer: `${entry.message.footer} · delayed: due ${formatTime(new Date(entry.queuedAt))}, when ${notifier.channel} could not take it` };
      const result = await deliverWithRetries(late, notifier, sentPending === 0 ? probe : options);
      if (result.outcome !== 'sent') return { notifier, sentPending, tookMessage: false, result };
      sentPending += 1;
    }
    if (message === undefined) return { notifier, sentPending, tookMessage: false, result: undefined };
    const result = await deliverWithRetries(message, notifier, options);
    return { notifier, sentPending, tookMessage: result.outcome === 'sent', result };
  }

  #applyChannelRun(run: ChannelRun, message: AlertMessage | undefined, delivered: boolean, now: Date): void {
    const { channel, description } = run.notifier;
    if (run.sentPending > 0 || run.tookMessage) {
      if (this.#channels[channel]?.refused !== undefined) this.#log.info({ channel }, `${description} takes alerts again`);
      this.#channels = withSent(this.#channels, channel, run.sentPending);
    }
    const error = run.result?.outcome === 'rejected' ? run.result.error : undefined;
    if (error !== undefined) {
      this.#channels = withRefused(this.#channels, channel, {
        since: now.toISOString(),
        description,
        error: error.shortMessage,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
      });
    }
    // This run's message is owed by every channel that did not take it, once it counts as delivered.
    if (message !== undefined && delivered && !run.tookMessage) this.#channels = withQueued(this.#channels, channel, message, now);
  }

  #refusedKey(): string {
    return this.#options.notifiers.map((n) => `${n.channel}:${this.#channels[n.channel]?.refused === undefined ? 'ok' : 'refused'}`).join(',');
  }

  // Loads the state (again after start()): what was loaded replaces memory; when nothing can be read,
  // memory is kept (empty at the first start).
  async #ensureLoaded(): Promise<void> {
    if (this.#loaded) return;
    const { stateStore, notifiers } = this.#options;
    try {
      const loaded = await stateStore.load();
      if (loaded.kind === 'loaded') {
        this.#state = { version: 1, firing: loaded.state.firing, resolved: loaded.state.resolved };
        this.#channels = onlyChannels(loaded.state.channels, notifiers.map((n) => n.channel));
        this.#revision = loaded.state.revision;
        this.#log.info(
          {
            stateLocation: stateStore.location,
            revision: loaded.state.revision,
            firing: firingAlerts(loaded.state).map((a) => a.check),
            pending: this.pendingDeliveries(),
          },
          'alert state loaded',
        );
      } else {
        this.#state = emptyAlertState();
        this.#channels = {};
        if (loaded.kind === 'missing' && loaded.setAside !== undefined) {
          this.#log.warn({ stateLocation: stateStore.location, setAside: loaded.setAside }, `no alert state stored: starting with nothing firing; ${loaded.setAside}, so it is not used`);
        } else if (loaded.kind === 'missing') {
          this.#log.info({ stateLocation: stateStore.location }, 'no alert state stored yet: starting with nothing firing');
        } else {
          this.#log.warn(
            { stateLocation: stateStore.location, reason: loaded.reason },
            `stored alert state is unreadable (${loaded.reason}): starting fresh; it is rewritten at the next change`,
          );
        }
      }
      // A copy that is behind (or was pruned of channels no longer configured, or set aside) is rewritten at the next run.
      const stale =
        (loaded.kind === 'loaded' && (loaded.stale === true || channelStatesKey(this.#channels) !== channelStatesKey(loaded.state.channels))) ||
        (loaded.kind === 'missing' && loaded.setAside !== undefined);
      this.#saved = stale ? undefined : this.#materialKey();
    } catch (error) {
      this.#log.warn(
        { stateLocation: stateStore.location, err: errForLog(error) },
        `could not read the alert state (${shortMessageOf(error)}): starting fresh (or from what this process knows); an alert already sent may be sent once more`,
      );
    }
    this.#loaded = true;
  }

  // Saves when something that must survive a restart changed, or when the last save failed or a copy
  // is behind; a failed save is kept in memory and tried again at the next run.
  async #saveIfChanged(now: Date): Promise<void> {
    const key = this.#materialKey();
    if (key === this.#saved) return;
    const { stateStore } = this.#options;
    this.#revision += 1;
    const state: PersistedAlertState = { ...this.#state, channels: this.#channels, revision: this.#revision, savedAt: now.toISOString() };
    try {
      await stateStore.save(state);
      this.#saved = key;
    } catch (error) {
      if (error instanceof LocalCopyError) {
        // The stored copy is current; the local one is written again at the next change.
        this.#saved = key;
        this.#log.warn({ stateLocation: stateStore.location, err: errForLog(error) }, `could not save the alert state: ${shortMessageOf(error)}`);
        return;
      }
      this.#saved = undefined;
      this.#log.warn(
        { stateLocation: stateStore.location, err: errForLog(error) },
        `could not save the alert state: ${shortMessageOf(error)}; it is saved again at the next check`,
      );
    }
  }

  #materialKey(): string {
    return `${materialKey(this.#state)}|${channelStatesKey(this.#channels)}`;
  }

  async #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task, task);
    this.#queue = result.catch(() => undefined);
    return await result;
  }
}
