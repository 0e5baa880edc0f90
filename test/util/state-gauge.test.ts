import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerStateGauge } from '../../src/util/state-gauge.ts';

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
