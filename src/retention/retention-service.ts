// Applies retention at start and daily: in lifecycle mode reads the bucket's lifecycle rules and,
// with MANAGE_LIFECYCLE=true, puts ours; in prune mode deletes old backups safely. Falls back from
// lifecycle to prune when the endpoint answers NotImplemented (RETENTION_MODE unset), and says so.
// Never throws: failures are logged, kept in the status and reported as a retention finding. Every
// run carries its task's abort signal down to each storage call, so stop() cancels a run in flight at
// once (even one riding out an outage's retries): a cancelled run records nothing, raises no finding,
// and the next run starts over.
import type { Registry } from 'prom-client';
import { keyPrefix } from '../core/naming.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import type { Config, Location, RetentionSettings } from '../config/types.ts';
import { dailyAt } from '../core/cron.ts';
import { ScheduledTask, type TaskOutcome } from '../core/scheduled-task.ts';
import { errForLog, shortMessageOf, StorageError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { MonitorPolicy } from '../monitor/checks.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import type { BackupStore, StoredObject } from '../storage/store.ts';
import { formatBytes } from '../util/format.ts';
import { createLifecycleStore, type LifecycleStore } from './lifecycle.ts';
import { evaluateRules, mergeRules, ourRuleId, rulesExpiringPrefix, withoutOurRule, type LifecycleEvaluation } from './lifecycle-rules.ts';
import { runPrune } from './prune.ts';
import { describeTiers } from './tiers.ts';
import { checkRetention, findOverdueBackups } from './retention-check.ts';
import { registerRetentionMetrics, type RetentionMetrics, type RetentionMetricsState } from './retention-metrics.ts';
import { initialStatus, resolveMode, type LifecycleProblem, type RetentionStatus } from './retention-status.ts';

export interface RetentionServiceOptions {
  settings: RetentionSettings;
  storageKind: 's3' | 'dir';
  location: Location;
  // The monitor's limits: a prune never runs while the newest backup is stale, empty or anomalous by these.
  freshness: MonitorPolicy;
  store: BackupStore;
  // The bucket's lifecycle rules (S3 storage); without it lifecycle mode reports an error.
  lifecycle?: LifecycleStore | undefined;
  logger: Logger;
  registry?: Registry | undefined;
  // Instead of a registry: the deletion counter of a backup set, whose gauges SetRetention registers.
  metrics?: RetentionMetrics | undefined;
  clock?: { now(): Date } | undefined;
  // The monitor's current findings (stale, empty, backup_failed ...): a prune waits while any is active.
  currentFindings?: (() => readonly Finding[] | undefined) | undefined;
  // When to run after the run at start (cron, UTC); default daily at the time of day the service was made.
  cron?: string | undefined;
}

export class RetentionService {
  private readonly options: RetentionServiceOptions;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly clock: { now(): Date };
  private readonly metrics: RetentionMetrics | undefined;
  private current: RetentionStatus;
  // The last listing of our prefix (for overdue backups); undefined until one succeeded.
  private objects: StoredObject[] | undefined;
  private readonly task: ScheduledTask<RetentionStatus>;

  constructor(options: RetentionServiceOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'retention' });
    this.prefix = keyPrefix(options.location);
    this.clock = options.clock ?? { now: () => new Date() };
    const { mode, reason } = resolveMode(options.settings, options.storageKind);
    this.current = initialStatus(mode, reason);
    this.metrics = options.metrics ?? (options.registry === undefined ? undefined : registerRetentionMetrics(options.registry, () => [['', this.metricsState()]]).forSet(''));
    this.task = new ScheduledTask({
      name: 'retention',
      schedule: { expression: options.cron ?? dailyAt(this.clock.now()), timezone: 'UTC' },
      run: (run) => this.run(run.signal),
      logger: this.logger,
    });
  }

  // Runs once now, then every day; logs the mode it starts in.
  start(): void {
    const { settings } = this.options;
    this.logger.info(
      { mode: this.current.mode, retentionDays: settings.days, tiers: settings.tiers, manageLifecycle: settings.manageLifecycle, minKept: settings.minKept, prefix: this.prefix },
      `retention: ${this.current.mode} (${this.current.modeReason})`,
    );
    if (this.current.mode === 'off') return;
    void this.runOnce();
    this.task.start();
  }

  // Cancels the run in flight (whoever started it) and waits for it to end.
  async stop(): Promise<void> {
    await this.task.stop();
  }

  status(): RetentionStatus {
    return this.current;
  }

  // For /status: with RETENTION_DAYS=0 just `{ mode: 'off' }`, as the service has nothing else to say.
  describe(): RetentionStatus | { mode: 'off' } {
    return this.current.mode === 'off' ? { mode: 'off' } : this.current;
  }

  // The checks retention has evaluated (listed as passing in /health when clear): none before its first run.
  checks(): readonly CheckName[] {
    return this.current.lastRunAt === undefined ? [] : ['retention'];
  }

  // The retention finding for the monitor's findings (at most one).
  findings(now: Date = this.clock.now()): Finding[] {
    return checkRetention({ status: this.current, settings: this.options.settings, objects: this.objects, prefix: this.prefix, now });
  }

  // One retention run (single flight: a call while one runs gets that run). Never throws. It runs as a
  // run of the schedule's task, so stop() cancels it like a scheduled one.
  runOnce(): Promise<RetentionStatus> {
    // Off (RETENTION_DAYS=0) is a mode without runs: nothing is listed or deleted, no run is recorded.
    if (this.current.mode === 'off') return Promise.resolve(this.current);
    return this.task.runOrJoin('manual').then((outcome) => this.statusAfter(outcome));
  }

  // run() never throws, so every outcome but 'skipped' (not possible: runOnce joins the run in flight) has it.
  private statusAfter(outcome: TaskOutcome<RetentionStatus>): RetentionStatus {
    return (outcome.status === 'done' || outcome.status === 'cancelled' ? outcome.value : undefined) ?? this.current;
  }

  private async run(signal: AbortSignal): Promise<RetentionStatus> {
    const now = this.clock.now();
    let ok = true;
    try {
      if (this.current.mode === 'lifecycle') ok = await this.applyLifecycle(signal);
      if (this.current.mode === 'lifecycle') await this.refreshListing(signal);
      if (this.current.mode === 'prune' && this.options.settings.tiers !== undefined) await this.checkRulesAgainstTiers(signal);
      if (this.current.mode === 'prune') ok = (await this.prune(now, signal)) && ok;
    } catch (error) {
      if (!signal.aborted) {
        ok = false;
        this.logger.error({ err: errForLog(error) }, `retention run failed: ${shortMessageOf(error)}`);
      }
    }
    if (signal.aborted) {
      // Not a failure: the service is stopping. What was deleted is gone, what was not is the next run's.
      this.logger.info('retention: run cancelled (the service is stopping); the next run starts over');
      return this.current;
    }
    this.current = { ...this.current, lastRunAt: this.clock.now(), lastRunOk: ok };
    return this.current;
  }

  // Reads (and with MANAGE_LIFECYCLE puts) the rules; false when that failed.
  private async applyLifecycle(signal: AbortSignal): Promise<boolean> {
    const { settings, lifecycle } = this.options;
    if (lifecycle === undefined) {
      return this.lifecycleFailed({ code: 'Unknown', message: 'no S3 client for lifecycle rules', hint: 'this is a wiring bug: pass a LifecycleStore' });
    }
    let config;
    try {
      config = await lifecycle.read(signal);
    } catch (error) {
      rethrowIfCancelled(error, signal);
      if (error instanceof StorageError && error.code === 'NotImplemented' && settings.mode === undefined) {
        this.current = { ...this.current, mode: 'prune', modeReason: `${lifecycle.description} answered NotImplemented to lifecycle calls, so old backups are pruned instead`, lifecycle: undefined, lifecycleProblem: undefined };
        this.logger.warn({ mode: 'prune' }, `retention: falling back to prune mode: ${this.current.modeReason}`);
        return true;
      }
      return this.lifecycleFailed(problemOf(error, 'read'));
    }
    let evaluation: LifecycleEvaluation = evaluateRules(config.rules, this.prefix, settings.days);
    if (settings.manageLifecycle) {
      const plan = mergeRules(config.rules, this.prefix, settings.days);
      if (plan.action === 'refuse') {
        return this.lifecycleFailed({ code: 'Refused', message: `backup-sentinel did not put its lifecycle rule: ${plan.reason}`, hint: plan.reason });
      }
      if (plan.action === 'put') {
        try {
          await lifecycle.write({ ...config, rules: plan.rules }, signal);
        } catch (error) {
          rethrowIfCancelled(error, signal);
          this.current = { ...this.current, lifecycle: evaluation };
          return this.lifecycleFailed(problemOf(error, 'write'));
        }
        this.logger.info({ rules: plan.rules.length }, `retention: lifecycle rule put: ${plan.reason}`);
        evaluation = evaluateRules(plan.rules, this.prefix, settings.days);
      } else {
        this.logger.debug(`retention: lifecycle rules unchanged: ${plan.reason}`);
      }
    }
    if (evaluation.state !== 'ok') {
      this.logger.warn({ ruleState: evaluation.state, ruleId: evaluation.ruleId }, `retention: ${evaluation.detail}`);
    }
    this.current = { ...this.current, lifecycle: evaluation, lifecycleProblem: undefined };
    return true;
  }

  // With tiers, a lifecycle rule on our prefix expires the backups the tiers keep: with
  // MANAGE_LIFECYCLE=true our own rule (from before the tiers) is removed; any rule left is reported.
  // Endpoints without lifecycle rules (NotImplemented) have nothing to interfere; a key that may not
  // read the rules leaves the conflict unknown (logged, not a finding: R2 object tokens cannot read them).
  private async checkRulesAgainstTiers(signal: AbortSignal): Promise<void> {
    const { settings, lifecycle, storageKind } = this.options;
    if (storageKind !== 's3' || lifecycle === undefined) return;
    let config;
    try {
      config = await lifecycle.read(signal);
    } catch (error) {
      rethrowIfCancelled(error, signal);
      if (error instanceof StorageError && error.code === 'NotImplemented') {
        this.current = { ...this.current, tierRuleConflicts: [] };
      } else {
        this.logger.warn({ err: errForLog(error) }, `retention: could not read the bucket's lifecycle rules to check that none deletes backups the tiers keep: ${shortMessageOf(error)}`);
        this.current = { ...this.current, tierRuleConflicts: undefined };
      }
      return;
    }
    let rules = config.rules;
    const remaining = settings.manageLifecycle ? withoutOurRule(rules, this.prefix) : undefined;
    if (remaining !== undefined) {
      try {
        if (remaining.length === 0) await lifecycle.clear(signal);
        else await lifecycle.write({ ...config, rules: remaining }, signal);
        rules = remaining;
        this.logger.info({ ruleId: ourRuleId(this.prefix) }, `retention: removed lifecycle rule "${ourRuleId(this.prefix)}": it expires by age alone and would delete backups the KEEP_* tiers keep`);
      } catch (error) {
        rethrowIfCancelled(error, signal);
        this.logger.error({ err: errForLog(error) }, `retention: could not remove lifecycle rule "${ourRuleId(this.prefix)}", which deletes backups the tiers keep: ${shortMessageOf(error)}`);
      }
    }
    const conflicts = rulesExpiringPrefix(rules, this.prefix).map((r) => r.detail);
    if (conflicts.length > 0) this.logger.warn({ rules: conflicts }, `retention: ${conflicts.join('; ')}: this deletes backups the KEEP_* tiers keep`);
    this.current = { ...this.current, tierRuleConflicts: conflicts };
  }

  private lifecycleFailed(problem: LifecycleProblem): false {
    this.logger.error({ code: problem.code, hint: problem.hint }, `retention: ${problem.message}`);
    this.current = { ...this.current, lifecycleProblem: problem };
    return false;
  }

  // Lists our prefix for the overdue check; keeps the previous listing when storage is unreachable.
  private async refreshListing(signal: AbortSignal): Promise<void> {
    try {
      this.objects = (await new BackupCatalog(this.options.store, this.prefix).list({ signal })).objects;
    } catch (error) {
      rethrowIfCancelled(error, signal);
      this.logger.warn({ err: errForLog(error) }, `retention: could not list backups: ${shortMessageOf(error)}`);
    }
  }

  private async prune(now: Date, signal: AbortSignal): Promise<boolean> {
    const { settings, freshness, store } = this.options;
    const findings = this.options.currentFindings?.();
    try {
      const result = await runPrune({
        store,
        location: this.options.location,
        policy: { days: settings.days, tiers: settings.tiers, minKept: settings.minKept, maxAgeHours: freshness.maxAgeHours, emptyMaxBytes: freshness.emptyMaxBytes },
        now,
        findings,
        monitorPolicy: freshness,
        onDeleted: (keys) => this.logger.info({ keys }, `retention: deleted ${keys.length} object${keys.length === 1 ? '' : 's'}`),
        signal,
      });
      const { plan } = result;
      this.objects = result.remaining;
      this.metrics?.countDeleted(result.deletedBackups);
      if (plan.refusal !== undefined && plan.held.length > 0) {
        this.logger.warn({ held: plan.held.length }, `retention: prune refused, ${plan.held.length} object(s) kept for now: ${plan.refusal}`);
      } else if (result.deleted.length > 0) {
        this.logger.info(
          { deletedBackups: result.deletedBackups, deletedManifests: result.deletedManifests, bytesFreed: result.bytesFreed },
          `retention: pruned ${result.deletedBackups} backup(s) ${settings.tiers === undefined ? `older than ${settings.days} days` : `kept by no tier (${describeTiers(settings.tiers)})`}, ${formatBytes(result.bytesFreed)} freed`,
        );
      } else {
        this.logger.debug('retention: nothing to prune');
      }
      this.current = {
        ...this.current,
        lastPrune: {
          at: now,
          dryRun: false,
          deletedBackups: result.deletedBackups,
          deletedManifests: result.deletedManifests,
          bytesFreed: result.bytesFreed,
          refusal: plan.held.length > 0 ? plan.refusal : undefined,
        },
      };
      return true;
    } catch (error) {
      rethrowIfCancelled(error, signal);
      this.logger.error({ err: errForLog(error) }, `retention: prune failed: ${shortMessageOf(error)}`);
      return false;
    }
  }

  // What the retention metrics show, from stored state (no I/O).
  metricsState(): RetentionMetricsState {
    const { settings } = this.options;
    const mode = this.current.mode;
    const overdue =
      this.objects === undefined || mode === 'off' ? undefined : findOverdueBackups(this.objects, this.prefix, settings, mode, this.clock.now()).count;
    return { status: this.current, retentionDays: settings.days, overdueBackups: overdue };
  }
}

// A step's error once the run was cancelled is the cancellation, not a storage problem: it goes up to
// run(), which records nothing.
function rethrowIfCancelled(error: unknown, signal: AbortSignal): void {
  if (signal.aborted) throw error;
}

function problemOf(error: unknown, action: 'read' | 'write'): LifecycleProblem {
  const code = error instanceof StorageError ? error.code : 'Unknown';
  const permission =
    action === 'read'
      ? 'the key needs permission to read the bucket lifecycle configuration (S3: s3:GetLifecycleConfiguration; R2: an Admin Read & Write token)'
      : 'the key needs permission to write the bucket lifecycle configuration (S3: s3:PutLifecycleConfiguration; R2: an Admin Read & Write token), or set MANAGE_LIFECYCLE=false and add the rule by hand';
  const hint =
    code === 'NotImplemented'
      ? 'this endpoint has no lifecycle rules: set RETENTION_MODE=prune so backup-sentinel deletes old backups itself'
      : code === 'AccessDenied'
        ? permission
        : error instanceof StorageError && error.hint !== undefined
          ? error.hint
          : permission;
  return { code, message: `could not ${action} the bucket's lifecycle rules: ${shortMessageOf(error)}`, hint };
}

// The retention service for a loaded configuration (the composition root passes store, logger, registry).
export function createRetentionService(
  config: Pick<Config, 'retention' | 'storage' | 'location' | 'monitor'>,
  deps: Pick<RetentionServiceOptions, 'store' | 'logger' | 'registry' | 'metrics' | 'clock' | 'currentFindings' | 'lifecycle'>,
): RetentionService {
  const storage = config.storage;
  const lifecycle = deps.lifecycle ?? (storage.kind === 's3' ? createLifecycleStore(storage) : undefined);
  return new RetentionService({
    ...deps,
    settings: config.retention,
    storageKind: storage.kind,
    location: config.location,
    freshness: config.monitor,
    lifecycle,
  });
}
