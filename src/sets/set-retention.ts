import { dailyAt } from '../core/cron.ts';
import type { Config, Location, StorageSettings } from '../config/types.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import { ScheduledTask } from '../core/scheduled-task.ts';
import type { Logger } from '../logger.ts';
import { createLifecycleStore } from '../retention/lifecycle.ts';
import { createRetentionService, type RetentionService } from '../retention/retention-service.ts';
import type { BackupStore } from '../storage/store.ts';
import type { Registry } from 'prom-client';
import { registerRetentionMetrics, type RetentionMetricsRegistration } from '../retention/retention-metrics.ts';
import type { UnitNaming } from './unit-naming.ts';

// Retention per backup set (BACKUP_DATABASES): each set keeps RETENTION_DAYS and MIN_BACKUPS_KEPT in its
// own folder, and a prune waits for that set's own findings. The sets run one after another (at start,
// then daily), never at once: with MANAGE_LIFECYCLE each set reads, merges and writes the bucket's one
// lifecycle configuration, and two writing at once would lose one's rule.

export interface SetRetentionOptions {
  config: Pick<Config, 'retention' | 'storage' | 'monitor'>;
  store: BackupStore;
  logger: Logger;
  location: (set: string) => Location;
  // The set's current monitor findings.
  currentFindings: (set: string) => readonly Finding[] | undefined;
  // Where the retention metrics go, each series labelled with its unit (naming.kind).
  registry?: Registry | undefined;
  // How findings and metric series name a set: the service's UnitNaming.
  naming: Pick<UnitNaming, 'kind' | 'tag'>;
  // SENTINEL_CONFIG: a set's own retention (and thresholds) instead of `config`'s.
  configOf?: (set: string) => Pick<Config, 'retention' | 'storage' | 'monitor'>;
  // Each set's own storage (several destinations: a set per destination); default `store` and the
  // configured storage for all.
  storeOf?: ((set: string) => { store: BackupStore; storage: StorageSettings }) | undefined;
}

export class SetRetention {
  readonly #options: SetRetentionOptions;
  readonly #services = new Map<string, RetentionService>();
  readonly #task: ScheduledTask<void>;
  readonly #lifecycle;
  readonly #metrics: RetentionMetricsRegistration | undefined;
  #started = false;

  constructor(options: SetRetentionOptions) {
    this.#options = options;
    const storage = options.config.storage;
    // One client for every set's lifecycle calls.
    this.#lifecycle = storage.kind === 's3' ? createLifecycleStore(storage) : undefined;
    this.#metrics =
      options.registry === undefined
        ? undefined
        : registerRetentionMetrics(options.registry, () => [...this.#services.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([set, s]) => [set, s.metricsState()] as const), { label: options.naming.kind });
    this.#task = new ScheduledTask({
      name: 'retention',
      schedule: { expression: dailyAt(new Date()), timezone: 'UTC' },
      run: () => this.runAll(),
      logger: options.logger.child({ component: 'retention' }),
    });
  }

  // Off for every set (RETENTION_DAYS=0); with a set's own settings, each set decides (offOf).
  get off(): boolean {
    return this.#options.configOf === undefined && this.#options.config.retention.days === 0;
  }

  offOf(set: string): boolean {
    return (this.#options.configOf?.(set) ?? this.#options.config).retention.days === 0;
  }

  // The set's retention, made the first time the set is named (and run at once when the others run).
  ensure(set: string): RetentionService {
    const existing = this.#services.get(set);
    if (existing !== undefined) return existing;
    const own = this.#options.storeOf?.(set);
    const config = this.#options.configOf?.(set) ?? this.#options.config;
    const metrics = this.#metrics?.forSet(set);
    const currentFindings = () => this.#options.currentFindings(set);
    // A destination of its own: its storage decides the mode (a directory always prunes), with its own
    // lifecycle client when it is a bucket.
    const service =
      own === undefined
        ? createRetentionService(
            { ...config, location: this.#options.location(set) },
            { store: this.#options.store, logger: this.#options.logger.child({ set }), lifecycle: this.#lifecycle, metrics, currentFindings },
          )
        : createRetentionService(
            { ...config, storage: own.storage, retention: own.storage.kind === 'dir' ? { ...config.retention, mode: 'prune' } : config.retention, location: this.#options.location(set) },
            { store: own.store, logger: this.#options.logger.child({ destination: set }), metrics, currentFindings },
          );
    this.#services.set(set, service);
    if (this.#started) void this.runAll();
    return service;
  }

  start(): void {
    if (this.off || this.#started) return;
    this.#started = true;
    this.#task.start();
    void this.runAll();
  }

  // Cancels the set's retention run in flight (its storage calls stop at once) and runs no further set.
  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([this.#task.stop(), ...[...this.#services.values()].map((service) => service.stop())]);
    await this.#running;
  }

  #running: Promise<void> | undefined;

  // Every set once, one after another (single flight).
  runAll(): Promise<void> {
    this.#running ??= (async () => {
      for (const service of [...this.#services.values()]) {
        // Stopped: a run of every set goes no further than the set it was at.
        if (!this.#started) break;
        await service.runOnce();
      }
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  // The set's retention finding, naming the set.
  findingsOf(set: string, now?: Date): Finding[] {
    return (this.#services.get(set)?.findings(now) ?? []).map((f) => this.#options.naming.tag(set, f));
  }

  findings(now?: Date): Finding[] {
    return [...this.#services.keys()].sort().flatMap((set) => this.findingsOf(set, now));
  }

  checksOf(set: string): readonly CheckName[] {
    return this.#services.get(set)?.checks() ?? [];
  }

  // One set's retention state (for the status page); undefined for a set not known here.
  describeOf(set: string): ReturnType<RetentionService['describe']> | undefined {
    return this.#services.get(set)?.describe();
  }

  describe(): Record<string, unknown> {
    if (this.off) return { mode: 'off' };
    // A set whose retention is off shows its service's own { mode: 'off' }.
    return Object.fromEntries([...this.#services.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([set, s]) => [set, s.describe()]));
  }
}
