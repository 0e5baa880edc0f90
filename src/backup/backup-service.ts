import { randomBytes } from 'node:crypto';
import { BackupError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { formatDuration } from '../util/format.ts';
import type { RunContext } from './job.ts';
import type { BackupFailure, BackupResult, BackupSkipped, BackupSuccess, BackupTrigger } from './result.ts';
import { scheduleCron, type CronSchedule } from './scheduler.ts';

export type RunBackup = (run: RunContext) => Promise<BackupResult>;
export type RunFinishedListener = (result: BackupResult) => void | Promise<void>;

export interface BackupServiceOptions {
  runBackup: RunBackup;
  cron: string;
  logger: Logger;
  clock?: () => Date;
  newRunId?: () => string;
}

// The backup job as a long-lived service: cron schedule (UTC), one run at a time in this process (a
// run due while one runs is skipped and logged), last results for /status and metrics, and listeners
// told after each run (the monitor and alerts hook in there). Nothing here throws into the scheduler.
export class BackupService {
  readonly #options: BackupServiceOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #listeners = new Set<RunFinishedListener>();
  #schedule: CronSchedule | undefined;
  #running: { promise: Promise<BackupResult>; abort: AbortController; runId: string } | undefined;
  #lastResult: BackupSuccess | BackupFailure | undefined;
  #lastSuccess: BackupSuccess | undefined;
  #lastSkipped: BackupSkipped | undefined;
  #stopped = false;

  constructor(options: BackupServiceOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#clock = options.clock ?? (() => new Date());
  }

  // The last run that ran (success or failure); skips do not replace it, so a skip never hides a failure.
  get lastResult(): BackupSuccess | BackupFailure | undefined {
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
    return this.#running !== undefined;
  }

  nextRunAt(): Date | undefined {
    return this.#schedule?.nextRunAt();
  }

  // Registers a listener called after every run; returns a function that removes it.
  onRunFinished(listener: RunFinishedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // Starts the cron schedule (and one run now when runOnStartup).
  start(options: { runOnStartup?: boolean } = {}): void {
    if (this.#schedule) return;
    this.#stopped = false;
    this.#schedule = scheduleCron(this.#options.cron, () => {
      void this.runOnce('schedule');
    });
    this.#log.info({ cron: this.#options.cron, timezone: 'UTC', nextRunAt: this.nextRunAt()?.toISOString() }, 'backup schedule started');
    if (options.runOnStartup) void this.runOnce('startup');
  }

  // Stops the schedule, cancels a run in progress (its upload is aborted) and waits for it to end.
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#schedule?.cancel();
    this.#schedule = undefined;
    const running = this.#running;
    if (running) {
      running.abort.abort();
      await running.promise;
    }
  }

  // Runs one backup now unless one is already running in this process (then: a 'skipped' result).
  // Never rejects.
  async runOnce(trigger: BackupTrigger = 'manual'): Promise<BackupResult> {
    const runId = (this.#options.newRunId ?? (() => randomBytes(6).toString('hex')))();
    if (this.#running) {
      const now = this.#clock();
      const message = `skipped: backup ${this.#running.runId} is still running`;
      this.#log.warn({ runId, trigger, runningRunId: this.#running.runId }, message);
      const result: BackupResult = { runId, trigger, startedAt: now, finishedAt: now, durationMs: 0, status: 'skipped', reason: 'running', message };
      await this.#finish(result);
      return result;
    }
    const abort = new AbortController();
    const promise = this.#execute({ runId, trigger, signal: abort.signal });
    this.#running = { promise, abort, runId };
    try {
      return await promise;
    } finally {
      this.#running = undefined;
    }
  }

  async #execute(run: RunContext): Promise<BackupResult> {
    let result: BackupResult;
    const startedAt = this.#clock();
    try {
      result = await this.#options.runBackup(run);
    } catch (caught) {
      // runBackupJob never throws; a custom runBackup might.
      const finishedAt = this.#clock();
      const error = caught instanceof BackupError ? caught : new BackupError('dump', `backup failed unexpectedly: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
      this.#log.error({ runId: run.runId, err: error }, `backup failed: ${error.shortMessage}`);
      result = { runId: run.runId, trigger: run.trigger, startedAt, finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime(), status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error };
    }
    await this.#finish(result);
    if (!this.#stopped && this.#schedule) {
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
        this.#log.error({ runId: result.runId, err: error }, 'a backup run listener failed');
      }
    }
  }
}
