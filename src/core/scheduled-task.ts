import type { Logger } from '../logger.ts';
import { formatDuration } from '../util/format.ts';
import { systemClock, type Clock } from './clock.ts';
import { CronSpecError, parseCron, type CronSpec, type CronTimes } from './cron.ts';
import { errForLog } from '../errors.ts';

// What every scheduled service shares: a cron schedule, one run at a time, an abort signal for the
// run when the service stops, and listeners told every outcome. Services (backup, monitor,
// retention, verification) keep their own meaning of a run; this holds only the timing.

export interface TaskRun<K extends string = string> {
  // Why it runs: 'schedule' for a cron time, otherwise what the caller passed (startup, manual...).
  trigger: K | 'schedule';
  // The cron time it is for (undefined when not started by the schedule).
  scheduledFor: Date | undefined;
  startedAt: Date;
  // Aborted when the task is stopped while this run is in flight.
  signal: AbortSignal;
}

interface Finished<K extends string> {
  trigger: K | 'schedule';
  startedAt: Date;
  finishedAt: Date;
}

export type TaskOutcome<T, K extends string = string> =
  | (Finished<K> & { status: 'done'; value: T })
  | (Finished<K> & { status: 'failed'; error: unknown })
  // stop() aborted the run; `value` is what it returned if it ended by returning.
  | (Finished<K> & { status: 'cancelled'; value: T | undefined })
  // Another run was in flight, so this one did not start.
  | { status: 'skipped'; trigger: K | 'schedule'; at: Date; inFlight: { trigger: K | 'schedule'; startedAt: Date } };

export type TaskListener<T, K extends string = string> = (outcome: TaskOutcome<T, K>) => void | Promise<void>;

export interface ScheduledTaskOptions<T, K extends string = string> {
  // For logs: "backup", "monitor", "retention", "verification".
  name: string;
  schedule: CronSpec;
  run: (run: TaskRun<K>) => Promise<T>;
  logger: Logger;
  clock?: Clock | undefined;
  // A scheduled run that fires this much after its time is logged as late (the process was
  // suspended, the host slept, the event loop was blocked). Default one minute.
  lateAfterMs?: number | undefined;
  // Whether a skipped scheduled run is logged (warn). Default true.
  logSkips?: boolean | undefined;
}

// Longest single timer: Node caps setTimeout at 2^31-1 ms; waking daily also re-reads the clock.
const MAX_TIMER_MS = 24 * 3600 * 1000;
// A timer that wakes earlier than this before its time (clock adjusted, capped delay) waits again.
const EARLY_MS = 50;

export class ScheduledTask<T, K extends string = string> {
  readonly #options: ScheduledTaskOptions<T, K>;
  readonly #clock: Clock;
  readonly #listeners = new Set<TaskListener<T, K>>();
  readonly #times: CronTimes;
  #timer: NodeJS.Timeout | undefined;
  #next: Date | undefined;
  #inFlight: { trigger: K | 'schedule'; startedAt: Date; abort: AbortController; promise: Promise<TaskOutcome<T, K>> } | undefined;

  // Parses the schedule now, so a bad expression fails where the task is made (CronSpecError).
  constructor(options: ScheduledTaskOptions<T, K>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    try {
      this.#times = parseCron(options.schedule);
    } catch (error) {
      const { expression, timezone } = options.schedule;
      throw new CronSpecError(`${options.name}: cannot schedule "${expression}" in ${timezone}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
        hint: 'fix the schedule (docs/BACKUP_CONFIGURATION.md, "Schedules and time zones"); the configuration check rejects such a schedule at start',
      });
    }
  }

  get schedule(): CronSpec {
    return this.#times.spec;
  }

  get started(): boolean {
    return this.#next !== undefined;
  }

  // The run in flight, if any.
  get inFlight(): { trigger: K | 'schedule'; startedAt: Date; outcome: Promise<TaskOutcome<T, K>> } | undefined {
    const f = this.#inFlight;
    return f === undefined ? undefined : { trigger: f.trigger, startedAt: f.startedAt, outcome: f.promise };
  }

  // The next cron time, while started.
  nextRunAt(): Date | undefined {
    return this.#next;
  }

  onResult(listener: TaskListener<T, K>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // Arms the schedule (a second call does nothing).
  start(): void {
    if (this.#next !== undefined) return;
    this.#arm(this.#clock.now());
  }

  // Disarms the schedule, aborts the run in flight and waits for it to end. Never rejects.
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#next = undefined;
    const inFlight = this.#inFlight;
    if (inFlight !== undefined) {
      inFlight.abort.abort();
      await inFlight.promise;
    }
  }

  // Runs now unless a run is in flight (then a 'skipped' outcome). Never rejects.
  runNow(trigger: K): Promise<TaskOutcome<T, K>> {
    return this.#execute(trigger, undefined);
  }

  // The outcome of the run in flight, else of a run started now: a caller asking for a run while one
  // runs gets that one (never 'skipped'). Never rejects.
  runOrJoin(trigger: K): Promise<TaskOutcome<T, K>> {
    return this.#inFlight?.promise ?? this.#execute(trigger, undefined);
  }

  #arm(after: Date): void {
    const next = this.#times.nextAfter(after);
    this.#next = next;
    if (next === undefined) {
      this.#options.logger.warn({ cron: this.#times.spec.expression, timezone: this.#times.spec.timezone }, `${this.#options.name}: the schedule has no further run times`);
      return;
    }
    this.#wait(next);
  }

  #wait(due: Date): void {
    const delay = Math.min(Math.max(due.getTime() - this.#clock.now().getTime(), 0), MAX_TIMER_MS);
    // Not unref'd: a started schedule keeps the process alive until stop(), as a cron daemon would.
    this.#timer = setTimeout(() => this.#fire(due), delay);
  }

  #fire(due: Date): void {
    this.#timer = undefined;
    if (this.#next !== due) return; // stopped (or restarted) meanwhile
    const now = this.#clock.now();
    if (due.getTime() - now.getTime() > EARLY_MS) {
      this.#wait(due);
      return;
    }
    const lateBy = now.getTime() - due.getTime();
    if (lateBy > (this.#options.lateAfterMs ?? 60_000)) {
      this.#options.logger.warn(
        { scheduledFor: due.toISOString(), lateByMs: lateBy },
        `${this.#options.name}: the run due at ${due.toISOString()} fired ${formatDuration(lateBy)} late (the process was suspended or busy); running it once now, missed times are not repeated`,
      );
    }
    // The next time after both the due time and now: a run fired early by a few ms is not repeated,
    // and times missed during a suspend are not caught up one by one.
    this.#arm(new Date(Math.max(now.getTime(), due.getTime())));
    void this.#execute('schedule', due);
  }

  async #execute(trigger: K | 'schedule', scheduledFor: Date | undefined): Promise<TaskOutcome<T, K>> {
    const current = this.#inFlight;
    if (current !== undefined) {
      const outcome: TaskOutcome<T, K> = { status: 'skipped', trigger, at: this.#clock.now(), inFlight: { trigger: current.trigger, startedAt: current.startedAt } };
      if (this.#options.logSkips ?? true) {
        this.#options.logger.warn(
          { trigger, inFlight: outcome.inFlight.trigger, inFlightSince: current.startedAt.toISOString() },
          `${this.#options.name}: skipped (${trigger}): the ${current.trigger} run started at ${current.startedAt.toISOString()} is still running`,
        );
      }
      await this.#tell(outcome);
      return outcome;
    }
    const abort = new AbortController();
    const startedAt = this.#clock.now();
    const promise = this.#runAndTell({ trigger, scheduledFor, startedAt, signal: abort.signal });
    this.#inFlight = { trigger, startedAt, abort, promise };
    try {
      return await promise;
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #runAndTell(run: TaskRun<K>): Promise<TaskOutcome<T, K>> {
    let outcome: TaskOutcome<T, K>;
    try {
      const value = await this.#options.run(run);
      const finished = { trigger: run.trigger, startedAt: run.startedAt, finishedAt: this.#clock.now() };
      outcome = run.signal.aborted ? { ...finished, status: 'cancelled', value } : { ...finished, status: 'done', value };
    } catch (error) {
      const finished = { trigger: run.trigger, startedAt: run.startedAt, finishedAt: this.#clock.now() };
      if (run.signal.aborted) {
        outcome = { ...finished, status: 'cancelled', value: undefined };
      } else {
        this.#options.logger.error({ err: errForLog(error), trigger: run.trigger }, `${this.#options.name}: run failed`);
        outcome = { ...finished, status: 'failed', error };
      }
    }
    await this.#tell(outcome);
    return outcome;
  }

  async #tell(outcome: TaskOutcome<T, K>): Promise<void> {
    for (const listener of this.#listeners) {
      try {
        await listener(outcome);
      } catch (error) {
        this.#options.logger.error({ err: errForLog(error) }, `${this.#options.name}: a result listener failed`);
      }
    }
  }
}
