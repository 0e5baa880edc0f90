import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { backupKey } from '../../src/core/naming.ts';
import type { Config } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { cronIntervalSeconds, registerMetrics } from '../../src/monitor/metrics.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import type { S3Store } from '../../src/storage/s3-store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { HOUR, MiB, putBackup, s3StoreFor, seedS3Files, TestClock } from './fixtures.ts';
import { sample } from '../helpers/metrics.ts';

const START = new Date('2026-03-10T12:00:00Z');
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;

describe('the size median metric', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  // A runner and its metrics on its own prefix of the test bucket.
  function setup(
    subfolder: string,
    env: Record<string, string> = { SIZE_MIN_DIFF_BYTES: '1024' },
  ): { runner: MonitorRunner; registry: Registry; store: S3Store; config: Config; clock: TestClock } {
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: subfolder, SIZE_WINDOW: '3', ...env });
    const clock = new TestClock(START);
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: silentLogger(), clock });
    const registry = new Registry();
    registerMetrics({ registry, snapshot: () => runner.snapshot(), version: 't', defaultMetrics: false });
    return { runner, registry, store, config, clock };
  }

  // The sizes are what these tests are about, not the upload: the objects are written straight into the
  // server's directory as sparse files (40 MiB through PUT requests cost about a second of CPU).
  const seed = async (config: Config, backups: { size: number; time: Date }[]) =>
    await seedS3Files(s3, backups.map(({ size, time }) => ({ key: backupKey(config.location, time, PARTS), size, time })));

  it('is the median the size check compares with: the previous SIZE_WINDOW backups, empty ones left out', async () => {
    const { runner, registry, config } = setup('median');
    // Oldest first; the newest (20 MiB) is judged against the three non-empty backups before it.
    const sizes = [10 * MiB, 2 * MiB, 0, 4 * MiB, 3 * MiB, 20 * MiB];
    await seed(config, sizes.map((size, i) => ({ size, time: new Date(START.getTime() - (sizes.length - i) * HOUR) })));
    const result = await runner.runCheck();
    const anomaly = result.findings.find((f) => f.check === 'size_anomaly');
    assert.equal(anomaly?.values.medianBytes, 3 * MiB, 'the check itself uses the median of 2, 4 and 3 MiB');
    const text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_backup_size_median_bytes'), anomaly.values.medianBytes);
    assert.equal(sample(text, 'backup_sentinel_newest_backup_size_bytes'), 20 * MiB);
  });

  it('is absent before a listing and while there is no backup before the newest', async () => {
    const { runner, registry, config, clock } = setup('single');
    let text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_backup_size_median_bytes'), undefined);
    assert.match(text, /# HELP backup_sentinel_backup_size_median_bytes /);
    await seed(config, [{ size: 5 * MiB, time: new Date(START.getTime() - HOUR) }]);
    await runner.runCheck();
    text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_stored_backups'), 1);
    assert.equal(sample(text, 'backup_sentinel_backup_size_median_bytes'), undefined);
    // A second backup: the first one becomes the baseline.
    clock.advance(HOUR);
    await seed(config, [{ size: 6 * MiB, time: clock.now() }]);
    await runner.runCheck();
    assert.equal(sample(await registry.metrics(), 'backup_sentinel_backup_size_median_bytes'), 5 * MiB);
  });

  it('backup_sentinel_size_min_diff_bytes is the minimum difference the check applies to that median', async () => {
    const { runner, registry, store, config } = setup('min-diff', {});
    assert.equal(sample(await registry.metrics(), 'backup_sentinel_size_min_diff_bytes'), MiB, 'SIZE_MIN_DIFF_BYTES before a median is known');
    const sizes = [100_000, 100_000, 100_000, 20_000];
    for (const [i, size] of sizes.entries()) {
      const time = new Date(START.getTime() - (sizes.length - i) * HOUR);
      await putBackup(store, s3, backupKey(config.location, time, PARTS), size, time);
    }
    const anomaly = (await runner.runCheck()).findings.find((f) => f.check === 'size_anomaly');
    assert.equal(anomaly?.values.minDiffBytes, 50_000);
    assert.equal(sample(await registry.metrics(), 'backup_sentinel_size_min_diff_bytes'), 50_000, 'half the 100 KB median');
  });
});

describe('the monitor interval metric', () => {
  const FROM = new Date('2026-03-10T12:34:56Z'); // a Tuesday

  it('is the longest gap between scheduled checks over the next days, in seconds', () => {
    assert.equal(cronIntervalSeconds('0 * * * *', FROM), 3600);
    assert.equal(cronIntervalSeconds('*/5 * * * *', FROM), 300);
    assert.equal(cronIntervalSeconds('0 3 * * *', FROM), 86_400);
    assert.equal(cronIntervalSeconds('0 3,4 * * *', FROM), 23 * 3600, 'an uneven schedule: the long gap, not the next one');
    assert.equal(cronIntervalSeconds('0 * * * 1-5', FROM), (48 + 1) * 3600, 'hourly on weekdays: the weekend counts');
    assert.equal(cronIntervalSeconds('*/10 * * * * *', FROM), 10, 'six fields: seconds');
    assert.equal(cronIntervalSeconds('0 3 1 * *', FROM), 30 * 86_400, 'monthly (April 1 to May 1): at least one gap even beyond the horizon');
  });

  it('is left out for an expression the cron engine rejects', () => {
    assert.equal(cronIntervalSeconds('every hour', FROM), undefined);
    assert.equal(cronIntervalSeconds('61 * * * *', FROM), undefined);
  });

  it('is exported from MONITOR_CRON when given, and declared without a value otherwise', async () => {
    const snapshot = (): never => {
      throw new Error('not needed');
    };
    const withCron = new Registry();
    registerMetrics({ registry: withCron, snapshot, version: 't', defaultMetrics: false, monitorCron: '*/15 * * * *' });
    assert.equal(sample(await withCron.metrics(), 'backup_sentinel_monitor_interval_seconds'), 900);
    const without = new Registry();
    registerMetrics({ registry: without, snapshot, version: 't', defaultMetrics: false });
    const text = await without.metrics();
    assert.equal(sample(text, 'backup_sentinel_monitor_interval_seconds'), undefined);
    assert.match(text, /# TYPE backup_sentinel_monitor_interval_seconds gauge/);
  });
});
