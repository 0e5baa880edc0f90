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

// The same, one series per label value (e.g. per backup set): `read` gives each value's number; an
// unknown one (undefined, not finite, a read that throws) is left out.
export function registerLabelledStateGauge(
  registry: Registry,
  name: string,
  help: string,
  // One label's name, or several whose values come from each entry's value (UnitLabelling).
  label: string | { names: string[]; of: (value: string) => Record<string, string> },
  read: () => Iterable<readonly [string, number | undefined]>,
): Gauge {
  const labelling = typeof label === 'string' ? { names: [label], of: (value: string) => ({ [label]: value }) } : label;
  return new Gauge({
    name,
    help,
    labelNames: labelling.names,
    registers: [registry],
    collect() {
      this.reset();
      let entries: Iterable<readonly [string, number | undefined]>;
      try {
        entries = read();
      } catch {
        return;
      }
      for (const [value, n] of entries) if (n !== undefined && Number.isFinite(n)) this.set(labelling.of(value), n);
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
