// Prometheus metrics of verification and restore drills, read from the verify service's stored state
// in collect() (no I/O at scrape; unknown values are left out).
import type { Registry } from 'prom-client';
import { ageSeconds, registerAgeGauge, registerLabelledStateGauge, registerStateGauge } from '../util/state-gauge.ts';
import type { VerifyState } from './verify-service.ts';
import { verifyVerdict } from './verify.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';
import { unitLabelling, type UnitLabel } from '../core/unit-labels.ts';


// `now` is the clock the *_age_seconds gauges subtract from (the verify service's own, in tests).
// `sets` (BACKUP_DATABASES): each set's verification state; every series then carries a `set` label
// (`label`: `destination` with several destinations).
export function registerRestoreMetrics(registry: Registry, state: () => VerifyState, now?: () => Date, sets?: () => ReadonlyMap<string, VerifyState>, unitLabel: UnitLabel = 'set'): void {
  const label = unitLabelling(unitLabel);
  const gauge = (name: string, help: string, pick: (s: VerifyState) => number | undefined): void => {
    if (sets === undefined) registerStateGauge(registry, `${METRIC_PREFIX}${name}`, help, () => pick(state()));
    else registerLabelledStateGauge(registry, `${METRIC_PREFIX}${name}`, help, label, () => [...sets()].map(([set, s]): [string, number | undefined] => [set, pick(s)]));
  };
  const ageGauge = (name: string, help: string, pick: (s: VerifyState) => Date | undefined): void => {
    if (sets === undefined) registerAgeGauge(registry, `${METRIC_PREFIX}${name}`, help, () => pick(state()), now);
    else registerLabelledStateGauge(registry, `${METRIC_PREFIX}${name}`, help, label, () => [...sets()].map(([set, s]): [string, number | undefined] => [set, ageSeconds(pick(s), (now ?? (() => new Date()))())]));
  };
  const seconds = (d: Date | undefined) => (d === undefined ? undefined : d.getTime() / 1000);
  const flag = (b: boolean | undefined) => (b === undefined ? undefined : b ? 1 : 0);
  gauge('last_verify_timestamp_seconds', 'When the newest backup was last verified (sha256, decompression, structure), Unix time', (s) => seconds(s.lastVerify?.checkedAt));
  ageGauge('last_verify_age_seconds', 'Seconds since the newest backup was last verified', (s) => s.lastVerify?.checkedAt);
  const verdict = (s: VerifyState) => (s.lastVerify === undefined ? undefined : verifyVerdict(s.lastVerify));
  gauge('last_verify_success', '1 if the newest backup was intact at the last verification (sha256, decompression, structure), 0 if not; absent when there was no backup', (s) => {
    const v = verdict(s);
    return v === undefined || v === 'nothing' ? undefined : v === 'intact' ? 1 : 0;
  });
  gauge('last_verify_vanished_tables', 'Tables of the previous backup missing from the newest one, at the last verification (a migration, or lost data)', (s) =>
    s.lastVerify === undefined || verdict(s) === 'nothing' ? undefined : s.lastVerify.vanishedTables.length,
  );
  gauge('last_verify_success_timestamp_seconds', 'When a verification last found the newest backup intact, Unix time', (s) => seconds(s.lastVerifySuccessAt));
  ageGauge('last_verify_success_age_seconds', 'Seconds since a verification last found the newest backup intact', (s) => s.lastVerifySuccessAt);
  gauge('last_verify_duration_seconds', 'How long the last verification took', (s) => (s.lastVerify ? s.lastVerify.durationMs / 1000 : undefined));
  gauge('last_drill_timestamp_seconds', 'When the last restore drill ran, Unix time', (s) => seconds(s.lastDrill?.checkedAt));
  ageGauge('last_drill_age_seconds', 'Seconds since the last restore drill ran', (s) => s.lastDrill?.checkedAt);
  gauge('last_drill_success', '1 if the last restore drill passed, 0 if it failed; absent when there was no backup to restore', (s) =>
    s.lastDrill?.noBackup ? undefined : flag(s.lastDrill?.ok),
  );
  gauge('last_drill_success_timestamp_seconds', 'When a restore drill last passed, Unix time', (s) => seconds(s.lastDrillSuccessAt));
  ageGauge('last_drill_success_age_seconds', 'Seconds since a restore drill last passed', (s) => s.lastDrillSuccessAt);
  gauge('restore_duration_seconds', 'How long the last restore drill took to restore the backup (download to COMMIT)', (s) =>
    s.lastDrill?.restoreMs === undefined ? undefined : s.lastDrill.restoreMs / 1000,
  );
}
