import { DEFAULT_CRON_TIMEZONE, parseCron } from '../core/cron.ts';
import { ageSeconds, registerAgeGauge, registerLabelledStateGauge, registerStateGauge } from '../util/state-gauge.ts';
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';

const EVENT_LOOP_SAMPLE_MS = 1000;
import { ALL_CHECKS, unitOf, type Finding } from '../core/findings.ts';
import { unitLabelling, type UnitLabel } from '../core/unit-labels.ts';
import { baselineSizes, median, minSizeDiff } from './size-anomaly.ts';
import { BACKUP_RUN_RESULTS, type MonitorSnapshot } from './state.ts';
import { MONITOR_CHECKS } from './checks.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';

// Prometheus metrics of the service, all read from stored state in collect(): no I/O at scrape, and a
// value that is not known yet (no backup run, no check) is left out instead of failing the scrape.
// docs/monitor.md lists every name; Grafana dashboards and alert rules are built on them.


export interface MetricsOptions {
  registry: Registry;
  // The monitor's current state (MonitorRunner.snapshot).
  snapshot: () => MonitorSnapshot;
  // With BACKUP_DATABASES: each set's monitor state; every per-backup series then carries a `set`
  // label (and `snapshot` is not read). Without it the series have no `set` label, as always.
  sets?: () => ReadonlyMap<string, MonitorSnapshot>;
  // The name of that label: `set` (BACKUP_DATABASES, the default) or `destination` (several destinations),
  // or both (sets in several destinations).
  setLabel?: UnitLabel;
  // Findings of every component (monitor, retention, verify...); defaults to the monitor's own.
  findings?: () => readonly Finding[];
  version: string;
  // MONITOR_CRON, for backup_sentinel_monitor_interval_seconds; without it that gauge has no value (the
  // alert rule then assumes hourly checks).
  monitorCron?: string;
  // CRON_TZ, the time zone MONITOR_CRON is read in (gaps differ across a DST change); default UTC.
  cronTimezone?: string;
  // Default process and Node.js metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes...),
  // under their standard names so stock dashboards work. Default true.
  defaultMetrics?: boolean;
  // The clock the *_age_seconds gauges subtract from (tests pass their own); default the system clock.
  now?: () => Date;
}

type Value = number | undefined;

function seconds(date: Date | undefined): Value {
  return date === undefined ? undefined : date.getTime() / 1000;
}

const registeredDefaults = new WeakSet<Registry>();

const DAY_MS = 86_400_000;

// The longest gap between consecutive times of a cron expression (in `timezone`, default UTC) over
// `horizonDays` from `from`, in seconds: how long the monitor may go without a check. The longest gap
// rather than the next one, so that a schedule like "hourly on weekdays" is not taken for a stuck
// monitor at the weekend; at least one gap is measured even when the next time is beyond the horizon
// (monthly), at most `maxTimes` times are looked at (a per-second schedule). Undefined for an
// expression the cron engine rejects.
export function cronIntervalSeconds(
  cron: string,
  from: Date,
  { horizonDays = 8, maxTimes = 12_000, timezone = DEFAULT_CRON_TIMEZONE } = {},
): number | undefined {
  let times;
  try {
    times = parseCron({ expression: cron, timezone });
  } catch {
    return undefined;
  }
  const end = from.getTime() + horizonDays * DAY_MS;
  let previous = times.nextAfter(from);
  let longest = 0;
  for (let n = 0; n < maxTimes && previous !== undefined && (longest === 0 || previous.getTime() < end); n++) {
    const next = times.nextAfter(previous);
    if (next === undefined) break;
    longest = Math.max(longest, next.getTime() - previous.getTime());
    previous = next;
  }
  return longest > 0 ? longest / 1000 : undefined;
}

// The median the size_anomaly check compares the newest backup with (the previous SIZE_WINDOW non-empty
// backups of the stored window); undefined before a listing or with no previous backup.
function sizeMedianBytes(snapshot: MonitorSnapshot): number | undefined {
  if (snapshot.inventory.listedAt === undefined) return undefined;
  return median(baselineSizes(snapshot.inventory.recent, snapshot.policy));
}

// Registers every backup_sentinel_* metric on the registry.
export function registerMetrics(options: MetricsOptions): void {
  const { registry } = options;
  const read = <T>(pick: (s: MonitorSnapshot) => T): T | undefined => {
    try {
      return pick(options.snapshot());
    } catch {
      return undefined;
    }
  };
  const sets = options.sets;
  const label = unitLabelling(options.setLabel ?? 'set');
  const readSets = (): ReadonlyMap<string, MonitorSnapshot> => {
    try {
      return sets?.() ?? new Map();
    } catch {
      return new Map();
    }
  };
  // One gauge whose value comes from state, omitted when unknown: labelless for one database, one
  // series per set with BACKUP_DATABASES.
  const stateGauge = (name: string, help: string, pick: (s: MonitorSnapshot) => Value): void => {
    if (sets === undefined) {
      registerStateGauge(registry, `${METRIC_PREFIX}${name}`, help, () => read(pick));
      return;
    }
    registerLabelledStateGauge(registry, `${METRIC_PREFIX}${name}`, help, label, () =>
      [...readSets()].map(([set, snapshot]): [string, Value] => {
        try {
          return [set, pick(snapshot)];
        } catch {
          return [set, undefined];
        }
      }),
    );
  };
  // The seconds since a stored time, beside its *_timestamp_seconds gauge.
  const ageGauge = (name: string, help: string, pick: (s: MonitorSnapshot) => Date | undefined): void => {
    if (sets === undefined) {
      registerAgeGauge(registry, `${METRIC_PREFIX}${name}`, help, () => read(pick), options.now);
      return;
    }
    const now = options.now ?? (() => new Date());
    registerLabelledStateGauge(registry, `${METRIC_PREFIX}${name}`, help, label, () => [...readSets()].map(([set, snapshot]): [string, Value] => [set, ageSeconds(pick(snapshot), now())]));
  };

  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; labels carry the backup-sentinel and Node.js versions',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: options.version, node_version: process.versions.node }, 1);

  // Backup runs of this process.
  stateGauge('last_backup_success_timestamp_seconds', 'When the last successful backup run of this process finished (Unix time)', (s) =>
    seconds(s.backupRuns.lastSuccess?.finishedAt),
  );
  ageGauge('last_backup_success_age_seconds', 'Seconds since the last successful backup run of this process finished', (s) => s.backupRuns.lastSuccess?.finishedAt);
  stateGauge('last_backup_attempt_timestamp_seconds', 'When the last backup run of this process finished, successful or not (Unix time)', (s) =>
    seconds(s.backupRuns.lastAttempt?.finishedAt),
  );
  ageGauge('last_backup_attempt_age_seconds', 'Seconds since the last backup run of this process finished, successful or not', (s) => s.backupRuns.lastAttempt?.finishedAt);
  stateGauge('last_backup_success', '1 if the last backup run of this process succeeded, 0 if it failed', (s) =>
    s.backupRuns.lastAttempt === undefined ? undefined : s.backupRuns.lastAttempt.result === 'success' ? 1 : 0,
  );
  stateGauge('last_backup_size_bytes', 'Stored size of the last successful backup of this process', (s) => s.backupRuns.lastSuccess?.sizeBytes);
  stateGauge('last_backup_duration_seconds', 'Duration of the last successful backup run of this process', (s) => {
    const ms = s.backupRuns.lastSuccess?.durationMs;
    return ms === undefined ? undefined : ms / 1000;
  });
  new Counter({
    name: `${METRIC_PREFIX}backup_runs_total`,
    help: 'Backup runs of this process by result (success, failure, skipped: one was already running)',
    labelNames: sets === undefined ? ['result'] : ['result', ...label.names],
    registers: [registry],
    collect() {
      this.reset();
      if (sets !== undefined) {
        for (const [set, snapshot] of readSets()) for (const result of BACKUP_RUN_RESULTS) this.inc({ result, ...label.of(set) }, snapshot.backupRuns.runs[result]);
        return;
      }
      const runs = read((s) => s.backupRuns.runs);
      for (const result of BACKUP_RUN_RESULTS) this.inc({ result }, runs?.[result] ?? 0);
    },
  });

  // What storage holds (from the last successful listing).
  stateGauge('newest_backup_timestamp_seconds', 'Time of the newest backup in storage: from its name, else its LastModified (Unix time)', (s) =>
    seconds(s.inventory.newest?.time),
  );
  ageGauge('newest_backup_age_seconds', 'Age of the newest backup in storage (from its name, else its LastModified) in seconds', (s) => s.inventory.newest?.time);
  stateGauge('newest_backup_size_bytes', 'Size of the newest backup in storage', (s) => s.inventory.newest?.size);
  stateGauge(
    'backup_size_median_bytes',
    'Median size of the SIZE_WINDOW backups before the newest (empty ones left out): what the size_anomaly check compares the newest with',
    sizeMedianBytes,
  );
  stateGauge('oldest_backup_timestamp_seconds', 'Time of the oldest backup in storage (Unix time)', (s) => seconds(s.inventory.oldest?.time));
  ageGauge('oldest_backup_age_seconds', 'Age of the oldest backup in storage in seconds', (s) => s.inventory.oldest?.time);
  stateGauge('stored_backups', 'Number of backups in storage under the configured prefix', (s) =>
    s.inventory.listedAt === undefined ? undefined : s.inventory.count,
  );
  stateGauge('stored_backups_size_bytes', 'Total size of the backups in storage under the configured prefix', (s) =>
    s.inventory.listedAt === undefined ? undefined : s.inventory.totalBytes,
  );

  // The checks.
  stateGauge('last_check_timestamp_seconds', 'When the last freshness check ran (Unix time)', (s) => seconds(s.lastCheck?.at));
  ageGauge('last_check_age_seconds', 'Seconds since the last freshness check ran', (s) => s.lastCheck?.at);
  stateGauge('last_check_success', '1 if the last freshness check could list the storage, 0 if not', (s) =>
    s.lastCheck === undefined ? undefined : s.lastCheck.ok ? 1 : 0,
  );
  stateGauge('last_successful_check_timestamp_seconds', 'When a freshness check last listed the storage successfully (Unix time)', (s) =>
    seconds(s.lastSuccessfulCheckAt),
  );
  ageGauge('last_successful_check_age_seconds', 'Seconds since a freshness check last listed the storage successfully', (s) => s.lastSuccessfulCheckAt);
  stateGauge('last_check_duration_seconds', 'Duration of the last freshness check', (s) =>
    s.lastCheck === undefined ? undefined : s.lastCheck.durationMs / 1000,
  );
  // Fixed for the process: computed at the first scrape, then kept. Not at start, where walking a
  // per-second schedule's 12,000 times (most of a second of CPU) would delay every start and CLI run.
  const monitorCron = options.monitorCron;
  let interval: { seconds: number | undefined } | undefined;
  const intervalSeconds = (): number | undefined =>
    (interval ??= { seconds: monitorCron === undefined ? undefined : cronIntervalSeconds(monitorCron, new Date(), options.cronTimezone === undefined ? {} : { timezone: options.cronTimezone }) }).seconds;
  new Gauge({
    name: `${METRIC_PREFIX}monitor_interval_seconds`,
    help: 'Longest gap between two scheduled checks (MONITOR_CRON, UTC, over the next 8 days)',
    registers: [registry],
    collect() {
      // A labelless gauge reports 0 until set: left out instead when there is no interval.
      const seconds = intervalSeconds();
      if (seconds === undefined) this.remove();
      else this.set(seconds);
    },
  });
  const currentFindings = (): readonly Finding[] | undefined => {
    try {
      if (options.findings) return options.findings();
      return options.snapshot().lastCheck?.findings;
    } catch {
      return undefined;
    }
  };
  // The series of the finding gauges: one per check; with sets, the monitor's checks once per set
  // (label `set`) and the service-wide checks (alert channels, uploads, a run's selection...) without a set.
  const findingSeries = (findings: readonly Finding[]): { labels: Record<string, string>; of: Finding[] }[] => {
    if (sets === undefined) return ALL_CHECKS.map((check) => ({ labels: { check }, of: findings.filter((f) => f.check === check) }));
    const names = [...readSets().keys()];
    const series = names.flatMap((set) => MONITOR_CHECKS.map((check) => ({ labels: { check, ...label.of(set) }, of: findings.filter((f) => f.check === check && unitOf(f) === set) })));
    // backup_failed also service-wide: a run that could not tell which databases to back up.
    const global = ALL_CHECKS.filter((check) => !MONITOR_CHECKS.includes(check) || check === 'backup_failed').map((check) => ({ labels: { check }, of: findings.filter((f) => f.check === check && unitOf(f) === undefined) }));
    return [...series, ...global];
  };
  new Gauge({
    name: `${METRIC_PREFIX}finding_active`,
    help: '1 while the check has a finding (a problem), 0 when clear; one series per check',
    labelNames: sets === undefined ? ['check'] : ['check', ...label.names],
    registers: [registry],
    collect() {
      this.reset();
      const findings = currentFindings();
      if (findings === undefined) return;
      for (const { labels, of } of findingSeries(findings)) this.set(labels, of.length > 0 ? 1 : 0);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}finding_severity`,
    help: 'Severity of the check\'s finding: 0 clear, 1 warn, 2 fail',
    labelNames: sets === undefined ? ['check'] : ['check', ...label.names],
    registers: [registry],
    collect() {
      this.reset();
      const findings = currentFindings();
      if (findings === undefined) return;
      for (const { labels, of } of findingSeries(findings)) {
        const severities = of.map((f) => f.severity);
        this.set(labels, severities.includes('fail') ? 2 : severities.includes('warn') ? 1 : 0);
      }
    },
  });

  // Thresholds, so alert rules and dashboards use the configured values.
  stateGauge('max_backup_age_seconds', 'MAX_BACKUP_AGE_HOURS in seconds: the newest backup may not be older', (s) => s.policy.maxAgeHours * 3600);
  stateGauge('size_window', 'SIZE_WINDOW: previous backups whose median the newest size is compared with', (s) => s.policy.sizeWindow);
  stateGauge('size_drop_ratio', 'SIZE_DROP_RATIO: newest/median below this is a size anomaly', (s) => s.policy.sizeDropRatio);
  stateGauge('size_growth_ratio', 'SIZE_GROWTH_RATIO: newest/median above this is a size anomaly', (s) => s.policy.sizeGrowthRatio);
  // The minimum difference the check applies to the current median (SIZE_MIN_DIFF_BYTES before one is
  // known), so the dashboard's anomaly bounds stay exact for small databases too.
  stateGauge('size_min_diff_bytes', 'Smallest difference from the median that counts as a size anomaly: SIZE_MIN_DIFF_BYTES, or half the median when smaller (unless SIZE_MIN_DIFF_BYTES is set)', (s) => {
    const mid = sizeMedianBytes(s);
    return mid === undefined ? s.policy.sizeMinDiffBytes : minSizeDiff(mid, s.policy);
  });
  stateGauge('empty_backup_max_bytes', 'EMPTY_BACKUP_MAX_BYTES: a newest backup no larger than this is empty', (s) => s.policy.emptyMaxBytes);

  if ((options.defaultMetrics ?? true) && !registeredDefaults.has(registry)) {
    registeredDefaults.add(registry);
    // The event-loop lag histogram samples on a timer: prom-client's default 10 ms woke an idle service
    // ~100 times a second. Once a second keeps nodejs_eventloop_lag_* meaningful at a scrape interval.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
}
