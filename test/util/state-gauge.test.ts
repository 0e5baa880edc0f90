import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ageSeconds, registerAgeGauge, registerStateGauge } from '../../src/util/state-gauge.ts';
import { sample } from '../helpers/metrics.ts';

describe('a gauge read from stored state', () => {
  it('shows the current value at each scrape and leaves the series out while it is unknown', async () => {
    const registry = new Registry();
    let value: number | undefined = 42;
    let broken = false;
    registerStateGauge(registry, 'test_value', 'A value for the test', () => {
      if (broken) throw new Error('state not readable');
      return value;
    });
    assert.match(await registry.metrics(), /^test_value 42$/m);
    value = 7;
    assert.match(await registry.metrics(), /^test_value 7$/m);
    for (const unknown of [undefined, Number.NaN, Number.POSITIVE_INFINITY]) {
      value = unknown;
      const text = await registry.metrics();
      assert.doesNotMatch(text, /^test_value /m, `series shown for ${String(unknown)}`);
      assert.match(text, /# TYPE test_value gauge/);
    }
    value = 1;
    broken = true;
    assert.doesNotMatch(await registry.metrics(), /^test_value /m);
    broken = false;
    assert.match(await registry.metrics(), /^test_value 1$/m);
  });
});

describe('age gauges', () => {
  it('are the seconds from the stored time to now, never negative', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    assert.equal(ageSeconds(new Date('2026-03-01T10:30:00Z'), now), 5400);
    assert.equal(ageSeconds(new Date('2026-03-01T12:00:05Z'), now), 0, 'a time a little ahead of the clock is age 0');
    assert.equal(ageSeconds(undefined, now), undefined);
  });

  it('follow the clock at each scrape and are left out while the time is unknown', async () => {
    const registry = new Registry();
    const state: { stored?: Date } = {};
    let now = new Date('2026-03-01T12:00:00Z');
    registerAgeGauge(registry, 'x_age_seconds', 'test', () => state.stored, () => now);
    assert.equal(sample(await registry.metrics(), 'x_age_seconds'), undefined);
    state.stored = new Date('2026-03-01T11:00:00Z');
    assert.equal(sample(await registry.metrics(), 'x_age_seconds'), 3600);
    now = new Date('2026-03-01T13:00:00Z');
    assert.equal(sample(await registry.metrics(), 'x_age_seconds'), 7200);
  });
});
