import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { backupKey } from '../../src/core/naming.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { silentLogger } from '../../src/logger.ts';
import { ALL_CHECKS } from '../../src/core/findings.ts';
import { registerMetrics } from '../../src/monitor/metrics.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { HOUR, MiB, putBackup, s3StoreFor, TestClock } from './fixtures.ts';
import { parseMetrics, sample } from '../helpers/metrics.ts';

const START = new Date('2026-03-10T12:00:00Z');
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;

describe('metrics and health from the monitor', () => {
  let s3: TestS3Server;
  let server: Server;
  let base: string;
  let runner: MonitorRunner;
  let clock: TestClock;
  let put: (ageHours: number, size: number) => Promise<string>;

  before(async () => {
    s3 = await startS3Server();
    const { store, config } = s3StoreFor(s3, { MAX_BACKUP_AGE_HOURS: '25', SIZE_WINDOW: '5' });
    clock = new TestClock(START);
    runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: silentLogger(), clock });
    put = async (ageHours, size) => {
      const time = new Date(clock.current.getTime() - ageHours * HOUR);
      const key = backupKey(config.location, time, PARTS);
      await putBackup(store, s3, key, size, time);
      return key;
    };
    const registry = new Registry();
    registerMetrics({ registry, snapshot: () => runner.snapshot(), version: '1.2.3', now: () => clock.now() });
    const app = createHttpApp({
      registry,
      health: () => runner.healthState(),
      ready: () => runner.readyState(),
      status: () => runner.status(),
      version: '1.2.3',
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await s3?.close();
  });

  async function scrape() {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    return parseMetrics(await response.text());
  }

  it('before any check: thresholds, build info and zero counters, no invented timestamps', async () => {
    const { samples, types, help } = await scrape();
    assert.equal(sample(samples, 'backup_sentinel_build_info', { version: '1.2.3' }), 1);
    assert.equal(sample(samples, 'backup_sentinel_max_backup_age_seconds'), 25 * 3600);
    assert.equal(sample(samples, 'backup_sentinel_size_window'), 5);
    assert.equal(sample(samples, 'backup_sentinel_size_drop_ratio'), 0.5);
    assert.equal(sample(samples, 'backup_sentinel_size_growth_ratio'), 3);
    assert.equal(sample(samples, 'backup_sentinel_size_min_diff_bytes'), MiB);
    assert.equal(sample(samples, 'backup_sentinel_empty_backup_max_bytes'), 1024);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'success' }), 0);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'failure' }), 0);
    assert.equal(types.get('backup_sentinel_backup_runs_total'), 'counter');
    for (const unknown of [
      'backup_sentinel_last_backup_success_timestamp_seconds',
      'backup_sentinel_newest_backup_timestamp_seconds',
      'backup_sentinel_last_check_timestamp_seconds',
      'backup_sentinel_last_backup_success_age_seconds',
      'backup_sentinel_newest_backup_age_seconds',
      'backup_sentinel_last_check_age_seconds',
      'backup_sentinel_stored_backups',
      'backup_sentinel_finding_active',
    ]) {
      assert.equal(sample(samples, unknown), undefined, `${unknown} must be absent before it is known`);
      assert.ok(help.has(unknown), `${unknown} still has its HELP line`);
    }
    // Default process metrics under their standard names.
    assert.ok(samples.some((s) => s.name === 'process_cpu_seconds_total'));
    assert.ok(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes'));
  });

  it('a stale bucket: stale finding 1, others 0, /health 503, /readyz 200', async () => {
    const key = await put(30, 2 * MiB);
    await runner.runCheck();
    const { samples } = await scrape();
    for (const check of ALL_CHECKS) {
      assert.equal(sample(samples, 'backup_sentinel_finding_active', { check }), check === 'stale' ? 1 : 0, check);
    }
    assert.equal(sample(samples, 'backup_sentinel_finding_severity', { check: 'stale' }), 2);
    assert.equal(sample(samples, 'backup_sentinel_newest_backup_timestamp_seconds'), (START.getTime() - 30 * HOUR) / 1000);
    assert.equal(sample(samples, 'backup_sentinel_newest_backup_size_bytes'), 2 * MiB);
    assert.equal(sample(samples, 'backup_sentinel_stored_backups'), 1);
    assert.equal(sample(samples, 'backup_sentinel_stored_backups_size_bytes'), 2 * MiB);
    assert.equal(sample(samples, 'backup_sentinel_last_check_timestamp_seconds'), START.getTime() / 1000);
    assert.equal(sample(samples, 'backup_sentinel_last_check_success'), 1);

    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 503);
    const body = (await health.json()) as { status: string; checks: Record<string, { status: string }[]> };
    assert.equal(body.status, 'fail');
    assert.equal(body.checks['backup:stale']?.[0]?.status, 'fail');
    assert.equal(body.checks['backup:empty']?.[0]?.status, 'pass');
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const status = (await (await fetch(`${base}/status`)).json()) as { backups: { newest: { key: string } }; thresholds: { maxBackupAgeHours: number } };
    assert.equal(status.backups.newest.key, key);
    assert.equal(status.thresholds.maxBackupAgeHours, 25);
  });

  it('the *_age_seconds gauges are the clock minus the stored times, computed at each scrape without a new check', async () => {
    const at = (await scrape()).samples;
    assert.equal(sample(at, 'backup_sentinel_newest_backup_age_seconds'), 30 * 3600);
    assert.equal(sample(at, 'backup_sentinel_oldest_backup_age_seconds'), 30 * 3600);
    assert.equal(sample(at, 'backup_sentinel_last_check_age_seconds'), 0);
    assert.equal(sample(at, 'backup_sentinel_last_successful_check_age_seconds'), 0);
    const checks = runner.snapshot().lastCheck?.at;
    clock.advance(HOUR / 2);
    const later = (await scrape()).samples;
    assert.equal(runner.snapshot().lastCheck?.at, checks, 'no check ran in between');
    assert.equal(sample(later, 'backup_sentinel_newest_backup_age_seconds'), 30 * 3600 + 1800);
    assert.equal(sample(later, 'backup_sentinel_last_check_age_seconds'), 1800);
    assert.equal(sample(later, 'backup_sentinel_newest_backup_timestamp_seconds'), sample(at, 'backup_sentinel_newest_backup_timestamp_seconds'));
  });

  it('a successful backup run feeds the run metrics and clears the finding', async () => {
    await put(0, 3 * MiB);
    const finishedAt = clock.now();
    await runner.afterBackupRun({
      result: 'success',
      startedAt: new Date(finishedAt.getTime() - 90_000),
      finishedAt,
      sizeBytes: 3 * MiB,
      durationMs: 90_000,
    });
    runner.recordBackupRun({ result: 'skipped', startedAt: finishedAt, finishedAt });
    const { samples } = await scrape();
    assert.equal(sample(samples, 'backup_sentinel_last_backup_success_timestamp_seconds'), finishedAt.getTime() / 1000);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_attempt_timestamp_seconds'), finishedAt.getTime() / 1000);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_success'), 1);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_size_bytes'), 3 * MiB);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_duration_seconds'), 90);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_success_age_seconds'), 0);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_attempt_age_seconds'), 0);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'success' }), 1);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'skipped' }), 1);
    assert.equal(sample(samples, 'backup_sentinel_finding_active', { check: 'stale' }), 0);
    assert.equal(sample(samples, 'backup_sentinel_stored_backups'), 2);
    assert.equal((await fetch(`${base}/health`)).status, 200);
  });

  it('a failed run sets last_backup_success to 0 but keeps the last success timestamp', async () => {
    const before = (await scrape()).samples;
    clock.advance(HOUR);
    await runner.afterBackupRun({ result: 'failure', startedAt: clock.now(), finishedAt: clock.now(), error: 'pg_dump exited with code 1', stage: 'dump' });
    const { samples } = await scrape();
    assert.equal(sample(samples, 'backup_sentinel_last_backup_success'), 0);
    assert.equal(sample(samples, 'backup_sentinel_last_backup_attempt_timestamp_seconds'), clock.now().getTime() / 1000);
    assert.equal(
      sample(samples, 'backup_sentinel_last_backup_success_timestamp_seconds'),
      sample(before, 'backup_sentinel_last_backup_success_timestamp_seconds'),
    );
    assert.equal(sample(samples, 'backup_sentinel_finding_active', { check: 'backup_failed' }), 1);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'failure' }), 1);
  });

  it('a snapshot provider that throws leaves values out instead of failing the scrape', async () => {
    const registry = new Registry();
    registerMetrics({
      registry,
      snapshot: () => {
        throw new Error('state unavailable');
      },
      version: '1.2.3',
      defaultMetrics: false,
    });
    const text = await registry.metrics();
    const { samples } = parseMetrics(text);
    assert.equal(sample(samples, 'backup_sentinel_build_info'), 1);
    assert.equal(sample(samples, 'backup_sentinel_max_backup_age_seconds'), undefined);
    assert.equal(sample(samples, 'backup_sentinel_backup_runs_total', { result: 'success' }), 0);
  });

  it('every backup_sentinel_ metric is documented in docs/monitor.md', async () => {
    const { readFile } = await import('node:fs/promises');
    const docs = await readFile(new URL('../../docs/monitor.md', import.meta.url), 'utf8');
    const { help } = await scrape();
    const names = [...help.keys()].filter((n) => n.startsWith('backup_sentinel_'));
    assert.ok(names.length >= 20, names.join(' '));
    for (const name of names) assert.ok(docs.includes(`\`${name}\``), `${name} is missing from docs/monitor.md`);
  });
});
