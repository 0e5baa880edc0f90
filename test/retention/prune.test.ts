import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { keyPrefix } from '../../src/core/naming.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import type { Finding } from '../../src/core/findings.ts';
import { createRetentionService, RetentionService } from '../../src/retention/retention-service.ts';
import { createStore } from '../../src/storage/create-store.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { DAY, dirBackdate, listKeys, seedBackups, seedObject, type Backdate, type SeedTarget } from './fixtures.ts';
import { captureLogs, captureStream } from '../helpers/log-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { sample } from '../helpers/metrics.ts';

// Prune against the real in-process S3 server (s3rver) with backdated objects, and against a directory.
describe('prune', () => {
  let s3: TestS3Server;
  let n = 0;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  // Seeds objects straight into the server's files: the uploads are not what these tests are about, and
  // some 90 PUT requests cost about half a second of CPU. The prunes themselves go through the store.
  const files: SeedTarget = { put: async (key, body) => await s3.seed([{ key, body: await buffer(body) }]) };

  // A configuration, store, seeding target and backdate for a fresh subfolder of the test bucket.
  function setup(env: Record<string, string> = {}): { config: Config; store: BackupStore; seed: SeedTarget; backdate: Backdate; prefix: string } {
    n += 1;
    const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: `t${n}`, BACKUP_FILE_PREFIX: 'app-', ...env });
    return { config, store: createStore(config), seed: files, backdate: (key, time) => s3.backdate(key, time), prefix: keyPrefix(config.location) };
  }

  async function runCommand(config: Config, args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out = captureStream();
    const err = captureStream();
    const code = await pruneCommand.run(args, { config, logger: silentLogger(), stdout: out.stream, stderr: err.stream, stopSignal: new AbortController().signal });
    return { code, out: out.text(), err: err.text() };
  }

  it('deletes backups older than RETENTION_DAYS with their manifests, and keeps the newest MIN_BACKUPS_KEPT', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '5' });
    const now = new Date();
    // Backups stopped for a while: only 3 recent ones, then old ones.
    const seeded = await seedBackups(seed, backdate, config.location, [0, 1, 2, 40, 41, 42, 43, 44], now);
    const firstRequest = s3.requests.length;
    const { code, out } = await runCommand(config, []);
    assert.equal(code, 0, out);
    const requests = s3.requests.slice(firstRequest);
    assert.equal(requests.filter((r) => r.method === 'DELETE').length, 0, 'no one-by-one deletes');
    assert.equal(requests.filter((r) => r.method === 'POST' && /[?&]delete/.test(r.url)).length, 1, 'one batched DeleteObjects for 6 keys');
    const remaining = await listKeys(store, prefix);
    const expectKept = seeded.filter((s) => s.ageDays <= 41);
    const expectGone = seeded.filter((s) => s.ageDays > 41);
    assert.deepEqual(remaining.sort(), expectKept.flatMap((s) => [s.key, s.manifest]).sort());
    assert.match(out, /Deleted 3 backup\(s\) and 3 manifest\(s\)/);
    for (const s of expectGone) assert.match(out, new RegExp(`${s.key}  ${s.ageDays}(\\.0)? days old, older than 30 days`));
    assert.match(out, /one of the newest 5 backups \(MIN_BACKUPS_KEPT\)/);
  });

  it('a dry run lists what would be deleted and why, and deletes nothing', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '7', MIN_BACKUPS_KEPT: '2' });
    const seeded = await seedBackups(seed, backdate, config.location, [0, 1, 10, 11], new Date());
    const before = await listKeys(store, prefix);
    const { code, out } = await runCommand(config, ['--dry-run']);
    assert.equal(code, 0);
    assert.deepEqual(await listKeys(store, prefix), before);
    assert.match(out, /dry run: nothing is deleted/);
    assert.match(out, /Would delete 2 backup\(s\) and 2 manifest\(s\)/);
    for (const s of seeded.filter((x) => x.ageDays >= 10)) {
      assert.ok(out.includes(`${s.key}  ${s.ageDays}`), out);
      assert.ok(out.includes(`${s.manifest}  manifest of ${s.key}`), out);
    }
    const json = await runCommand(config, ['--dry-run', '--json']);
    const parsed = JSON.parse(json.out) as { toDelete: { key: string }[]; deleted: string[] };
    assert.equal(parsed.toDelete.length, 4);
    assert.deepEqual(parsed.deleted, []);
    assert.deepEqual(await listKeys(store, prefix), before);
  });

  it('refuses while the newest backup is stale, deleting nothing, and exits 2 saying why', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', MAX_BACKUP_AGE_HOURS: '25' });
    await seedBackups(seed, backdate, config.location, [3, 40, 50, 60], new Date());
    const before = await listKeys(store, prefix);
    const { code, out } = await runCommand(config, []);
    assert.equal(code, 2);
    assert.match(out, /Refused: the newest backup is not known to be good: stale \(.*72 h old \(limit 25 h\)/);
    assert.deepEqual(await listKeys(store, prefix), before);
  });

  it('refuses while the newest backup is empty', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1' });
    const now = new Date();
    await seedBackups(seed, backdate, config.location, [40, 50], now);
    const [newest] = await seedBackups(seed, backdate, config.location, [0], now);
    assert.ok(newest);
    await seedObject(seed, backdate, newest.key, new Date(now.getTime() - 60_000), 0);
    const before = await listKeys(store, prefix);
    const { code, out } = await runCommand(config, []);
    assert.equal(code, 2);
    assert.match(out, /Refused: the newest backup is not known to be good: empty \(/);
    assert.deepEqual(await listKeys(store, prefix), before);
  });

  it("refuses while the newest backup's size is anomalous by the monitor's own check", async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', SIZE_MIN_DIFF_BYTES: '0' });
    const now = new Date();
    await seedBackups(seed, backdate, config.location, [1, 2, 3, 40, 50], now);
    const [newest] = await seedBackups(seed, backdate, config.location, [0], now);
    assert.ok(newest);
    await seedObject(seed, backdate, newest.key, new Date(now.getTime() - 60_000), 1500); // 4096 -> 1500 bytes
    const before = await listKeys(store, prefix);
    const { code, out } = await runCommand(config, []);
    assert.equal(code, 2);
    assert.match(out, /Refused: the newest backup is not known to be good: size_anomaly \(/);
    assert.deepEqual(await listKeys(store, prefix), before);
  });

  it('the service runs at start and then on its schedule, logging its mode once', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', RETENTION_MODE: 'prune' });
    const now = new Date();
    await seedBackups(seed, backdate, config.location, [0, 40], now);
    const { logger, records } = captureLogs();
    const service = new RetentionService({
      settings: config.retention,
      storageKind: 's3',
      location: config.location,
      freshness: config.monitor,
      store,
      logger,
      cron: '* * * * * *',
    });
    service.start();
    const count = async () => (await listKeys(store, prefix)).length;
    await waitFor(async () => (await count()) === 2, 'the run at start prunes the 40-day-old backup');
    const [late] = await seedBackups(seed, backdate, config.location, [45], now);
    await waitFor(async () => !(await listKeys(store, prefix)).includes(late?.key ?? ''), 'a later run prunes the backup seeded after start');
    await service.stop();
    assert.equal(await count(), 2);
    assert.equal(records().filter((l) => /^retention: prune \(RETENTION_MODE=prune\)/.test(String(l.msg))).length, 1);
  });

  it('never deletes objects that are not in our naming, however old', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1' });
    const now = new Date();
    await seedBackups(seed, backdate, config.location, [0, 45], now);
    const ancient = new Date(now.getTime() - 400 * DAY);
    const folder = config.location.subfolder;
    const foreign = [
      `${prefix}-2025-01-01T03-00-00-000Z.tar.gz`, // the Railway template's naming
      `${prefix}readme.txt`,
      `${prefix}2025-01-01_03-00-00.sql.gz.partial`,
      `${folder}/other-2025-01-01_03-00-00.sql.gz`, // another prefix in the same folder
    ];
    for (const key of foreign) await seedObject(seed, backdate, key, ancient);
    const { code, out } = await runCommand(config, []);
    assert.equal(code, 0, out);
    const remaining = await listKeys(store, `${folder}/`);
    for (const key of foreign) assert.ok(remaining.includes(key), `${key} must still exist`);
    assert.equal(remaining.filter((k) => k.endsWith('.sql.gz')).length, 1 + 1); // today's backup + other-...sql.gz
    assert.match(out, /not in backup-sentinel naming: never deleted by a prune/);
  });

  it('the service falls back to prune when the endpoint answers NotImplemented to lifecycle calls, and says so', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1' });
    const seeded = await seedBackups(seed, backdate, config.location, [0, 35, 36], new Date());
    const { logger, records } = captureLogs();
    const registry = new Registry();
    const service = createRetentionService(config, { store, logger, registry });
    assert.equal(service.status().mode, 'lifecycle');
    const status = await service.runOnce();
    assert.equal(status.mode, 'prune');
    assert.match(status.modeReason, /answered NotImplemented to lifecycle calls/);
    assert.ok(records().some((l) => l.level === 40 && /falling back to prune mode/.test(String(l.msg))), JSON.stringify(records()));
    assert.deepEqual((await listKeys(store, prefix)).sort(), [seeded[0]?.key, seeded[0]?.manifest].sort());
    const metrics = await registry.metrics();
    assert.equal(sample(metrics, 'backup_sentinel_backups_deleted_total'), 2);
    assert.equal(sample(metrics, 'backup_sentinel_retention_mode', { mode: 'prune' }), 1);
    assert.equal(sample(metrics, 'backup_sentinel_retention_last_run_success'), 1);
    assert.deepEqual(service.findings(), []);
  });

  it('the service does not prune while the monitor reports the last backup run failed', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', RETENTION_MODE: 'prune' });
    await seedBackups(seed, backdate, config.location, [0, 40, 50], new Date());
    const failed: Finding = { check: 'backup_failed', severity: 'fail', summary: 'the last backup run failed: pg_dump exited 1', values: {} };
    const service = createRetentionService(config, { store, logger: silentLogger(), currentFindings: () => [failed] });
    const before = await listKeys(store, prefix);
    const status = await service.runOnce();
    assert.deepEqual(await listKeys(store, prefix), before);
    assert.match(status.lastPrune?.refusal ?? '', /backup_failed/);
    // With RETENTION_MARGIN_DAYS 2 both old backups are overdue: the finding says why they are still there.
    const [finding] = service.findings();
    assert.match(finding?.summary ?? '', /2 backups older than 32 days still in storage/);
    assert.match(finding?.hint ?? '', /last prune was refused: .*backup_failed/);
  });

  it('with RETENTION_MODE=lifecycle on an endpoint without lifecycle support it deletes nothing and reports what to set', async () => {
    const { config, store, seed, backdate, prefix } = setup({ RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', RETENTION_MODE: 'lifecycle' });
    await seedBackups(seed, backdate, config.location, [0, 40], new Date());
    const service = createRetentionService(config, { store, logger: silentLogger() });
    const before = await listKeys(store, prefix);
    const status = await service.runOnce();
    assert.equal(status.mode, 'lifecycle');
    assert.equal(status.lastRunOk, false);
    assert.deepEqual(await listKeys(store, prefix), before);
    const [finding] = service.findings();
    assert.match(finding?.summary ?? '', /NotImplemented/);
    assert.match(finding?.hint ?? '', /RETENTION_MODE=prune/);
  });

  it('directory storage prunes the same way', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retention-dir-'));
    try {
      const config = loadConfig({ BACKUP_DIR: dir, BACKUP_FILE_PREFIX: 'app-', RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '2' });
      const store = createStore(config);
      const seeded = await seedBackups(store, dirBackdate(dir), config.location, [0, 1, 31, 32], new Date());
      await seedObject(store, dirBackdate(dir), 'app-notes.txt', new Date(Date.now() - 100 * DAY));
      const service = createRetentionService(config, { store, logger: silentLogger() });
      assert.equal(service.status().mode, 'prune');
      await service.runOnce();
      const remaining = await listKeys(store, '');
      assert.deepEqual(remaining.sort(), [...seeded.slice(0, 2).flatMap((s) => [s.key, s.manifest]), 'app-notes.txt'].sort());
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
