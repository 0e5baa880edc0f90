import type { Config, Location } from '../config/types.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import { DEFAULT_CRON_TIMEZONE } from '../core/cron.ts';
import { ScheduledTask } from '../core/scheduled-task.ts';
import { errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { buildGlobalsDrill, buildVerifyService } from '../restore/build-verify-service.ts';
import { verifyFindings, type CheckRecord } from '../restore/verify-findings.ts';
import type { VerifyService, VerifyState } from '../restore/verify-service.ts';
import type { BackupStore } from '../storage/store.ts';
import { databaseLocation } from '../core/naming.ts';
import { tagFinding } from './set-monitors.ts';
import { GLOBALS_FOLDER } from '../backup/globals.ts';

// Verification per backup set (BACKUP_DATABASES): each set's newest backup is verified (and drilled,
// compared with that set's own database) at VERIFY_CRON, one set after another so that twenty sets do
// not download and restore twenty backups at once. With BACKUP_GLOBALS and a drill server, the roles
// are drilled first (rehearsed and rolled back: restore/globals-drill.ts), under the set name
// `@globals` (GLOBALS_FOLDER), as the globals run's own findings.

export interface SetVerifyScope {
  location: (set: string) => Location;
  store: (set: string) => BackupStore;
}

export type SetVerifyListener = (set: string, findings: Finding[]) => void | Promise<void>;

// SENTINEL_CONFIG: the configuration a set is verified with (its own folder and database URL), and the
// database drills compare with when it is not the URL's own.
export type SetVerifyConfig = (set: string) => { config: Config; database: string | undefined } | undefined;

export class SetVerify {
  readonly #config: Config;
  readonly #store: BackupStore;
  readonly #logger: Logger;
  readonly #services = new Map<string, VerifyService>();
  readonly #listeners = new Set<SetVerifyListener>();
  readonly #task: ScheduledTask<void>;
  readonly #configOf: SetVerifyConfig | undefined;
  readonly #drillGlobals: ((signal?: AbortSignal) => Promise<CheckRecord | undefined>) | undefined;
  #globalsDrill: CheckRecord | undefined;
  // Aborted by stop(): a run of every set (scheduled, or called directly) goes no further than where it
  // was, and the roles' drill in flight ends. A new one for each start().
  #stop = new AbortController();

  readonly #scope: SetVerifyScope | undefined;
  readonly #tag: (set: string, finding: Finding) => Finding;

  // configOf (SENTINEL_CONFIG): each set's own configuration. scope: where each set's backups are when not in
  // the set's database folder of `store` (several destinations). tag: how a finding names its set
  // (the service's UnitNaming.tag; tagFinding for sets in the one storage).
  constructor(config: Config, store: BackupStore, logger: Logger, configOf?: SetVerifyConfig, scope?: SetVerifyScope, tag: (set: string, finding: Finding) => Finding = tagFinding) {
    this.#config = config;
    this.#tag = tag;
    this.#configOf = configOf;
    this.#store = store;
    this.#scope = scope;
    this.#logger = logger.child({ component: 'verify' });
    this.#drillGlobals = buildGlobalsDrill(config, store, this.#logger.child({ set: GLOBALS_FOLDER }));
    this.#task = new ScheduledTask({
      name: 'verify',
      schedule: { expression: config.verify.cron, timezone: config.cronTimezone ?? DEFAULT_CRON_TIMEZONE },
      run: (run) => this.runAll(run.signal),
      logger: this.#logger,
    });
  }

  ensure(set: string): VerifyService {
    const existing = this.#services.get(set);
    if (existing !== undefined) return existing;
    const own = this.#configOf?.(set);
    const scope = this.#scope;
    const service =
      scope !== undefined
        ? // Both (sets in several destinations): the set's own configuration, in the destination's store.
          buildVerifyService({ ...(own?.config ?? this.#config), location: scope.location(set) }, scope.store(set), this.#logger.child({ destination: set }), own?.database)
        : own === undefined
          ? buildVerifyService({ ...this.#config, location: databaseLocation(this.#config.location, set) }, this.#store, this.#logger.child({ set }), set)
          : buildVerifyService(own.config, this.#store, this.#logger.child({ set }), own.database);
    service.onResult(async (_run, findings) => {
      for (const listener of this.#listeners) await listener(set, findings.map((f) => this.#tag(set, f)));
    });
    this.#services.set(set, service);
    return service;
  }

  onResult(listener: SetVerifyListener): void {
    this.#listeners.add(listener);
  }

  start(): void {
    if (this.#stop.signal.aborted) this.#stop = new AbortController();
    this.#task.start();
    this.#logger.info({ cron: this.#config.verify.cron, sets: this.#services.size, next: this.nextRunAt()?.toISOString() }, 'verification of every backup set scheduled');
  }

  // Cancels the set's verification in flight at once (its storage calls stop, not after their retries)
  // and verifies no further set.
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all([this.#task.stop(), ...[...this.#services.values()].map((s) => s.stop())]);
  }

  nextRunAt(): Date | undefined {
    return this.#task.nextRunAt();
  }

  // Every set once, one after another (the roles first: a whole server is restored in that order).
  // `signal`: the scheduled run's.
  async runAll(signal?: AbortSignal): Promise<void> {
    const stopped = signal === undefined ? this.#stop.signal : AbortSignal.any([signal, this.#stop.signal]);
    if (this.#drillGlobals !== undefined) {
      const drill = await this.#drillGlobals(stopped);
      // A drill cancelled by stop() found nothing: no result to record or tell.
      if (stopped.aborted) return;
      this.#globalsDrill = drill ?? this.#globalsDrill;
      for (const listener of this.#listeners) await listener(GLOBALS_FOLDER, this.#globalsFindings());
    }
    for (const [set, service] of [...this.#services.entries()]) {
      if (stopped.aborted) break;
      try {
        await service.runNow();
      } catch (error) {
        this.#logger.error({ set, err: errForLog(error) }, 'verifying a backup set failed unexpectedly');
      }
    }
  }

  states(): Map<string, VerifyState> {
    return new Map([...this.#services.keys()].sort().map((set) => [set, (this.#services.get(set) as VerifyService).state()]));
  }

  findings(): Finding[] {
    return [...this.#globalsFindings(), ...[...this.#services.keys()].sort().flatMap((set) => (this.#services.get(set)?.findings() ?? []).map((f) => this.#tag(set, f)))];
  }

  // The roles' last drill (undefined before the first, or with no globals backup yet).
  globalsDrill(): CheckRecord | undefined {
    return this.#globalsDrill;
  }

  #globalsFindings(): Finding[] {
    return verifyFindings(undefined, this.#globalsDrill).map((f) => tagFinding(GLOBALS_FOLDER, f));
  }

  checksOf(set: string): readonly CheckName[] {
    return this.#services.get(set)?.checks() ?? [];
  }
}
