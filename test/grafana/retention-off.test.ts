import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { createRetentionService } from '../../src/retention/retention-service.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { parseExposition } from './exported-metrics.ts';

// With RETENTION_DAYS=0 the retention service runs in mode 'off': its one set of metrics says "off"
// under the usual names, so the dashboard's retention panels and the rules read one schema.

describe('retention metrics when retention is off', () => {
  it('export mode off, 0 days and a zero deletion counter, and nothing about rules or runs', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'retention-off-'));
    try {
      const config = loadConfig({ BACKUP_DIR: dir, RETENTION_DAYS: '0' });
      const registry = new Registry();
      const service = createRetentionService(config, { store: createStore(config), logger: silentLogger(), registry });
      service.start();
      assert.equal((await service.runOnce()).lastRunAt, undefined, 'off has no runs');
      assert.deepEqual(service.checks(), []);
      assert.deepEqual(service.describe(), { mode: 'off' });
      const text = await registry.metrics();
      await service.stop();
      assert.match(text, /^backup_sentinel_retention_mode\{mode="off"\} 1$/m);
      assert.match(text, /^backup_sentinel_retention_mode\{mode="lifecycle"\} 0$/m);
      assert.match(text, /^backup_sentinel_retention_mode\{mode="prune"\} 0$/m);
      assert.match(text, /^backup_sentinel_retention_days 0$/m);
      assert.match(text, /^backup_sentinel_backups_deleted_total 0$/m);
      const { sampled } = parseExposition(text);
      for (const name of [
        'backup_sentinel_retention_lifecycle_rule_state',
        'backup_sentinel_retention_lifecycle_rule_days',
        'backup_sentinel_retention_overdue_backups',
        'backup_sentinel_retention_last_run_success',
        'backup_sentinel_retention_last_run_timestamp_seconds',
      ]) {
        assert.ok(!sampled.has(name), `${name} has a value with retention off`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
