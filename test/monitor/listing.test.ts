import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupKey, keyPrefix } from '../../src/core/naming.ts';
import { silentLogger } from '../../src/logger.ts';
import { BackupInventory } from '../../src/monitor/listing.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { HOUR, putBackup, s3StoreFor, seedS3Files, TestClock } from './fixtures.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const PARTS = { format: 'plain', compression: 'zstd', encrypted: false } as const;
const LOCATION = { subfolder: 'prod', prefix: 'db_' };
// Two pages of 1,000 keys, twice the full-listing threshold: enough to show that a steady-state check
// costs one request where a full listing pages through the bucket, at a fraction of the seeding time.
const COUNT = 2_000;

const SMALL = { subfolder: 'small', prefix: 'db_' };

// One backup an hour for `count` hours up to 30 minutes ago, with manifests beside them if asked.
function history(count: number, location = LOCATION, manifests = false): { key: string; size: number; time: Date }[] {
  const objects = [];
  for (let i = 0; i < count; i++) {
    const time = new Date(NOW.getTime() - 30 * 60_000 - (count - 1 - i) * HOUR);
    const key = backupKey(location, time, PARTS);
    objects.push({ key, size: 1_000_000 + (i % 10) * 1000, time });
    if (manifests) objects.push({ key: `${key}.manifest.json`, size: 400, time });
  }
  return objects;
}

describe('incremental listing', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server();
    await seedS3Files(s3, [...history(COUNT), ...history(30, SMALL, true)]);
  });
  after(async () => {
    await s3?.close();
  });

  it(`with ${COUNT} backups in the bucket a steady-state check makes at most 3 requests`, async () => {
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: LOCATION.subfolder, BACKUP_FILE_PREFIX: LOCATION.prefix });
    const clock = new TestClock(NOW);
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: silentLogger(), clock });

    let before = s3.requests.length;
    let t0 = performance.now();
    const first = await runner.runCheck();
    const fullRequests = s3.requests.length - before;
    const fullSeconds = (performance.now() - t0) / 1000;
    assert.deepEqual(first.findings, []);
    assert.equal(first.listing?.mode, 'full');
    let inventory = runner.snapshot().inventory;
    assert.equal(inventory.count, COUNT);
    assert.equal(inventory.totalBytes, history(COUNT).reduce((a, o) => a + o.size, 0));
    // Pages of 1,000 keys.
    assert.equal(fullRequests, COUNT / 1000);

    clock.advance(HOUR);
    before = s3.requests.length;
    t0 = performance.now();
    const steady = await runner.runCheck();
    const steadyRequests = s3.requests.length - before;
    const steadySeconds = (performance.now() - t0) / 1000;
    assert.equal(steady.listing?.mode, 'incremental');
    assert.ok(steadyRequests <= 3, `steady-state check made ${steadyRequests} requests`);
    assert.ok(steadyRequests >= 1, 'the check must reach the bucket');
    const listRequest = s3.requests.at(-1);
    assert.match(listRequest?.url ?? '', /start-after=/);

    // A new backup arrives: seen by the next incremental check, still one request.
    const newTime = new Date(clock.current.getTime() - 5 * 60_000);
    const newKey = backupKey(LOCATION, newTime, PARTS);
    await putBackup(store, undefined, newKey, 2_000_000, newTime);
    before = s3.requests.length;
    const next = await runner.runCheck();
    assert.ok(s3.requests.length - before <= 3);
    inventory = runner.snapshot().inventory;
    assert.equal(inventory.count, COUNT + 1);
    assert.equal(inventory.newest?.key, newKey);
    assert.equal(next.listing?.listed, 1);

    process.stdout.write(
      `# listing ${COUNT} backups: first check ${fullRequests} requests in ${fullSeconds.toFixed(2)} s; ` +
        `steady-state check ${steadyRequests} request(s) in ${(steadySeconds * 1000).toFixed(0)} ms\n`,
    );
  });

  // These use a small prefix with a low full-listing threshold: same code path, faster than thousands of keys.
  it('sees deletions at the next daily full listing, not before', async () => {
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: SMALL.subfolder, BACKUP_FILE_PREFIX: SMALL.prefix });
    const clock = new TestClock(NOW);
    const inventory = new BackupInventory({ store, prefix: keyPrefix(config.location), windowSize: 8, fullListingMaxObjects: 10 });
    await inventory.refresh(clock.now());
    const count = inventory.snapshot().count;
    assert.equal(count, 30, 'manifests beside the backups are not counted');
    const oldest = inventory.snapshot().oldest;
    assert.ok(oldest);
    await store.delete([oldest.key]);

    clock.advance(HOUR);
    assert.equal((await inventory.refresh(clock.now())).mode, 'incremental');
    assert.equal(inventory.snapshot().count, count, 'an incremental listing cannot see a deletion');

    clock.advance(23 * HOUR);
    assert.equal((await inventory.refresh(clock.now())).mode, 'full');
    assert.equal(inventory.snapshot().count, count - 1);
    assert.notEqual(inventory.snapshot().oldest?.key, oldest.key);
  });

  it('sees a backup stored as several objects once its first object lands after its pieces', async () => {
    const split = { subfolder: 'split', prefix: 'db_' };
    await seedS3Files(s3, history(20, split));
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: split.subfolder, BACKUP_FILE_PREFIX: split.prefix });
    const clock = new TestClock(NOW);
    const inventory = new BackupInventory({ store, prefix: keyPrefix(config.location), windowSize: 8, fullListingMaxObjects: 10 });
    await inventory.refresh(clock.now());
    assert.equal((await inventory.refresh(clock.now())).mode, 'incremental');
    // The upload completes the pieces after the first object before the first one, which sorts before them.
    const key = backupKey(split, new Date(NOW.getTime() - 60_000), PARTS);
    await seedS3Files(s3, [{ key: `${key}.002`, size: 300, time: NOW }]);
    clock.advance(HOUR);
    await inventory.refresh(clock.now());
    assert.equal(inventory.snapshot().count, 20, 'a piece alone is no backup');
    await seedS3Files(s3, [{ key, size: 700, time: NOW }]);
    clock.advance(HOUR);
    // An incremental listing would start after the piece and never see the first object.
    assert.equal((await inventory.refresh(clock.now())).mode, 'full');
    assert.equal(inventory.snapshot().count, 21);
    assert.equal(inventory.snapshot().newest?.key, key);
    assert.equal(inventory.snapshot().newest?.size, 1000);
    clock.advance(HOUR);
    assert.equal((await inventory.refresh(clock.now())).mode, 'incremental', 'back to incremental listings once the backup is whole');
  });

  it('keeps listing incrementally past pieces a failed run left behind an older backup', async () => {
    const leftover = { subfolder: 'leftover', prefix: 'db_' };
    const seeded = history(20, leftover);
    // A split upload that failed two hours ago: its second piece stayed, its first object never came.
    const failedKey = backupKey(leftover, new Date(NOW.getTime() - 2 * HOUR - 60_000), PARTS);
    await seedS3Files(s3, [...seeded, { key: `${failedKey}.002`, size: 300, time: NOW }]);
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: leftover.subfolder, BACKUP_FILE_PREFIX: leftover.prefix });
    const clock = new TestClock(NOW);
    const inventory = new BackupInventory({ store, prefix: keyPrefix(config.location), windowSize: 8, fullListingMaxObjects: 10 });
    assert.equal((await inventory.refresh(clock.now())).mode, 'full');
    assert.equal(inventory.snapshot().count, 20);
    clock.advance(HOUR);
    assert.equal((await inventory.refresh(clock.now())).mode, 'incremental', 'a piece older than the newest whole backup waits for nothing');
  });

  it('keeps only a bounded window of recent backups, newest last', async () => {
    const { store, config } = s3StoreFor(s3, { BUCKET_SUBFOLDER: SMALL.subfolder, BACKUP_FILE_PREFIX: SMALL.prefix });
    const inventory = new BackupInventory({ store, prefix: keyPrefix(config.location), windowSize: 8, fullListingMaxObjects: 10 });
    await inventory.refresh(NOW);
    const { recent, newest } = inventory.snapshot();
    assert.equal(recent.length, 8);
    assert.equal(recent.at(-1)?.key, newest?.key);
    for (let i = 1; i < recent.length; i++) assert.ok((recent[i]?.time.getTime() ?? 0) > (recent[i - 1]?.time.getTime() ?? 0));
  });
});

describe('listing a small prefix', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'monitor-dir-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lists a directory store fully at every check while it holds few objects, so deletions show at once', async () => {
    const store = new DirStore(dir);
    const location = { subfolder: '', prefix: 'backup-' };
    const inventory = new BackupInventory({ store, prefix: keyPrefix(location), windowSize: 8 });
    const keys: string[] = [];
    for (let i = 3; i >= 1; i--) {
      const time = new Date(NOW.getTime() - i * 24 * HOUR);
      const key = backupKey(location, time, PARTS);
      keys.push(key);
      await putBackup(store, undefined, key, 5000, time);
    }
    assert.equal((await inventory.refresh(NOW)).mode, 'full');
    assert.equal(inventory.snapshot().count, 3);
    await store.delete([keys[2] ?? '']);
    assert.equal((await inventory.refresh(new Date(NOW.getTime() + HOUR))).mode, 'full');
    assert.equal(inventory.snapshot().count, 2);
    assert.equal(inventory.snapshot().newest?.key, keys[1]);
  });

  it('lists incrementally above the full-listing threshold', async () => {
    const store = new DirStore(dir);
    const inventory = new BackupInventory({ store, prefix: 'backup-', windowSize: 8, fullListingMaxObjects: 1 });
    await inventory.refresh(NOW);
    const result = await inventory.refresh(new Date(NOW.getTime() + HOUR));
    assert.equal(result.mode, 'incremental');
    assert.equal(result.listed, 0);
  });
});
