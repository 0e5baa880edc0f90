import type { Location, MonitorSettings } from '../config/types.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import type { Logger } from '../logger.ts';
import { MonitorRunner, type MonitorHealth, type MonitorReadiness } from '../monitor/runner.ts';
import type { CheckResult, MonitorSnapshot } from '../monitor/state.ts';
import type { BackupStore } from '../storage/store.ts';

// One monitor per backup set (BACKUP_DATABASES): each lists its own folder and keeps its own
// freshness limit, size window and backup runs. Sets are added as they become known (the configured
// names at start; with `*`, each run's listing), never removed while the process runs, so a database
// that disappeared keeps being watched and goes stale visibly.

export type SetCheckListener = (set: string, result: CheckResult, snapshot: MonitorSnapshot) => void | Promise<void>;

export interface SetMonitorsOptions {
  store: BackupStore;
  settings: MonitorSettings;
  logger: Logger;
  timezone?: string | undefined;
  location: (set: string) => Location;
  // Each set's own storage (several destinations: a set per destination); default `store` for all.
  storeOf?: ((set: string) => BackupStore) | undefined;
  firstBackupAtStart?: boolean;
  // SENTINEL_CONFIG: a set's own thresholds and start-up run, instead of `settings`/`firstBackupAtStart`.
  settingsOf?: (set: string) => MonitorSettings;
  settingNamesOf?: (set: string) => Readonly<Record<string, string>> | undefined;
  firstBackupAtStartOf?: (set: string) => boolean;
  // How a finding names its set: the service's UnitNaming.tag.
  tag: (set: string, finding: Finding) => Finding;
}

// A finding of one set: the set is named in the finding (alerts, /health, metrics) and its summary.
export function tagFinding(set: string, finding: Finding): Finding {
  return { ...finding, set, summary: `${set}: ${finding.summary}` };
}

export class SetMonitors {
  readonly #options: SetMonitorsOptions;
  readonly #monitors = new Map<string, MonitorRunner>();
  readonly #listeners = new Set<SetCheckListener>();
  #started = false;

  constructor(options: SetMonitorsOptions) {
    this.#options = options;
  }

  // The set's monitor, made (and started, when the others run) the first time the set is named.
  ensure(set: string): MonitorRunner {
    const existing = this.#monitors.get(set);
    if (existing !== undefined) return existing;
    const monitor = new MonitorRunner({
      store: this.#options.storeOf?.(set) ?? this.#options.store,
      location: this.#options.location(set),
      settings: this.#options.settingsOf?.(set) ?? this.#options.settings,
      settingNames: this.#options.settingNamesOf?.(set),
      timezone: this.#options.timezone,
      logger: this.#options.logger.child({ set }),
      firstBackupAtStart: this.#options.firstBackupAtStartOf?.(set) ?? this.#options.firstBackupAtStart === true,
    });
    monitor.onCheck(async (result, snapshot) => {
      for (const listener of this.#listeners) await listener(set, result, snapshot);
    });
    this.#monitors.set(set, monitor);
    if (this.#started) monitor.start();
    return monitor;
  }

  get(set: string): MonitorRunner | undefined {
    return this.#monitors.get(set);
  }

  // Sets by name, sorted.
  names(): string[] {
    return [...this.#monitors.keys()].sort();
  }

  snapshots(): Map<string, MonitorSnapshot> {
    return new Map(this.names().map((set) => [set, (this.#monitors.get(set) as MonitorRunner).snapshot()]));
  }

  onCheck(listener: SetCheckListener): void {
    this.#listeners.add(listener);
  }

  start(): void {
    this.#started = true;
    for (const monitor of this.#monitors.values()) monitor.start();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([...this.#monitors.values()].map((m) => m.stop()));
  }

  async runChecks(): Promise<void> {
    await Promise.all([...this.#monitors.values()].map((m) => m.runCheck()));
  }

  // Every set's current findings, each naming its set.
  findings(): Finding[] {
    const tag = this.#options.tag;
    return this.names().flatMap((set) => (this.#monitors.get(set)?.snapshot().lastCheck?.findings ?? []).map((f) => tag(set, f)));
  }

  // /health: each set's checks as `<set>/<check>`, its findings named after the set.
  healthState(): MonitorHealth & { setChecks: { set: string; checks: readonly CheckName[] }[] } {
    const states = this.names().map((set) => ({ set, state: (this.#monitors.get(set) as MonitorRunner).healthState() }));
    const checkedAt = states.every((s) => s.state.checkedAt !== undefined) && states.length > 0
      ? new Date(Math.min(...states.map((s) => (s.state.checkedAt as Date).getTime())))
      : undefined;
    return {
      findings: states.flatMap((s) => s.state.findings.map((f) => this.#options.tag(s.set, f))),
      checkedAt,
      checks: [],
      setChecks: states.map((s) => ({ set: s.set, checks: s.state.checks ?? [] })),
    };
  }

  // /status: each set's backups, findings and thresholds.
  // nextBackupOf: when the set's next backup is due (SENTINEL_CONFIG: each set has its own schedule).
  statuses(nextBackupOf?: (set: string) => Date | undefined): Record<string, unknown> {
    return Object.fromEntries(this.names().map((set) => [set, (this.#monitors.get(set) as MonitorRunner).status(nextBackupOf === undefined ? {} : { nextBackupAt: nextBackupOf(set) })]));
  }

  // Ready when every set's storage answered (they share one storage).
  readyState(): MonitorReadiness {
    if (this.#monitors.size === 0) return { ready: false, reasons: ['no backup set known yet (the first run lists the databases)'] };
    const reasons = this.names().flatMap((set) => {
      const state = (this.#monitors.get(set) as MonitorRunner).readyState();
      return state.ready ? [] : (state.reasons ?? []).map((r) => `${set}: ${r}`);
    });
    return reasons.length === 0 ? { ready: true } : { ready: false, reasons };
  }
}
