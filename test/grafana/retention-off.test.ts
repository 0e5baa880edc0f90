import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { registerRetentionMetrics, registerRetentionOffMetrics } from '../../src/retention/retention-metrics.ts';
import { parseExposition } from './exported-metrics.ts';

// With RETENTION_DAYS=0 main.ts creates no retention service; registerRetentionOffMetrics says "off"
// under the same names, so the dashboard's retention panels and the rules read one schema.

describe('retention metrics when retention is off', () => {
  it('export mode off, 0 days and a zero deletion counter, and nothing about rules or runs', async () => {
    const registry = new Registry();
    registerRetentionOffMetrics(registry);
    const text = await registry.metrics();
    assert.match(text, /^backup_sentinel_retention_mode\{mode="off"\} 1$/m);
    assert.match(text, /^backup_sentinel_retention_mode\{mode="lifecycle"\} 0$/m);
    assert.match(text, /^backup_sentinel_retention_mode\{mode="prune"\} 0$/m);
    assert.match(text, /^backup_sentinel_retention_days 0$/m);
    assert.match(text, /^backup_sentinel_backups_deleted_total 0$/m);
    const { sampled } = parseExposition(text);
    for (const name of ['backup_sentinel_retention_lifecycle_rule_state', 'backup_sentinel_retention_overdue_backups', 'backup_sentinel_retention_last_run_success']) {
      assert.ok(!sampled.has(name), `${name} has a value with retention off`);
    }
  });

  it('use the names, types and help texts of the retention service metrics', async () => {
    const off = new Registry();
    registerRetentionOffMetrics(off);
    const on = new Registry();
    registerRetentionMetrics(on, () => {
      throw new Error('no state needed for the declarations');
    });
    const declarations = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('# '));
    const onLines = new Set(declarations(await on.metrics()));
    const missing = declarations(await off.metrics()).filter((l) => !onLines.has(l));
    assert.deepEqual(missing, []);
  });
});
