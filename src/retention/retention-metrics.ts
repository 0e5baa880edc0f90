// Prometheus metrics of retention, read from the retention service's stored state in collect()
// (no I/O at scrape; unknown values are left out). The oldest backup's time is the monitor's
// backup_sentinel_oldest_backup_timestamp_seconds and is not registered again here.
import { ageSeconds, registerLabelledStateGauge, registerStateGauge } from '../util/state-gauge.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RuleState } from './lifecycle-rules.ts';
import type { EffectiveMode, RetentionStatus } from './retention-status.ts';
import { unitLabelling, type UnitLabel } from '../core/unit-labels.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';

const MODES: readonly EffectiveMode[] = ['off', 'lifecycle', 'prune'];
// 'error': the rules could not be read or written (AccessDenied, NotImplemented, network).
const RULE_STATES: readonly (RuleState | 'error')[] = ['ok', 'missing', 'disabled', 'days_differ', 'error'];

export interface RetentionMetricsState {
  status: RetentionStatus;
  retentionDays: number;
  // Backups retention should have removed by now (see findOverdueBackups); undefined before a listing.
  overdueBackups: number | undefined;
}

export interface RetentionMetrics {
  // Counts backups (not manifests) a prune deleted.
  countDeleted(backups: number): void;
}

// Each retention's state by backup set ('' for the one retention of a single-database deployment,
// whose series carry no `set` label: they stay exactly as they were before sets existed).
export type RetentionStates = () => Iterable<readonly [set: string, state: RetentionMetricsState]>;

export interface RetentionMetricsRegistration {
  // The deletion counter of one set ('' without sets).
  forSet(set: string): RetentionMetrics;
}

// label: the name of the label that carries each state's set ('set', or 'destination' with several
// destinations); undefined for the one unlabelled retention.
export function registerRetentionMetrics(registry: Registry, states: RetentionStates, options: { label?: UnitLabel | undefined; now?: () => Date } = {}): RetentionMetricsRegistration {
  const { label } = options;
  const now = options.now ?? (() => new Date());
  const read = (): (readonly [string, RetentionMetricsState])[] => {
    try {
      return [...states()];
    } catch {
      return [];
    }
  };
  const labelling = label === undefined ? undefined : unitLabelling(label);
  const labelsOf = (set: string): Record<string, string> => labelling?.of(set) ?? {};
  const setLabels = labelling?.names ?? [];
  // One series per set whose value is known (the one unlabelled series without sets); unknown: left out.
  const gauge = (name: string, help: string, pick: (s: RetentionMetricsState) => number | undefined): void => {
    if (labelling === undefined) {
      registerStateGauge(registry, `${METRIC_PREFIX}${name}`, help, () => {
        const [only] = read();
        return only === undefined ? undefined : pick(only[1]);
      });
    } else registerLabelledStateGauge(registry, `${METRIC_PREFIX}${name}`, help, labelling, () => read().map(([set, s]) => [set, pick(s)] as const));
  };

  new Gauge({
    name: `${METRIC_PREFIX}retention_mode`,
    help: 'Retention mode in effect: 1 for the current one (lifecycle rule, prune, or off)',
    labelNames: ['mode', ...setLabels],
    registers: [registry],
    collect() {
      this.reset();
      for (const [set, s] of read()) for (const mode of MODES) this.set({ mode, ...labelsOf(set) }, s.status.mode === mode ? 1 : 0);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}retention_lifecycle_rule_state`,
    help: "State of the bucket's lifecycle rule for the backup prefix, 1 for the current one (lifecycle mode only)",
    labelNames: ['state', ...setLabels],
    registers: [registry],
    collect() {
      this.reset();
      for (const [set, s] of read()) {
        if (s.status.mode !== 'lifecycle') continue;
        const current = s.status.lifecycleProblem !== undefined ? 'error' : s.status.lifecycle?.state;
        if (current === undefined) continue;
        for (const state of RULE_STATES) this.set({ state, ...labelsOf(set) }, current === state ? 1 : 0);
      }
    },
  });
  gauge('retention_days', 'RETENTION_DAYS: backups older than this are removed (0: retention off)', (s) => s.retentionDays);
  gauge('retention_lifecycle_rule_days', 'Days after which the bucket lifecycle rules expire the backup prefix', (s) =>
    s.status.mode === 'lifecycle' && s.status.lifecycleProblem === undefined ? s.status.lifecycle?.effectiveDays : undefined,
  );
  gauge('retention_overdue_backups', 'Backups older than RETENTION_DAYS + RETENTION_MARGIN_DAYS still in storage', (s) => s.overdueBackups);
  gauge('retention_last_run_timestamp_seconds', 'When the retention service last ran (Unix time)', (s) =>
    s.status.lastRunAt === undefined ? undefined : s.status.lastRunAt.getTime() / 1000,
  );
  gauge('retention_last_run_age_seconds', 'Seconds since the retention service last ran', (s) => ageSeconds(s.status.lastRunAt, now()));
  gauge('retention_last_run_success', '1 if the last retention run did its work, 0 if it failed', (s) =>
    s.status.lastRunOk === undefined ? undefined : s.status.lastRunOk ? 1 : 0,
  );
  const deleted = new Counter({
    name: `${METRIC_PREFIX}backups_deleted_total`,
    help: 'Backups deleted by prunes of this process (manifests not counted)',
    labelNames: setLabels,
    registers: [registry],
  });
  return {
    forSet: (set) => ({
      countDeleted(backups) {
        if (backups > 0) deleted.inc(labelsOf(set), backups);
      },
    }),
  };
}
