import { randomBytes } from 'node:crypto';
import { DEFAULT_CRON_TIMEZONE } from '../core/cron.ts';
import { ScheduledTask } from '../core/scheduled-task.ts';
import { BackupError, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { formatDuration } from '../util/format.ts';
import type { RunContext } from './job.ts';
import type { BackupCancelled, BackupFailure, BackupResult, BackupSkipped, BackupSuccess, BackupTrigger } from './result.ts';

type RunBackup = (run: RunContext) => Promise<BackupResult>;
export type RunFinishedListener = (result: BackupResult) => void | Promise<void>;

export interface BackupServiceOptions {
  runBackup: RunBackup;
  cron: string;
  // CRON_TZ: the time zone the cron expression is read in; default UTC.
  timezone?: string | undefined;
  logger: Logger;
  clock?: () => Date;
  newRunId?: () => string;
}

// The backup job as a long-lived service: cron schedule (CRON_TZ, default UTC), one run at a time in
// this process (a run due while one runs is skipped and logged), last results for /status and
// metrics, and listeners told after each run (the monitor and alerts hook in there). Nothing here
// throws into the scheduler.
export class BackupService {
  readonly #options: BackupServiceOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #listeners = new Set<RunFinishedListener>();
  readonly #task: ScheduledTask<BackupResult, BackupTrigger>;
  // The skipped result made for each skipped outcome (told to listeners once, returned by runOnce).
  readonly #skips = new WeakMap<object, BackupSkipped>();
  #runningRunId: string | undefined;
  #lastResult: BackupSuccess | BackupFailure | BackupCancelled | undefined;
  #lastSuccess: BackupSuccess | undefined;
  #lastSkipped: BackupSkipped | undefined;

  // Throws CronSpecError for a schedule the cron engine cannot fire (the configuration rejects those first).
  constructor(options: BackupServiceOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#clock = options.clock ?? (() => new Date());
    this.#task = new ScheduledTask<BackupResult, BackupTrigger>({
      name: 'backup',
      schedule: { expression: options.cron, timezone: options.timezone ?? DEFAULT_CRON_TIMEZONE },
      run: (run) => this.#execute({ runId: this.#newRunId(), trigger: run.trigger, signal: run.signal }),
      logger: this.#log,
      clock: { now: this.#clock },
      logSkips: false,
    });
    this.#task.onResult(async (outcome) => {
      if (outcome.status !== 'skipped') return;
      const result = this.#skipped(outcome.trigger, outcome.at);
      this.#skips.set(outcome, result);
      await this.#finish(result);
    });
  }

  // The last run that ran (success, failure or cancelled); skips do not replace it, so a skip never hides a failure.
  get lastResult(): BackupSuccess | BackupFailure | BackupCancelled | undefined {
    return this.#lastResult;
  }

  // The last skipped run (another run in progress, or another replica holding the lock).
  get lastSkipped(): BackupSkipped | undefined {
    return this.#lastSkipped;
  }

  get lastSuccess(): BackupSuccess | undefined {
    return this.#lastSuccess;
  }

  get isRunning(): boolean {
    return this.#task.inFlight !== undefined;
  }

  nextRunAt(): Date | undefined {
    return this.#task.nextRunAt();
  }

  // Registers a listener called after every run; returns a function that removes it.
  onRunFinished(listener: RunFinishedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // Starts the cron schedule (and one run now when runOnStartup).
  start(options: { runOnStartup?: boolean } = {}): void {
    if (this.#task.started) return;
    this.#task.start();
    const { expression, timezone } = this.#task.schedule;
    this.#log.info({ cron: expression, timezone, nextRunAt: this.nextRunAt()?.toISOString() }, 'backup schedule started');
    if (options.runOnStartup) void this.runOnce('startup');
  }

  // Stops the schedule, cancels a run in progress (its upload is aborted) and waits for it to end.
  async stop(): Promise<void> {
    await this.#task.stop();
  }

  // Runs one backup now unless one is already running in this process (then: a 'skipped' result).
  // Never rejects.
  async runOnce(trigger: BackupTrigger = 'manual'): Promise<BackupResult> {
    const outcome = await this.#task.runNow(trigger);
    if (outcome.status === 'skipped') return this.#skips.get(outcome) ?? this.#skipped(trigger, outcome.at);
    if (outcome.status === 'failed') return this.#unexpected({ runId: this.#newRunId(), trigger }, outcome.startedAt, outcome.error);
    // #execute never throws, so a cancelled run has its (cancelled) result.
    return outcome.value ?? asCancelled(this.#unexpected({ runId: this.#newRunId(), trigger }, outcome.startedAt, new Error('cancelled: the service is stopping')));
  }

  #newRunId(): string {
    return (this.#options.newRunId ?? (() => randomBytes(6).toString('hex')))();
  }

  #skipped(trigger: BackupTrigger, now: Date): BackupSkipped {
    const runId = this.#newRunId();
    const message = `skipped: backup ${this.#runningRunId} is still running`;
    this.#log.warn({ runId, trigger, runningRunId: this.#runningRunId }, message);
    return { runId, trigger, startedAt: now, finishedAt: now, durationMs: 0, status: 'skipped', reason: 'running', message };
  }

  #unexpected(run: Pick<RunContext, 'runId' | 'trigger'>, startedAt: Date, caught: unknown): BackupFailure {
    const finishedAt = this.#clock();
    const error = caught instanceof BackupError ? caught : new BackupError('dump', `backup failed unexpectedly: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
    this.#log.error({ runId: run.runId, err: errForLog(error) }, `backup failed: ${error.shortMessage}`);
    return { runId: run.runId, trigger: run.trigger, startedAt, finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime(), status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error };
  }

  async #execute(run: RunContext): Promise<BackupResult> {
    let result: BackupResult;
    const startedAt = this.#clock();
    this.#runningRunId = run.runId;
    try {
      result = await this.#options.runBackup(run);
    } catch (caught) {
      // runBackupJob never throws; a custom runBackup might.
      result = this.#unexpected(run, startedAt, caught);
    }
    // The run's signal fires only when the service stops: what the run ended as is then a cancellation.
    if (result.status === 'failed' && run.signal?.aborted === true) result = asCancelled(result);
    await this.#finish(result);
    if (this.#task.started) {
      this.#log.info({ runId: run.runId, status: result.status, duration: formatDuration(result.durationMs), nextRunAt: this.nextRunAt()?.toISOString() }, 'next backup scheduled');
    }
    return result;
  }

  async #finish(result: BackupResult): Promise<void> {
    if (result.status === 'skipped') this.#lastSkipped = result;
    else this.#lastResult = result;
    if (result.status === 'success') this.#lastSuccess = result;
    for (const listener of this.#listeners) {
      try {
        await listener(result);
      } catch (error) {
        this.#log.error({ runId: result.runId, err: errForLog(error) }, 'a backup run listener failed');
      }
    }
  }
}

function asCancelled(failure: BackupFailure): BackupCancelled {
  return { ...failure, status: 'cancelled' };
}
