import { DEFAULT_CRON_TIMEZONE } from '../core/cron.ts';
import { ScheduledTask, type TaskOutcome } from '../core/scheduled-task.ts';
import { errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import type { BackupStore } from '../storage/store.ts';
import type { DecryptFactory } from './backup-source.ts';
import type { RowTolerance } from './compare.ts';
import { runDrill, type DrillResult } from './drill.ts';
import { drillReceipt, verifyReceipt, writeReceipt } from './receipts.ts';
import type { PgTools } from './pg-tools.ts';
import type { RestoreTarget } from './target.ts';
import { verifyFindings, type CheckRecord } from './verify-findings.ts';
import { verifyBackup, verifyVerdict, type VerifyResult } from './verify.ts';

export interface VerifyState {
  lastVerify: VerifyResult | undefined;
  lastVerifySuccessAt: Date | undefined;
  lastDrill: DrillResult | undefined;
  lastDrillSuccessAt: Date | undefined;
  running: boolean;
}

export interface VerifyRun {
  verify: VerifyResult;
  // undefined when no VERIFY_RESTORE_URL is configured.
  drill: DrillResult | undefined;
}

export type VerifyListener = (run: VerifyRun, findings: Finding[]) => void | Promise<void>;

export interface VerifyServiceOptions {
  store: BackupStore;
  prefix: string;
  // VERIFY_CRON, read in `timezone` (CRON_TZ, default UTC).
  cron: string;
  timezone?: string | undefined;
  // VERIFY_RESTORE_URL; no drills without it.
  scratch: RestoreTarget | undefined;
  // BACKUP_DATABASE_URL, for the drill's row estimates.
  source: RestoreTarget | undefined;
  tools: PgTools;
  decrypt: DecryptFactory | undefined;
  logger: Logger;
  clock?: () => Date;
  tolerance?: RowTolerance;
  // Where each run leaves its receipts (receipts.ts); none when undefined.
  receiptsFolder?: string | undefined;
}

// Verifies the newest backup on VERIFY_CRON and, with VERIFY_RESTORE_URL, runs a restore drill after
// it. Keeps the last results for metrics, /health and findings; tells listeners (alerts). One run at
// a time; never throws out of a scheduled run.
export class VerifyService {
  readonly #options: VerifyServiceOptions;
  readonly #log: Logger;
  readonly #listeners = new Set<VerifyListener>();
  readonly #tableCache = new Map<string, string[]>();
  #state: VerifyState = { lastVerify: undefined, lastVerifySuccessAt: undefined, lastDrill: undefined, lastDrillSuccessAt: undefined, running: false };
  #running: Promise<VerifyRun> | undefined;
  readonly #task: ScheduledTask<VerifyRun>;

  // Throws CronSpecError for a schedule the cron engine cannot fire (the configuration rejects those first).
  constructor(options: VerifyServiceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'verify-service' });
    this.#task = new ScheduledTask({
      name: 'verification',
      schedule: { expression: options.cron, timezone: options.timezone ?? DEFAULT_CRON_TIMEZONE },
      run: (run) => this.#run(run.signal),
      logger: this.#log,
    });
  }

  state(): VerifyState {
    return { ...this.#state };
  }

  // The checks verification has evaluated (listed as passing in /health when clear): none before it ran.
  checks(): readonly CheckName[] {
    return this.#state.lastVerify === undefined ? [] : ['verify_failed', 'drill_failed'];
  }

  findings(): Finding[] {
    return verifyFindings(toRecord(this.#state.lastVerify), drillRecord(this.#state.lastDrill));
  }

  onResult(listener: VerifyListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // Runs a verification (and drill) now; a call while one runs gets that run's result (a scheduled
  // time that comes while one runs is skipped and logged).
  runNow(): Promise<VerifyRun> {
    // One promise for every caller of the same run.
    this.#running ??= this.#task.runOrJoin('manual').then(unwrap).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  start(): void {
    this.#task.start();
    const { expression, timezone } = this.#task.schedule;
    this.#log.info({ cron: expression, timezone, drill: this.#options.scratch !== undefined, next: this.nextRunAt()?.toISOString() }, 'verification scheduled');
  }

  nextRunAt(): Date | undefined {
    return this.#task.nextRunAt();
  }

  // Cancels the schedule and stops a running drill (its restore rolls back, its database is dropped).
  async stop(): Promise<void> {
    await this.#task.stop();
  }

  async #run(signal: AbortSignal): Promise<VerifyRun> {
    this.#state = { ...this.#state, running: true };
    try {
      return await this.#verifyAndDrill(signal);
    } finally {
      this.#state = { ...this.#state, running: false };
    }
  }

  async #verifyAndDrill(signal: AbortSignal): Promise<VerifyRun> {
    const o = this.#options;
    const clock = o.clock ?? (() => new Date());
    const verify = await verifyBackup({ store: o.store, prefix: o.prefix, tools: o.tools, decrypt: o.decrypt, logger: o.logger, now: clock, tableCache: this.#tableCache, signal });
    // Cut short by stop(): its problems are the cancellation, not the backup's. Nothing is recorded,
    // told or left as a receipt; the next run verifies again.
    if (signal.aborted) return { verify, drill: undefined };
    this.#state = { ...this.#state, lastVerify: verify, ...(verifyVerdict(verify) === 'intact' ? { lastVerifySuccessAt: verify.checkedAt } : {}) };
    let drill: DrillResult | undefined;
    if (o.scratch && !signal.aborted) {
      drill = await runDrill({
        store: o.store,
        prefix: o.prefix,
        key: verify.key,
        scratch: o.scratch,
        source: o.source,
        tools: o.tools,
        decrypt: o.decrypt,
        logger: o.logger,
        now: clock,
        signal,
        ...(o.tolerance ? { tolerance: o.tolerance } : {}),
      });
      this.#state = { ...this.#state, lastDrill: drill, ...(drill.ok ? { lastDrillSuccessAt: drill.checkedAt } : {}) };
    }
    this.#pruneCache(verify.key);
    await this.#leaveReceipts(verify, drill);
    const run: VerifyRun = { verify, drill };
    const findings = this.findings();
    for (const listener of this.#listeners) {
      try {
        await listener(run, findings);
      } catch (error) {
        this.#log.error({ err: errForLog(error) }, 'a verification listener failed');
      }
    }
    return run;
  }

  // A receipt that cannot be written is logged: the verification itself stands.
  async #leaveReceipts(verify: VerifyResult, drill: DrillResult | undefined): Promise<void> {
    const folder = this.#options.receiptsFolder;
    if (folder === undefined) return;
    for (const receipt of [verifyReceipt(verify), ...(drill === undefined ? [] : [drillReceipt(drill)])]) {
      try {
        await writeReceipt(this.#options.store, folder, receipt);
      } catch (error) {
        this.#log.warn({ err: errForLog(error), kind: receipt.kind }, `the ${receipt.kind} receipt could not be written to ${this.#options.store.description}`);
      }
    }
  }

  // Only the newest table list is needed next time (it becomes the previous backup).
  #pruneCache(keep: string | undefined): void {
    for (const key of this.#tableCache.keys()) if (key !== keep) this.#tableCache.delete(key);
  }
}

// The run's result, or its error for a caller of runNow (the scheduled path logs failures itself).
function unwrap(outcome: TaskOutcome<VerifyRun>): VerifyRun {
  if (outcome.status === 'done') return outcome.value;
  if (outcome.status === 'failed') throw outcome.error;
  if (outcome.status === 'cancelled' && outcome.value !== undefined) return outcome.value;
  throw new Error(outcome.status === 'skipped' ? 'verification is already running' : 'verification cancelled: the service is stopping');
}

// No backup at all is the monitor's finding (stale), not a verification problem: no double alert.
function toRecord(result: VerifyResult | undefined): CheckRecord | undefined {
  if (!result) return undefined;
  const problems = result.problems.filter((p) => p.kind !== 'no-backup');
  return {
    key: result.key,
    ok: problems.length === 0,
    checkedAt: result.checkedAt,
    problems: problems.map((p) => ({ message: p.message, hint: p.hint, warnOnly: p.kind === 'vanished-table' })),
  };
}

function drillRecord(result: DrillResult | undefined): CheckRecord | undefined {
  if (!result || result.noBackup) return undefined;
  return { key: result.key, ok: result.ok, checkedAt: result.checkedAt, problems: result.problems.map((message) => ({ message })) };
}
