import type { Registry } from 'prom-client';
import { dailyAt } from '../core/cron.ts';
import { ScheduledTask } from '../core/scheduled-task.ts';
import { errForLog, type LeftoverUpload, shortMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import type { BackupStore, IncompleteUploadStore } from './store.ts';
import { checkIncompleteUploads, selectUploadsToAbort, SWEEP_MIN_AGE_MS, type UnremovedUpload } from './upload-sweep.ts';
import { registerUploadSweepMetrics } from './upload-sweep-metrics.ts';

export interface UploadSweepState {
  lastSweepAt: Date | undefined;
  // Incomplete uploads under the prefix after the last sweep's aborts (backups in progress included).
  incomplete: number | undefined;
  // Uploads that should be gone and are not (the finding).
  unremoved: UnremovedUpload[];
  abortedTotal: number;
  lastError: string | undefined;
}

export interface UploadSweeperOptions {
  store: BackupStore & IncompleteUploadStore;
  // Only uploads under this key prefix are ever listed or aborted.
  prefix: string;
  // And of those, only keys this accepts (backup sets: our own backup names in a set's folder).
  ours?: ((key: string) => boolean) | undefined;
  logger: Logger;
  registry?: Registry | undefined;
  clock?: () => Date;
  // When to sweep after the sweep at start (cron, UTC); default daily at the time of day it was made.
  cron?: string | undefined;
  minAgeMs?: number;
}

// Aborts incomplete multipart uploads under our prefix: those failed runs reported (at once, at the next
// sweep) and any older than a day (an upload a crash or an unreachable endpoint left), so their parts
// are not billed forever where no lifecycle rule removes them. Sweeps at start, then daily; sweep() can
// be called any time (single flight) and never throws.
export class UploadSweeper {
  readonly #options: UploadSweeperOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #known = new Map<string, LeftoverUpload & { initiatedAt?: Date }>();
  #state: UploadSweepState = { lastSweepAt: undefined, incomplete: undefined, unremoved: [], abortedTotal: 0, lastError: undefined };
  #running: Promise<UploadSweepState> | undefined;
  readonly #task: ScheduledTask<UploadSweepState>;
  readonly #listeners = new Set<(state: UploadSweepState) => void | Promise<void>>();
  // Aborted by stop(): a sweep in flight (scheduled, or the one at start) ends its storage calls at once
  // instead of riding out an outage's retries, and records nothing. A new one for each start().
  #stop = new AbortController();

  constructor(options: UploadSweeperOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'upload-sweep' });
    this.#clock = options.clock ?? (() => new Date());
    if (options.registry !== undefined) registerUploadSweepMetrics(options.registry, () => this.#state);
    this.#task = new ScheduledTask({
      name: 'upload sweep',
      schedule: { expression: options.cron ?? dailyAt(this.#clock()), timezone: 'UTC' },
      run: () => this.sweep(),
      logger: this.#log,
    });
  }

  start(): void {
    if (this.#stop.signal.aborted) this.#stop = new AbortController();
    void this.sweep();
    this.#task.start();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#task.stop();
    await this.#running;
  }

  // Registers a listener told after every sweep (alerts hook in there); returns a function that removes it.
  onSweep(listener: (state: UploadSweepState) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // A failed run could not abort this upload: it is reported at once and aborted at the next sweep.
  noteLeftover(upload: LeftoverUpload): void {
    if (!upload.key.startsWith(this.#options.prefix) || this.#options.ours?.(upload.key) === false) return;
    this.#known.set(upload.uploadId, upload);
    this.#state = { ...this.#state, unremoved: this.#unremoved(this.#state.unremoved.filter((u) => u.reason === 'stale')) };
  }

  // True while a reported upload is still to be aborted (worth sweeping again soon).
  hasLeftovers(): boolean {
    return this.#known.size > 0;
  }

  state(): UploadSweepState {
    return this.#state;
  }

  // The checks the sweep has evaluated (listed as passing in /health when clear): none before the first sweep.
  checks(): readonly CheckName[] {
    return this.#state.lastSweepAt === undefined ? [] : ['incomplete_uploads'];
  }

  findings(): Finding[] {
    return checkIncompleteUploads(this.#state.unremoved, `${this.#options.store.description}/${this.#options.prefix}`, this.#state.lastError);
  }

  sweep(): Promise<UploadSweepState> {
    // Single flight: a call during a sweep gets that sweep's result. Listeners run after it, outside the
    // flight, so a sweep asked for while they deliver alerts is a new sweep.
    if (this.#running !== undefined) return this.#running;
    const run = this.#sweep().finally(() => {
      this.#running = undefined;
    });
    this.#running = run;
    return run.then(async (state) => {
      for (const listener of this.#listeners) {
        try {
          await listener(state);
        } catch (error) {
          this.#log.error({ err: errForLog(error) }, 'an upload sweep listener failed');
        }
      }
      return state;
    });
  }

  async #sweep(): Promise<UploadSweepState> {
    const { store, prefix } = this.#options;
    const now = this.#clock();
    const signal = this.#stop.signal;
    let uploads;
    try {
      const ours = this.#options.ours;
      uploads = (await store.listIncompleteUploads(prefix, signal)).filter((u) => ours === undefined || ours(u.key));
    } catch (error) {
      if (signal.aborted) return this.#cancelled();
      const lastError = shortMessageOf(error);
      this.#log.warn({ err: errForLog(error), prefix }, `could not list incomplete multipart uploads: ${lastError}`);
      this.#state = { ...this.#state, lastError, unremoved: this.#unremoved(this.#state.unremoved.filter((u) => u.reason === 'stale')) };
      return this.#state;
    }
    // Reported uploads no longer listed are gone (aborted by a lifecycle rule, or by hand).
    const listed = new Set(uploads.map((u) => u.uploadId));
    for (const id of [...this.#known.keys()]) if (!listed.has(id)) this.#known.delete(id);
    const toAbort = selectUploadsToAbort(uploads, [...this.#known.values()], now, this.#options.minAgeMs ?? SWEEP_MIN_AGE_MS);
    const failed: UnremovedUpload[] = [];
    let aborted = 0;
    let lastError: string | undefined;
    for (const upload of toAbort) {
      try {
        await store.abortIncompleteUpload(upload, signal);
        aborted += 1;
        this.#known.delete(upload.uploadId);
        this.#log.info({ key: upload.key, uploadId: upload.uploadId, initiated: upload.initiatedAt.toISOString() }, 'aborted an incomplete multipart upload (its parts are deleted)');
      } catch (error) {
        if (signal.aborted) return this.#cancelled();
        lastError = shortMessageOf(error);
        this.#log.warn({ err: errForLog(error), key: upload.key, uploadId: upload.uploadId }, `could not abort an incomplete multipart upload: ${lastError}`);
        const known = this.#known.get(upload.uploadId);
        if (known !== undefined) known.initiatedAt = upload.initiatedAt;
        else failed.push({ key: upload.key, uploadId: upload.uploadId, initiatedAt: upload.initiatedAt, reason: 'stale' });
      }
    }
    this.#state = {
      lastSweepAt: now,
      incomplete: uploads.length - aborted,
      unremoved: this.#unremoved(failed),
      abortedTotal: this.#state.abortedTotal + aborted,
      lastError,
    };
    if (uploads.length > 0 || aborted > 0) {
      this.#log.info({ prefix, found: uploads.length, aborted, left: this.#state.unremoved.length }, 'swept incomplete multipart uploads');
    }
    return this.#state;
  }

  // A sweep cut off by stop(): nothing learnt, nothing recorded (what it aborted is gone, and the next
  // sweep lists again).
  #cancelled(): UploadSweepState {
    this.#log.info('upload sweep cancelled (the service is stopping)');
    return this.#state;
  }

  #unremoved(stale: UnremovedUpload[]): UnremovedUpload[] {
    const fromRuns = [...this.#known.values()].map((u) => ({ key: u.key, uploadId: u.uploadId, initiatedAt: u.initiatedAt, reason: 'failed-run' as const }));
    return [...fromRuns, ...stale];
  }
}
