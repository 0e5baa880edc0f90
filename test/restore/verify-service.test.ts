import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { keyPrefix } from '../../src/core/naming.ts';
import { Secret } from '../../src/config/secret.ts';
import { silentLogger } from '../../src/logger.ts';
import { registerRestoreMetrics } from '../../src/restore/metrics.ts';
import { buildVerifyService } from '../../src/restore/build-verify-service.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import { verifyFindings } from '../../src/restore/verify-findings.ts';
import { VerifyService } from '../../src/restore/verify-service.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { LOCATION, readObject, seedDatabase, takeBackup, tempDirStore, writeObject } from './fixtures.ts';
import { sample } from '../helpers/metrics.ts';

describe('verify service', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;

  before(async () => {
    pg = await sharedPgCluster();
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'app', 100);
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  it('records a passing verification and drill, exposes them as metrics, and then reports a damaged backup as findings', async () => {
    const key = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'gzip', at: new Date('2026-03-01T03:00:00Z') });
    let now = new Date('2026-03-01T04:30:00Z');
    const service = new VerifyService({
      store,
      prefix: keyPrefix(LOCATION),
      cron: '30 4 * * *',
      scratch: parseTargetUrl(new Secret(pg.url('postgres')), 'VERIFY_RESTORE_URL'),
      source: parseTargetUrl(new Secret(pg.url('app')), 'BACKUP_DATABASE_URL'),
      tools: findPgTools(),
      decrypt: undefined,
      logger: silentLogger(),
      clock: () => now,
    });
    const registry = new Registry();
    registerRestoreMetrics(registry, () => service.state(), () => now);
    assert.equal(sample(await registry.metrics(), 'backup_sentinel_last_verify_success'), undefined, 'nothing before the first run');
    assert.equal(sample(await registry.metrics(), 'backup_sentinel_last_verify_age_seconds'), undefined, 'no age before the first run');
    const heard: string[][] = [];
    service.onResult((_run, findings) => {
      heard.push(findings.map((f) => f.check));
    });

    const [first, same] = [service.runNow(), service.runNow()];
    assert.equal(first, same, 'one run at a time');
    const run = await first;
    assert.equal(run.verify.ok, true, JSON.stringify(run.verify.problems));
    assert.equal(run.drill?.ok, true, JSON.stringify(run.drill?.problems));
    assert.deepEqual(service.findings(), []);
    let text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_last_verify_success'), 1);
    assert.equal(sample(text, 'backup_sentinel_last_drill_success'), 1);
    assert.equal(sample(text, 'backup_sentinel_last_verify_timestamp_seconds'), now.getTime() / 1000);
    assert.ok((sample(text, 'backup_sentinel_restore_duration_seconds') ?? -1) >= 0);

    const body = await readObject(dir, key);
    await writeObject(dir, key, body.subarray(0, body.length - 1));
    now = new Date('2026-03-02T04:30:00Z');
    await service.runNow();
    const findings = service.findings();
    assert.deepEqual(findings.map((f) => [f.check, f.severity]), [['verify_failed', 'fail'], ['drill_failed', 'fail']]);
    assert.match(findings[0]?.summary ?? '', /failed verification: .* is truncated/);
    text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_last_verify_success'), 0);
    assert.equal(sample(text, 'backup_sentinel_last_drill_success'), 0);
    assert.equal(sample(text, 'backup_sentinel_last_verify_success_timestamp_seconds'), new Date('2026-03-01T04:30:00Z').getTime() / 1000);
    assert.equal(sample(text, 'backup_sentinel_last_verify_success_age_seconds'), 86_400, 'a day since the last intact verification');
    assert.equal(sample(text, 'backup_sentinel_last_drill_success_age_seconds'), 86_400);
    assert.equal(sample(text, 'backup_sentinel_last_verify_age_seconds'), 0);
    assert.equal(sample(text, 'backup_sentinel_last_drill_age_seconds'), 0);
    assert.deepEqual(heard, [[], ['verify_failed', 'drill_failed']]);
    service.start();
    const next = service.nextRunAt();
    assert.ok(next && next.getUTCHours() === 4 && next.getUTCMinutes() === 30 && next.getTime() > Date.now(), String(next));
    await service.stop();
  });

  it('is built from the configuration with drills against VERIFY_RESTORE_URL and estimates from BACKUP_DATABASE_URL', async () => {
    await takeBackup(pg, 'app', store, { format: 'custom', compression: 'zstd', at: new Date('2026-03-05T03:00:00Z'), location: { subfolder: 'built', prefix: 'app_' } });
    const config = loadConfig({
      BACKUP_DIR: dir, BUCKET_SUBFOLDER: 'built', BACKUP_FILE_PREFIX: 'app_', VERIFY_CRON: '0 5 * * *',
      VERIFY_RESTORE_URL: pg.url('postgres'), BACKUP_DATABASE_URL: pg.url('app'),
    });
    const service = buildVerifyService(config, store, silentLogger());
    const run = await service.runNow();
    assert.equal(run.verify.ok, true, JSON.stringify(run.verify.problems));
    assert.equal(run.drill?.ok, true, JSON.stringify(run.drill?.problems));
    assert.equal(run.drill?.comparedWithSource, true);
  });

  it('leaves an empty storage to the monitor instead of raising verify and drill findings', async () => {
    const service = new VerifyService({
      store,
      prefix: 'nothing-here/',
      cron: '30 4 * * *',
      scratch: parseTargetUrl(new Secret(pg.url('postgres')), 'VERIFY_RESTORE_URL'),
      source: undefined,
      tools: findPgTools(),
      decrypt: undefined,
      logger: silentLogger(),
    });
    const registry = new Registry();
    registerRestoreMetrics(registry, () => service.state());
    const run = await service.runNow();
    assert.equal(run.verify.ok, false);
    assert.equal(run.drill?.noBackup, true);
    assert.deepEqual(service.findings(), []);
    const text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_last_verify_success'), undefined);
    assert.equal(sample(text, 'backup_sentinel_last_drill_success'), undefined);
    assert.ok(sample(text, 'backup_sentinel_last_verify_timestamp_seconds'), 'but it did run');
  });

  it('counts a vanished table as intact-but-reported: success 1, one vanished table, a warning finding', async () => {
    const loc = { subfolder: 'vanish', prefix: 'app_' };
    await pg.createDatabase('shrink');
    await pg.psql('CREATE TABLE a (x int); CREATE TABLE b (x int);', 'shrink');
    await takeBackup(pg, 'shrink', store, { format: 'plain', compression: 'gzip', at: new Date('2026-03-06T03:00:00Z'), location: loc });
    await pg.psql('DROP TABLE b;', 'shrink');
    await takeBackup(pg, 'shrink', store, { format: 'plain', compression: 'gzip', at: new Date('2026-03-07T03:00:00Z'), location: loc });
    const service = new VerifyService({
      store, prefix: keyPrefix(loc), cron: '30 4 * * *', scratch: undefined, source: undefined, tools: findPgTools(), decrypt: undefined, logger: silentLogger(),
    });
    const registry = new Registry();
    registerRestoreMetrics(registry, () => service.state());
    await service.runNow();
    const text = await registry.metrics();
    assert.equal(sample(text, 'backup_sentinel_last_verify_success'), 1);
    assert.equal(sample(text, 'backup_sentinel_last_verify_vanished_tables'), 1);
    assert.deepEqual(service.findings().map((f) => [f.check, f.severity]), [['verify_failed', 'warn']]);
  });

  it('makes a vanished table alone a warning, and any other problem a failure', () => {
    const at = new Date('2026-03-03T00:00:00Z');
    const vanished = { message: 'table in the previous backup but not in the newest: public.x', warnOnly: true };
    assert.deepEqual(verifyFindings({ key: 'k', ok: false, checkedAt: at, problems: [vanished] }, undefined).map((f) => f.severity), ['warn']);
    assert.deepEqual(
      verifyFindings({ key: 'k', ok: false, checkedAt: at, problems: [vanished, { message: 'no manifest' }] }, undefined).map((f) => [f.severity, f.summary]),
      [['fail', 'backup k failed verification: table in the previous backup but not in the newest: public.x (+1 more)']],
    );
    assert.deepEqual(verifyFindings({ key: 'k', ok: true, checkedAt: at, problems: [] }, { key: 'k', ok: true, checkedAt: at, problems: [] }), []);
  });
});
