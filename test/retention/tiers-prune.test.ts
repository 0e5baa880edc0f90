import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backupKey, keyPrefix, manifestKey } from '../../src/core/naming.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { createRetentionService } from '../../src/retention/retention-service.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { captureLogs, captureStream } from '../helpers/log-sink.ts';
import { startS3Server, type SeedObject, type TestS3Server } from '../helpers/s3-server.ts';
import { DAY, listKeys, PARTS } from './fixtures.ts';

// Retention tiers against the real in-process S3 server (s3rver): what remains after the service's
// prune, the requests it takes, and the `prune --dry-run` output.
describe('retention tiers against S3', () => {
  let s3: TestS3Server;
  let n = 0;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  function setup(env: Record<string, string>): { config: Config; prefix: string } {
    n += 1;
    const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: `tiers${n}`, BACKUP_FILE_PREFIX: 'app-', MIN_BACKUPS_KEPT: '1', ...env });
    return { config, prefix: keyPrefix(config.location) };
  }

  // A backup (4 KiB) and its manifest per time, uploaded a minute after the time in its name.
  async function seed(config: Config, times: readonly Date[]): Promise<string[]> {
    const objects: SeedObject[] = [];
    const keys: string[] = [];
    for (const time of times) {
      const key = backupKey(config.location, time, PARTS);
      keys.push(key);
      objects.push({ key, size: 4096, lastModified: new Date(time.getTime() + 60_000) });
      objects.push({ key: manifestKey(key), body: JSON.stringify({ manifestVersion: 1, key }), lastModified: new Date(time.getTime() + 61_000) });
    }
    await s3.seed(objects);
    return keys;
  }

  const dailyAt3 = (last: string, days: number) => Array.from({ length: days }, (_, i) => new Date(new Date(`${last}T03:00:00Z`).getTime() - i * DAY));
  const requestsSince = (first: number) => s3.requests.slice(first);
  const listings = (first: number) => requestsSince(first).filter((r) => r.method === 'GET' && /[?&]list-type=2/.test(r.url)).length;
  const batchDeletes = (first: number) => requestsSince(first).filter((r) => r.method === 'POST' && /[?&]delete/.test(r.url)).length;
  const singleDeletes = (first: number) => requestsSince(first).filter((r) => r.method === 'DELETE').length;

  it('400 days of daily backups, KEEP_DAILY=7 KEEP_WEEKLY=4 KEEP_MONTHLY=12: exactly the expected backups remain, after one listing and batched deletes', async () => {
    const { config, prefix } = setup({ KEEP_DAILY: '7', KEEP_WEEKLY: '4', KEEP_MONTHLY: '12' });
    await seed(config, dailyAt3('2026-07-12', 400));
    // Sunday 2026-07-12, written out from a calendar: the last 7 days; the Sundays closing ISO weeks
    // 27, 26 and 25; the last day of each month back to August 2025. June/July turns on a Tuesday,
    // mid-week: June's newest (06-30) stays as the monthly one although its week's newest is 07-05.
    const expected = [
      '2026-07-12', '2026-07-11', '2026-07-10', '2026-07-09', '2026-07-08', '2026-07-07', '2026-07-06',
      '2026-07-05', '2026-06-28', '2026-06-21',
      '2026-06-30', '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31',
      '2025-12-31', '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31',
    ].map((d) => backupKey(config.location, new Date(`${d}T03:00:00Z`), PARTS));
    const { logger, records } = captureLogs();
    const service = createRetentionService(config, { store: createStore(config), logger, clock: { now: () => new Date('2026-07-12T12:00:00Z') } });
    assert.equal(service.status().mode, 'prune');
    const first = s3.requests.length;
    const status = await service.runOnce();
    assert.equal(status.lastRunOk, true, JSON.stringify(records()));
    // 800 objects: one listing page; 758 keys: two DeleteObjects of at most 500; nothing one by one.
    assert.equal(listings(first), 1);
    assert.equal(batchDeletes(first), 2);
    assert.equal(singleDeletes(first), 0);
    assert.deepEqual((await listKeys(createStore(config), prefix)).sort(), expected.flatMap((k) => [k, manifestKey(k)]).sort());
    assert.equal(status.lastPrune?.deletedBackups, 379);
    assert.equal(status.lastPrune?.deletedManifests, 379);
    assert.ok(records().some((l) => /pruned 379 backup\(s\) kept by no tier \(KEEP_DAILY=7, KEEP_WEEKLY=4, KEEP_MONTHLY=12\)/.test(String(l.msg))));
    // What remains is what the tiers keep: no retention finding.
    assert.deepEqual(service.findings(new Date('2026-07-12T12:00:00Z')), []);
  });

  it('CRON_TZ: where the UTC day differs from the local day, the newest backup of each local day remains', async () => {
    // 01:00 and 13:00 UTC each day: in New York (UTC-4 in July) 01:00 UTC is 21:00 the day before.
    const times = dailyAt3('2026-07-12', 5).flatMap((t) => [new Date(t.getTime() - 2 * 3600_000), new Date(t.getTime() + 10 * 3600_000)]);
    const { config, prefix } = setup({ KEEP_DAILY: '3', CRON_TZ: 'America/New_York' });
    await seed(config, times);
    const service = createRetentionService(config, { store: createStore(config), logger: silentLogger(), clock: { now: () => new Date('2026-07-12T14:00:00Z') } });
    await service.runOnce();
    const expected = ['2026-07-11T01:00:00Z', '2026-07-12T01:00:00Z', '2026-07-12T13:00:00Z'].map((t) => backupKey(config.location, new Date(t), PARTS));
    assert.deepEqual((await listKeys(createStore(config), prefix)).filter((k) => !k.endsWith('.manifest.json')).sort(), expected);
  });

  it('prune --dry-run says which tier keeps each kept backup, and deletes nothing', async () => {
    const { config, prefix } = setup({ KEEP_DAILY: '3', KEEP_MONTHLY: '1' });
    // One backup a day, the newest an hour ago: each on its own UTC day.
    const now = Date.now();
    const times = Array.from({ length: 6 }, (_, i) => new Date(now - 3600_000 - i * DAY));
    const keys = await seed(config, times);
    const before = await listKeys(createStore(config), prefix);
    const out = captureStream();
    const code = await pruneCommand.run(['--dry-run'], { config, logger: silentLogger(), stdout: out.stream, stderr: captureStream().stream, stopSignal: new AbortController().signal });
    const text = out.text();
    assert.equal(code, 0, text);
    assert.deepEqual(await listKeys(createStore(config), prefix), before);
    assert.match(text, /KEEP_DAILY=3, KEEP_MONTHLY=1 \(CRON_TZ=UTC\), MIN_BACKUPS_KEPT=1 \(dry run: nothing is deleted\)/);
    assert.match(text, /Would delete 3 backup\(s\) and 3 manifest\(s\)/);
    assert.match(text, /Kept, and by which tier/);
    for (const [i, key] of keys.slice(0, 3).entries()) {
      const day = times[i]?.toISOString().slice(0, 10) ?? '';
      assert.match(text, new RegExp(`  ${key}  [0-9.]+ days old: daily ${day}`), text);
    }
    for (const key of keys.slice(3)) assert.match(text, new RegExp(`  ${key}  [0-9.]+ days old, kept by no tier \\(KEEP_DAILY=3, KEEP_MONTHLY=1\\)`), text);
    const json = captureStream();
    await pruneCommand.run(['--dry-run', '--json'], { config, logger: silentLogger(), stdout: json.stream, stderr: captureStream().stream, stopSignal: new AbortController().signal });
    const parsed = JSON.parse(json.text()) as { kept: { key: string; tiers?: { tier: string; period: string }[] }[] };
    assert.deepEqual(parsed.kept.find((k) => k.key === keys[1])?.tiers, [{ tier: 'daily', period: times[1]?.toISOString().slice(0, 10) }]);
  });
});
