import type { Location, MonitorSettings } from '../config/types.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { DEFAULT_CRON_TIMEZONE } from '../core/cron.ts';
import { ScheduledTask, type TaskOutcome } from '../core/scheduled-task.ts';
import { errForLog, shortMessageOf, StorageError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { nameSettings, settingNamesOf, type SettingNames } from '../config/setting-names.ts';
import type { BackupStore } from '../storage/store.ts';
import { keyPrefix } from '../core/naming.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import { evaluate, MONITOR_CHECKS, STORAGE_CHECKS, type MonitorPolicy, type StorageFailure } from './checks.ts';
import { BackupInventory, type RefreshResult } from './listing.ts';
import {
  applyBackupRun,
  buildStatus,
  emptyBackupRunState,
  RECENT_BACKUPS_KEPT,
  lastRunOutcome,
  type BackupRunRecord,
  type BackupRunState,
  type CheckResult,
  type MonitorSnapshot,
} from './state.ts';

// The monitor's current state for health probes, as plain data: the composition root hands it to the
// HTTP layer, which builds the answers (the monitor knows nothing of HTTP).
export interface MonitorHealth {
  findings: readonly Finding[];
  // undefined: no check has finished yet.
  checkedAt: Date | undefined;
  // The checks the last check evaluated (those it found clear pass).
  checks?: readonly CheckName[];
}

export interface MonitorReadiness {
  ready: boolean;
  // Why not ready, for people.
  reasons?: string[];
}

export type CheckListener = (result: CheckResult, snapshot: MonitorSnapshot) => void | Promise<void>;

export interface MonitorRunnerOptions {
  store: BackupStore;
  location: Location;
  settings: MonitorSettings;
  logger: Logger;
  clock?: Clock;
  // CRON_TZ: the time zone MONITOR_CRON is read in; default UTC.
  timezone?: string | undefined;
  // The first backup starts with the service (RUN_ON_STARTUP): the check at start, taken while it runs
  // (on a new deployment often "no backup yet"), shows in /health at once but is marked quiet, so
  // alerting waits for the check after that backup and a healthy first deploy sends no FIRING/RESOLVED pair.
  firstBackupAtStart?: boolean;
  // A set of SENTINEL_CONFIG: how hints name the keys its entry in the file gave (Config.settingNames).
  settingNames?: SettingNames | undefined;
  // Listing tuning (see listing.ts); defaults: full listing daily, or always under 1,000 objects.
  fullListingIntervalMs?: number;
  fullListingMaxObjects?: number;
}

// Runs the freshness check: lists storage, evaluates, stores the result, tells listeners. Never
// throws: a listing failure is a storage_unreachable finding. One check at a time; a check asked for
// while one runs is run once more right after it (so a check after a backup sees that backup).
// Every check is a run of the schedule's task and lists with its abort signal: stop() cancels a check
// riding out a storage outage's retries at once, and a cancelled check records and tells nothing.
export class MonitorRunner {
  private readonly policy: MonitorPolicy;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly inventory: BackupInventory;
  private readonly where: string;
  // How hints name the settings (a destination or a set of SENTINEL_CONFIG: its keys in the file).
  private readonly settingNames: SettingNames | undefined;
  private readonly listeners = new Set<CheckListener>();
  private backupRuns: BackupRunState = emptyBackupRunState();
  private lastCheck: CheckResult | undefined;
  private lastSuccessfulCheckAt: Date | undefined;
  private storageReached = false;
  private queued: Promise<CheckResult> | undefined;
  // Set by stop() until start(): no check is queued or started meanwhile.
  private stopping = false;
  private readonly task: ScheduledTask<CheckResult>;
  private quietChecksLeft: number;

  constructor(options: MonitorRunnerOptions) {
    const { cron, ...policy } = options.settings;
    this.policy = policy;
    this.quietChecksLeft = options.firstBackupAtStart === true ? 1 : 0;
    this.logger = options.logger.child({ component: 'monitor' });
    this.clock = options.clock ?? systemClock;
    const prefix = keyPrefix(options.location);
    this.where = `${options.store.description}/${prefix}`;
    const storeNames = settingNamesOf(options.store);
    this.settingNames = options.settingNames === undefined ? storeNames : { ...storeNames, ...options.settingNames };
    // Throws CronSpecError for a schedule the cron engine cannot fire (the configuration rejects those first).
    this.task = new ScheduledTask({
      name: 'monitor',
      schedule: { expression: cron, timezone: options.timezone ?? DEFAULT_CRON_TIMEZONE },
      run: (run) => this.check(run.signal),
      logger: this.logger,
      // A scheduled time that comes while a check runs is served by that check.
      logSkips: false,
      // The schedule follows real time; `clock` is the time checks are evaluated at (tests set it).
      clock: systemClock,
    });
    this.inventory = new BackupInventory({
      store: options.store,
      prefix,
      // The status page charts the latest 60; the size check uses the last SIZE_WINDOW of them.
      windowSize: Math.max(policy.sizeWindow + 1, RECENT_BACKUPS_KEPT),
      ...(options.fullListingIntervalMs === undefined ? {} : { fullListingIntervalMs: options.fullListingIntervalMs }),
      ...(options.fullListingMaxObjects === undefined ? {} : { fullListingMaxObjects: options.fullListingMaxObjects }),
    });
  }

  // Runs one check now (or right after the one in progress) and resolves with its result.
  runCheck(): Promise<CheckResult> {
    if (this.stopping) return Promise.resolve(this.lastCheck ?? this.cancelledResult(this.clock.now()));
    const inFlight = this.task.inFlight;
    if (inFlight === undefined) return this.task.runNow('manual').then((outcome) => this.resultOf(outcome));
    this.queued ??= inFlight.outcome.then(() => {
      this.queued = undefined;
      return this.runCheck();
    });
    return this.queued;
  }

  // check() never throws and runCheck starts a run only when none is in flight, so a run is done or
  // cancelled; a cancelled one answers with the last check.
  private resultOf(outcome: TaskOutcome<CheckResult>): CheckResult {
    if (outcome.status === 'done') return outcome.value;
    if (outcome.status === 'failed') throw outcome.error;
    return this.lastCheck ?? this.cancelledResult(outcome.status === 'skipped' ? outcome.at : outcome.startedAt);
  }

  // What a caller gets for a check cancelled before any check finished: nothing was learnt.
  private cancelledResult(at: Date): CheckResult {
    return { at, ok: false, durationMs: 0, findings: [], listing: undefined };
  }

  // Records a finished backup run (for backup_failed and the metrics) and checks storage right away.
  afterBackupRun(run: BackupRunRecord): Promise<CheckResult> {
    this.recordBackupRun(run);
    return this.runCheck();
  }

  // Records a backup run without checking (e.g. a skipped run).
  recordBackupRun(run: BackupRunRecord): void {
    this.backupRuns = applyBackupRun(this.backupRuns, run);
  }

  // Subscribes to every finished check; returns the unsubscribe function. Listeners are not awaited
  // (a slow notifier must not hold the next check); their failures are logged.
  onCheck(listener: CheckListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Checks once now, then on MONITOR_CRON (in CRON_TZ).
  start(): void {
    if (this.task.started) return;
    this.stopping = false;
    this.task.start();
    void this.runCheck();
  }

  // Stops the schedule and cancels a check in progress (its listing stops at once), and waits for it.
  async stop(): Promise<void> {
    this.stopping = true;
    await this.task.stop();
    await this.queued?.catch(() => undefined);
  }

  nextCheckAt(): Date | undefined {
    return this.task.nextRunAt();
  }

  snapshot(): MonitorSnapshot {
    return {
      policy: this.policy,
      where: this.where,
      lastCheck: this.lastCheck,
      lastSuccessfulCheckAt: this.lastSuccessfulCheckAt,
      storageReached: this.storageReached,
      inventory: this.inventory.snapshot(),
      backupRuns: this.backupRuns,
      nextCheckAt: this.nextCheckAt(),
    };
  }

  // The current findings and the checks they speak for (served as /health).
  healthState(): MonitorHealth {
    const last = this.lastCheck;
    if (last === undefined) return { findings: [], checkedAt: undefined };
    // While storage cannot be listed, the storage checks are unknown: not reported as passing.
    const checks = last.ok ? MONITOR_CHECKS : MONITOR_CHECKS.filter((c) => !STORAGE_CHECKS.includes(c));
    return { findings: last.findings, checkedAt: last.at, checks };
  }

  // Ready once storage answered at least once (served as /readyz).
  readyState(): MonitorReadiness {
    if (this.storageReached) return { ready: true };
    const failure = this.lastCheck?.findings.find((f) => f.check === 'storage_unreachable');
    return { ready: false, reasons: [failure ? `storage not reached: ${failure.summary}` : 'storage not reached yet (first check in progress)'] };
  }

  // Provider for /status.
  status(extra: { nextBackupAt?: Date | undefined } = {}): Record<string, unknown> {
    return buildStatus(this.snapshot(), this.clock.now(), extra);
  }

  private async check(signal: AbortSignal): Promise<CheckResult> {
    const started = this.clock.now();
    const t0 = performance.now();
    let storageFailure: StorageFailure | undefined;
    let listing: RefreshResult | undefined;
    try {
      listing = await this.inventory.refresh(started, signal);
      this.storageReached = true;
    } catch (error) {
      if (signal.aborted) {
        // Not storage_unreachable: the service is stopping. The next check lists again.
        this.logger.info('monitor: check cancelled (the service is stopping)');
        return this.lastCheck ?? this.cancelledResult(started);
      }
      storageFailure = toStorageFailure(error);
      this.logger.warn({ code: storageFailure.code }, `storage listing failed: ${storageFailure.message}`);
    }
    let result: CheckResult;
    try {
      const findings = evaluate(
        {
          backups: this.inventory.snapshot().recent,
          storageFailure,
          previousFindings: this.lastCheck?.findings,
          lastRun: lastRunOutcome(this.backupRuns),
          where: this.where,
        },
        this.policy,
        started,
      ).map((f) => (f.hint === undefined ? f : { ...f, hint: nameSettings(f.hint, this.settingNames) }));
      result = { at: started, ok: storageFailure === undefined, durationMs: Math.round(performance.now() - t0), findings, listing };
    } catch (error) {
      // A bug in a pure check must not stop monitoring: report it as a failed check.
      this.logger.error({ err: errForLog(error) }, 'evaluating the check failed');
      result = { at: started, ok: false, durationMs: Math.round(performance.now() - t0), findings: [], listing };
    }
    this.lastCheck = result;
    if (result.ok) this.lastSuccessfulCheckAt = started;
    this.logger.info(
      {
        ok: result.ok,
        durationMs: result.durationMs,
        listing,
        findings: result.findings.map((f) => ({ check: f.check, severity: f.severity, summary: f.summary })),
      },
      result.findings.length === 0 ? 'check passed' : `check found ${result.findings.length} problem(s): ${result.findings.map((f) => f.check).join(', ')}`,
    );
    if (this.quietChecksLeft > 0) {
      this.quietChecksLeft -= 1;
      result.quiet = true;
    }
    this.notify(result);
    return result;
  }

  private notify(result: CheckResult): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) {
      try {
        const pending = listener(result, snapshot);
        if (pending instanceof Promise) pending.catch((error: unknown) => this.logger.error({ err: errForLog(error) }, 'check listener failed'));
      } catch (error) {
        this.logger.error({ err: errForLog(error) }, 'check listener failed');
      }
    }
  }
}

function toStorageFailure(error: unknown): StorageFailure {
  if (error instanceof StorageError) {
    const failure: StorageFailure = { code: error.code, message: error.shortMessage };
    if (error.hint !== undefined) failure.hint = error.hint;
    return failure;
  }
  return { code: 'Unknown', message: shortMessageOf(error) };
}
