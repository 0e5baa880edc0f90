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
  label: string,
  read: () => Iterable<readonly [string, number | undefined]>,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      let entries: Iterable<readonly [string, number | undefined]>;
      try {
        entries = read();
      } catch {
        return;
      }
      for (const [value, n] of entries) if (n !== undefined && Number.isFinite(n)) this.set({ [label]: value }, n);
    },
  });
}
