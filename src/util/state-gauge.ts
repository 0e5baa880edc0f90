import { Gauge, type Registry } from 'prom-client';

// One labelless gauge whose value is read from stored state at scrape (no I/O in collect()). A value
// that is unknown (undefined, not finite, or a read that throws) leaves the series out instead of
// failing the whole /metrics.
export function registerStateGauge(registry: Registry, name: string, help: string, read: () => number | undefined): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      let value: number | undefined;
      try {
        value = read();
      } catch {
        value = undefined;
      }
      if (value === undefined || !Number.isFinite(value)) this.remove();
      else this.set(value);
    },
  });
}

// Seconds from `at` to `now`; never negative (a backup named a little in the future, a clock that
// stepped back, is age 0, not a negative age that would never look stale). Pure: time is an argument.
export function ageSeconds(at: Date | undefined, now: Date): number | undefined {
  return at === undefined ? undefined : Math.max(0, (now.getTime() - at.getTime()) / 1000);
}

// The *_age_seconds twin of a *_timestamp_seconds gauge: now minus the stored time, computed at scrape
// from stored state and the clock (no I/O), for tools that cannot compute `time() - x` (Datadog's
// OpenMetrics check, some SaaS collectors). Left out while the time is unknown, like its twin.
export function registerAgeGauge(registry: Registry, name: string, help: string, read: () => Date | undefined, now: () => Date = () => new Date()): void {
  registerStateGauge(registry, name, help, () => ageSeconds(read(), now()));
}
