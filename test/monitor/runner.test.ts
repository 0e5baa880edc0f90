import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { backupKey } from '../../src/core/naming.ts';
import type { CheckName } from '../../src/core/findings.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import type { CheckResult } from '../../src/monitor/state.ts';
import { silentLogger } from '../../src/logger.ts';
import { freePort } from '../helpers/free-port.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { HOUR, MiB, putBackup, s3StoreFor, seedS3Files, TestClock } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const START = new Date('2026-03-10T12:00:00Z');
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;

function checks(result: CheckResult): CheckName[] {
  return result.findings.map((f) => f.check).sort();
}

describe('monitor runner against an S3 server', () => {
  let s3: TestS3Server;
  let bucketCounter = 0;

  before(async () => {
    s3 = await startS3Server({ extraBuckets: Array.from({ length: 18 }, (_, i) => `monitor-${i}`) });
  });
  after(async () => {
    await s3?.close();
  });

  // Each test gets its own empty bucket (s3rver creates them at start).
  let env: Record<string, string>;
  beforeEach(() => {
    const bucket = `monitor-${bucketCounter++}`;
    env = { AWS_S3_BUCKET: bucket, BUCKET_SUBFOLDER: 'db', BACKUP_FILE_PREFIX: 'app_' };
  });

  function setup(extra: Record<string, string> = {}) {
    const { store, config } = s3StoreFor(s3, { ...env, ...extra });
    const clock = new TestClock(START);
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: silentLogger(), clock });
    // A backup of that age and size, written straight into the server's files as a sparse file: the
    // checks judge sizes and times, and megabytes of PUT requests per test cost seconds of CPU.
    const put = async (ageHours: number, size: number) => {
      const time = new Date(clock.current.getTime() - ageHours * HOUR);
      await seedS3Files(s3, [{ key: backupKey(config.location, time, PARTS), size, time }], env.AWS_S3_BUCKET);
    };
    return { store, config, clock, runner, put };
  }

  it('reports stale when the bucket holds no backup, and clears once one lands', async () => {
    const { runner, put } = setup();
    const first = await runner.runCheck();
    assert.deepEqual(checks(first), ['stale']);
    assert.match(first.findings[0]?.summary ?? '', /no backup found in s3:\/\/monitor-\d.*\/db\/app_/);
    await put(1, 2 * MiB);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('turns stale as the clock passes MAX_BACKUP_AGE_HOURS, and clears with a new backup', async () => {
    const { runner, put, clock } = setup({ MAX_BACKUP_AGE_HOURS: '25' });
    await put(20, 2 * MiB);
    assert.deepEqual(checks(await runner.runCheck()), []);
    clock.advance(6 * HOUR);
    const stale = await runner.runCheck();
    assert.deepEqual(checks(stale), ['stale']);
    assert.equal(stale.findings[0]?.values.ageHours, 26);
    await put(0.1, 2 * MiB);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('reports an empty newest backup and clears when a real one follows', async () => {
    const { runner, put } = setup();
    await put(30, 2 * MiB);
    await put(5, 0);
    assert.deepEqual(checks(await runner.runCheck()), ['empty']);
    await put(1, 2 * MiB);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('reports a size anomaly against the median of the previous backups and clears', async () => {
    const { runner, put } = setup({ SIZE_MIN_DIFF_BYTES: String(256 * 1024) });
    for (let day = 5; day >= 1; day--) await put(day * 24, MiB);
    await put(2, 300 * 1024);
    const result = await runner.runCheck();
    assert.deepEqual(checks(result), ['size_anomaly']);
    assert.equal(result.findings[0]?.values.medianBytes, MiB);
    assert.equal(result.findings[0]?.values.direction, 'drop');
    await put(1, MiB);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('with the default SIZE_MIN_DIFF_BYTES, an 80% drop of a 100 KB backup is a size anomaly', async () => {
    const { runner, put } = setup();
    for (let day = 5; day >= 1; day--) await put(day * 24, 100_000);
    assert.deepEqual(checks(await runner.runCheck()), []);
    await put(2, 20_000);
    const result = await runner.runCheck();
    assert.deepEqual(checks(result), ['size_anomaly']);
    assert.equal(result.findings[0]?.values.medianBytes, 100_000);
    assert.equal(result.findings[0]?.values.minDiffBytes, 50_000);
    assert.equal(result.findings[0]?.values.direction, 'drop');
    await put(1, 98_000);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('an explicitly set SIZE_MIN_DIFF_BYTES stays the floor: the same drop is quiet under 1 MiB', async () => {
    const { runner, put } = setup({ SIZE_MIN_DIFF_BYTES: String(MiB) });
    for (let day = 5; day >= 1; day--) await put(day * 24, 100_000);
    await put(2, 20_000);
    assert.deepEqual(checks(await runner.runCheck()), []);
  });

  it('reports a failed backup run at once, and clears when the next run succeeds', async () => {
    const { runner, put, clock } = setup();
    await put(1, 2 * MiB);
    const failed = await runner.afterBackupRun({
      result: 'failure',
      startedAt: clock.now(),
      finishedAt: clock.now(),
      error: 'pg_dump exited with code 1: FATAL: password authentication failed',
      stage: 'dump',
      runId: 'r1',
    });
    assert.deepEqual(checks(failed), ['backup_failed']);
    assert.equal(failed.findings[0]?.values.stage, 'dump');
    await put(0, 2 * MiB);
    const ok = await runner.afterBackupRun({ result: 'success', startedAt: clock.now(), finishedAt: clock.now(), sizeBytes: 2 * MiB, durationMs: 1500 });
    assert.deepEqual(checks(ok), []);
  });

  it('recognises the Railway template\'s objects and objects without a time in their name', async () => {
    const { store, runner, clock } = setup({ BACKUP_FILE_PREFIX: 'backup' });
    const templateTime = new Date(clock.current.getTime() - 3 * HOUR);
    // postgres-s3-backups: `${BACKUP_FILE_PREFIX}-${new Date().toISOString().replace(/[:.]+/g, '-')}.tar.gz`
    const templateKey = `db/backup-${templateTime.toISOString().replace(/[:.]+/g, '-')}.tar.gz`;
    await putBackup(store, undefined, templateKey, 2 * MiB, templateTime);
    // LastModified far from the name's time: the name wins.
    await s3.backdate(templateKey, new Date(clock.current.getTime() - 40 * HOUR), env.AWS_S3_BUCKET);
    let result = await runner.runCheck();
    assert.deepEqual(checks(result), []);
    const newest = runner.snapshot().inventory.newest;
    assert.equal(newest?.key, templateKey);
    assert.equal(newest?.timeSource, 'name');
    assert.equal(newest?.time.toISOString(), templateTime.toISOString());
    assert.equal(newest?.ours, false);

    // BACKUP_FILENAME in the template: a fixed name; its LastModified is the backup time.
    const fixed = 'db/backup.tar.gz';
    await putBackup(store, undefined, fixed, 2 * MiB, clock.now());
    await s3.backdate(fixed, new Date(clock.current.getTime() - 30 * HOUR), env.AWS_S3_BUCKET);
    // A manifest is never a backup.
    await putBackup(store, undefined, `${templateKey}.manifest.json`, 10, clock.now());
    result = await runner.runCheck();
    assert.deepEqual(checks(result), []);
    const inventory = runner.snapshot().inventory;
    assert.equal(inventory.count, 2);
    assert.equal(inventory.oldest?.key, fixed);
    assert.equal(inventory.oldest?.timeSource, 'lastModified');

    clock.advance(24 * HOUR);
    result = await runner.runCheck();
    assert.deepEqual(checks(result), ['stale']);
    assert.equal(result.findings[0]?.values.newestKey, templateKey);
  });

  it('turns a wrong access key into storage_unreachable naming the credentials, and is not ready', async () => {
    const { runner } = setup({ AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: 'wrong-secret-value' });
    const result = await runner.runCheck();
    assert.equal(result.ok, false);
    assert.deepEqual(checks(result), ['storage_unreachable']);
    const finding = result.findings[0];
    // s3rver answers InvalidAccessKeyId, which the S3 store classifies as InvalidCredentials.
    assert.ok(['InvalidCredentials', 'AccessDenied'].includes(String(finding?.values.code)), String(finding?.values.code));
    assert.match(finding?.hint ?? '', /AWS_ACCESS_KEY_ID/);
    assert.doesNotMatch(JSON.stringify(result), /wrong-secret-value/);
    assert.equal(runner.readyState().ready, false);
  });

  it('turns a missing bucket into storage_unreachable with NoSuchBucket', async () => {
    const { runner } = setup({ AWS_S3_BUCKET: 'no-such-bucket-here' });
    const result = await runner.runCheck();
    assert.deepEqual(checks(result), ['storage_unreachable']);
    assert.equal(result.findings[0]?.values.code, 'NoSuchBucket');
    assert.match(result.findings[0]?.hint ?? '', /AWS_S3_BUCKET/);
  });

  it('turns a dead endpoint into storage_unreachable with Network, then recovers when storage answers', async () => {
    const port = await freePort();
    const dead = setup({ AWS_S3_ENDPOINT: `http://127.0.0.1:${port}` });
    const result = await dead.runner.runCheck();
    assert.deepEqual(checks(result), ['storage_unreachable']);
    assert.equal(result.findings[0]?.values.code, 'Network');
    assert.match(result.findings[0]?.hint ?? '', /AWS_S3_ENDPOINT/);

    const live = setup();
    await live.put(1, 2 * MiB);
    const recovered = await live.runner.runCheck();
    assert.deepEqual(checks(recovered), []);
    assert.equal(live.runner.readyState().ready, true);
  });

  it('keeps a stale finding while the bucket vanishes, and /health does not call the unknown checks passing', async () => {
    const { runner, put } = setup();
    await put(30, 2 * MiB);
    assert.deepEqual(checks(await runner.runCheck()), ['stale']);
    await fs.rm(path.join(s3.directory, env.AWS_S3_BUCKET ?? ''), { recursive: true });
    const gone = await runner.runCheck();
    assert.deepEqual(checks(gone), ['stale', 'storage_unreachable']);
    assert.equal(gone.findings.find((f) => f.check === 'storage_unreachable')?.values.code, 'NoSuchBucket');
    const health = runner.healthState();
    assert.deepEqual([...(health.checks ?? [])].sort(), ['backup_failed', 'storage_unreachable']);
    assert.equal(runner.readyState().ready, true, 'storage was reached once');
  });

  it('never throws when a listener or the store misbehaves, and logs the failure', async () => {
    const { config, clock } = setup();
    const { logger, records } = captureLogs();
    const store = {
      description: 'broken://',
      list: () => Promise.reject(new TypeError('not a StorageError')),
      put: () => Promise.reject(new Error('x')),
      head: () => Promise.resolve(undefined),
      get: () => Promise.reject(new Error('x')),
      delete: () => Promise.resolve(),
    };
    // A store stub: no real server can throw a non-StorageError from list().
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger, clock });
    runner.onCheck(() => {
      throw new Error('listener exploded');
    });
    runner.onCheck(() => Promise.reject(new Error('async listener exploded')));
    const result = await runner.runCheck();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(checks(result), ['storage_unreachable']);
    assert.equal(result.findings[0]?.values.code, 'Unknown');
    const messages = records().map((l) => l.msg);
    assert.ok(messages.filter((m) => m === 'check listener failed').length === 2, JSON.stringify(messages));
  });

  it('when the first backup starts with the service, the check at start is quiet (not for alerting), the next is not', async () => {
    const { store, config } = s3StoreFor(s3, env);
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: silentLogger(), clock: new TestClock(START), firstBackupAtStart: true });
    const first = await runner.runCheck();
    assert.deepEqual(checks(first), ['stale'], 'its findings still show');
    assert.equal(first.quiet, true);
    assert.equal(runner.healthState().findings.length, 1, '/health shows them at once');
    assert.equal((await runner.runCheck()).quiet, undefined);
    const { runner: usual } = setup();
    assert.equal((await usual.runCheck()).quiet, undefined, 'without a backup at start nothing is quiet');
  });

  it('runs a check asked for during another one right after it, and tells listeners each time', async () => {
    const { runner, put } = setup();
    const seen: number[] = [];
    runner.onCheck((r) => {
      seen.push(r.findings.length);
    });
    await put(1, 2 * MiB);
    const first = runner.runCheck();
    const second = runner.runCheck();
    const third = runner.runCheck();
    assert.equal(second, third, 'requests during a running check share one follow-up check');
    const [a, b] = await Promise.all([first, second]);
    assert.notEqual(a, b);
    assert.ok(b.at.getTime() >= a.at.getTime());
    assert.deepEqual(checks(b), []);
    assert.equal(seen.length, 2);
  });

  it('start() checks at once and schedules the next check on MONITOR_CRON in UTC', async () => {
    const { runner } = setup({ MONITOR_CRON: '17 * * * *' });
    const checked = new Promise<CheckResult>((resolve) => runner.onCheck((r) => resolve(r)));
    runner.start();
    try {
      await checked;
      const next = runner.nextCheckAt();
      assert.ok(next !== undefined);
      assert.equal(next.getUTCMinutes(), 17);
      assert.ok(next.getTime() > Date.now());
    } finally {
      await runner.stop();
    }
    assert.equal(runner.nextCheckAt(), undefined);
  });
});
