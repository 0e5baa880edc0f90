import { nameErrorSettings } from '../config/setting-names.ts';
import type { DatabaseSelection, Location } from '../config/types.ts';
import { BackupError, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { runBackupJob, type BackupJobDeps, type RunContext } from '../backup/job.ts';
import { databaseLocation } from '../core/naming.ts';
import type { BackupFailure, BackupResult } from '../backup/result.ts';
import { selectDatabases } from './list-databases.ts';

// Many databases as backup sets: one run backs up every database of the selection, at most
// BACKUP_CONCURRENCY at once, all with the run's start time in their keys (one run = one timestamp).
// One database failing never stops the others: each set gets its own result.

export interface SetResult {
  // The set's name: the database's real name (or setName's, SENTINEL_CONFIG).
  set: string;
  location: Location;
  result: BackupResult;
}

export interface SetsRunOutcome {
  results: SetResult[];
  // The run as one result (for the schedule and /status): failed when any set failed, naming them.
  aggregate: BackupResult;
}

export interface BackupSetsOptions {
  job: Omit<BackupJobDeps, 'location' | 'database'>;
  base: Location;
  selection: DatabaseSelection;
  concurrency: number;
  // The databases on the server (BACKUP_DATABASES=*); asked at each run.
  listDatabases: () => Promise<string[]>;
  logger: Logger;
  clock?: () => Date;
  // The set a database is (SENTINEL_CONFIG: `<file set>/<database>`); default the database's name.
  setName?: (database: string) => string;
  // Test seam; default runBackupJob.
  runOne?: (deps: BackupJobDeps, run: RunContext) => Promise<BackupResult>;
}

export class BackupSetsRunner {
  readonly #options: BackupSetsOptions;
  readonly #clock: () => Date;
  // The databases the last listing found (BACKUP_DATABASES=*): one missing from the next is reported.
  #lastListed: string[] | undefined;
  readonly #listeners = new Set<(result: SetResult) => void | Promise<void>>();
  // Why the last run could not even tell which databases to back up (listing failed, none selected).
  #problem: BackupError | undefined;

  constructor(options: BackupSetsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
  }

  // Tells `listener` each set's result as soon as it is known (the set's monitor checks then);
  // returns a function that removes it.
  onSetResult(listener: (result: SetResult) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // The last run's problem with the selection itself (no set to pin it on); undefined when it resolved.
  get problem(): BackupError | undefined {
    return this.#problem;
  }

  // The sets known now without asking the server: the configured names, or the last listing.
  knownSets(): string[] {
    const { selection } = this.#options;
    return (selection.kind === 'names' ? [...selection.names] : [...(this.#lastListed ?? [])]).map((db) => this.#setName(db));
  }

  // Resolves the selection (BACKUP_DATABASES=* asks the server). Never throws for `names`.
  async resolve(): Promise<string[]> {
    const { selection } = this.#options;
    if (selection.kind === 'names') return selectDatabases(selection, undefined);
    const listed = await this.#options.listDatabases();
    return selectDatabases(selection, listed);
  }

  // The folder of one database (by its name on the server).
  location(database: string): Location {
    return databaseLocation(this.#options.base, database);
  }

  #setName(database: string): string {
    return this.#options.setName?.(database) ?? database;
  }

  // One run over every set. Never throws.
  async run(run: RunContext): Promise<SetsRunOutcome> {
    const startedAt = this.#clock();
    const log = this.#options.logger.child({ runId: run.runId });
    const previous = this.#lastListed;
    let databases: string[];
    try {
      databases = await this.resolve();
      if (this.#options.selection.kind === 'all') this.#lastListed = databases;
    } catch (caught) {
      const error = caught instanceof BackupError ? caught : new BackupError('config', `cannot resolve BACKUP_DATABASES: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
      log.error({ err: errForLog(error), hint: error.hint }, `backup failed: ${error.shortMessage}`);
      this.#problem = error;
      // Every set known from before gets the failure, so each one's backup_failed names it.
      const known = this.#options.selection.kind === 'names' ? this.#options.selection.names : (this.#lastListed ?? []);
      const results = known.map((db) => ({ set: this.#setName(db), location: this.location(db), result: this.#failure(run, startedAt, error) }));
      for (const r of results) await this.#tell(r, log);
      return { results, aggregate: this.#failure(run, startedAt, error) };
    }
    const results: SetResult[] = [];
    this.#problem =
      databases.length === 0
        ? new BackupError('config', 'BACKUP_DATABASES=* found no database to back up on the server', {
            hint: 'check that the user of BACKUP_DATABASE_URL may CONNECT to the databases, and BACKUP_EXCLUDE_DATABASES',
          })
        : undefined;
    // A database the previous listing had and this one has not: dropped or renamed; reported on its set.
    for (const gone of (previous ?? []).filter((name) => !databases.includes(name) && !this.#excluded(name))) {
      const error = new BackupError('config', `database "${gone}" is no longer on the server (BACKUP_DATABASES=*): it was not backed up`, {
        hint: 'if it was dropped or renamed on purpose, add it to BACKUP_EXCLUDE_DATABASES (its stored backups stay until retention removes them)',
      });
      log.warn({ set: this.#setName(gone) }, error.shortMessage);
      const r = { set: this.#setName(gone), location: this.location(gone), result: this.#failure(run, startedAt, error) };
      results.push(r);
      await this.#tell(r, log);
    }
    log.info({ databases, concurrency: this.#options.concurrency }, `backing up ${databases.length} database${databases.length === 1 ? '' : 's'}`);
    const queue = [...databases];
    const worker = async (): Promise<void> => {
      for (let set = queue.shift(); set !== undefined; set = queue.shift()) {
        if (run.signal?.aborted === true) break;
        const location = this.location(set);
        const runOne = this.#options.runOne ?? runBackupJob;
        const result = await runOne(
          { ...this.#options.job, location, database: set, logger: this.#options.job.logger.child({ set: this.#setName(set) }) },
          { ...run, startedAt },
        );
        const r = { set: this.#setName(set), location, result };
        results.push(r);
        await this.#tell(r, log);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#options.concurrency, databases.length)) }, () => worker()));
    return { results, aggregate: this.#aggregate(run, startedAt, results) };
  }

  #excluded(name: string): boolean {
    const { selection } = this.#options;
    return selection.kind === 'all' && selection.exclude.includes(name);
  }

  async #tell(result: SetResult, log: Logger): Promise<void> {
    for (const listener of this.#listeners) {
      try {
        await listener(result);
      } catch (error) {
        log.error({ set: result.set, err: errForLog(error) }, 'a backup set listener failed');
      }
    }
  }

  // Every failure of a run is made here: its hint names the file's keys for a set of SENTINEL_CONFIG.
  #failure(run: RunContext, startedAt: Date, error: BackupError): BackupFailure {
    nameErrorSettings(error, this.#options.job.settingNames);
    const finishedAt = this.#clock();
    return { runId: run.runId, trigger: run.trigger, startedAt, finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime(), status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error };
  }

  // The whole run as one result: cancelled when the service stopped it, failed when any set failed
  // (naming every failed set), skipped when every set was skipped, else the last success.
  #aggregate(run: RunContext, startedAt: Date, results: SetResult[]): BackupResult {
    const cancelled = results.find((r) => r.result.status === 'cancelled');
    if (cancelled !== undefined || run.signal?.aborted === true) {
      const error = cancelled?.result.status === 'cancelled' ? cancelled.result.error : new BackupError('dump', 'cancelled: the service is stopping');
      return { ...this.#failure(run, startedAt, error), status: 'cancelled' };
    }
    const failed = results.filter((r) => r.result.status === 'failed');
    if (failed.length > 0) {
      const first = failed[0]?.result;
      const names = failed.map((r) => `"${r.set}"`).join(', ');
      const error = new BackupError(first?.status === 'failed' ? first.stage : 'dump', `${failed.length} of ${results.length} databases failed: ${names}`, {
        hint: 'each failed database has its own error above (and its own backup_failed alert); the other databases were stored',
      });
      return this.#failure(run, startedAt, error);
    }
    const successes = results.filter((r) => r.result.status === 'success');
    const last = successes[successes.length - 1]?.result ?? results[results.length - 1]?.result;
    if (last !== undefined) return last;
    return this.#failure(run, startedAt, this.#problem ?? new BackupError('config', 'no database was backed up'));
  }
}
