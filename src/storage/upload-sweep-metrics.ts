import { Counter, type Registry } from 'prom-client';
import { registerAgeGauge, registerStateGauge } from '../util/state-gauge.ts';
import type { UploadSweepState } from './upload-sweeper.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';


// Metrics of the sweep of incomplete multipart uploads, read from its stored state (no I/O at scrape).
// Registered even where nothing is swept (state undefined: the series are left out), so alert rules and
// dashboards always find the names.
export function registerUploadSweepMetrics(registry: Registry, state: () => UploadSweepState | undefined): void {
  registerStateGauge(registry, `${METRIC_PREFIX}incomplete_uploads`, 'Incomplete multipart uploads under the backup prefix at the last sweep, after its aborts (a backup in progress counts)', () => state()?.incomplete);
  registerStateGauge(registry, `${METRIC_PREFIX}incomplete_uploads_unremoved`, 'Incomplete multipart uploads that should be gone (left by a failed run, or older than a day) and could not be aborted yet', () => state()?.unremoved.length);
  registerStateGauge(registry, `${METRIC_PREFIX}incomplete_uploads_last_sweep_timestamp_seconds`, 'When incomplete multipart uploads were last listed (unix seconds)', () => {
    const at = state()?.lastSweepAt;
    return at === undefined ? undefined : at.getTime() / 1000;
  });
  registerAgeGauge(registry, `${METRIC_PREFIX}incomplete_uploads_last_sweep_age_seconds`, 'Seconds since incomplete multipart uploads were last listed', () => state()?.lastSweepAt);
  new Counter({
    name: `${METRIC_PREFIX}incomplete_uploads_aborted_total`,
    help: 'Incomplete multipart uploads the sweep aborted (their parts deleted)',
    registers: [registry],
    collect() {
      this.reset();
      const current = state();
      if (current !== undefined) this.inc(current.abortedTotal);
    },
  });
}
