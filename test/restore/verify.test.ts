import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyPrefix } from '../../src/core/naming.ts';
import type { Location } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { verifyBackup, type VerifyRequest } from '../../src/restore/verify.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { readObject, seedDatabase, storeRawBackup, takeBackup, tempDirStore, writeObject } from './fixtures.ts';

const tools = findPgTools();
const day = (n: number) => new Date(Date.UTC(2026, 0, n, 3, 0, 0));

describe('verify', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;
  let folder = 0;
  // Each test writes under its own folder, so "newest" and "previous" are the test's own backups.
  const location = (): Location => ({ subfolder: `t${++folder}`, prefix: 'app_' });
  const request = (loc: Location, extra: Partial<VerifyRequest> = {}): VerifyRequest => ({
    store, prefix: keyPrefix(loc), tools, decrypt: undefined, logger: silentLogger(), ...extra,
  });

  before(async () => {
    pg = await sharedPgCluster();
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'app', 200);
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  it('passes a good plain backup and a good custom backup, listing their tables and rows', async () => {
    const loc = location();
    await takeBackup(pg, 'app', store, { format: 'plain', compression: 'gzip', at: day(1), location: loc });
    const customKey = await takeBackup(pg, 'app', store, { format: 'custom', compression: 'zstd', at: day(2), location: loc });
    const result = await verifyBackup(request(loc));
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    assert.equal(result.key, customKey, 'the newest backup by default');
    assert.deepEqual([...result.tables].sort(), ['audit.log', 'public."order items"', 'public.customers', 'public.empty_table']);
    assert.equal(result.rows, 200 + 400 + 2);
    assert.ok(result.comparedWith?.endsWith('2026-01-01_03-00-00.sql.gz'), result.comparedWith);
  });

  it('reports a flipped byte in a compressed backup as a sha256 mismatch', async () => {
    const loc = location();
    const key = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'gzip', at: day(3), location: loc });
    const body = await readObject(dir, key);
    const at = Math.floor(body.length / 2);
    body[at] = (body[at] ?? 0) ^ 0x01;
    await writeObject(dir, key, body);
    const result = await verifyBackup(request(loc));
    assert.equal(result.ok, false);
    const sha = result.problems.find((p) => p.kind === 'sha256');
    assert.ok(sha, JSON.stringify(result.problems));
    assert.match(sha.message, /fails its sha256 check/);
  });

  it('reports a truncated object with the stored and expected sizes', async () => {
    const loc = location();
    const key = await takeBackup(pg, 'app', store, { format: 'custom', compression: 'gzip', at: day(4), location: loc });
    const body = await readObject(dir, key);
    await writeObject(dir, key, body.subarray(0, body.length - 100));
    const result = await verifyBackup(request(loc));
    const size = result.problems.find((p) => p.kind === 'size');
    assert.ok(size, JSON.stringify(result.problems));
    assert.match(size.message, new RegExp(`is truncated: .*\\(${body.length - 100} bytes\\) stored, .*\\(${body.length} bytes\\) in its manifest`));
  });

  it('reports bytes appended to a custom dump, which pg_restore itself stops reading before', { timeout: 30_000 }, async () => {
    const loc = location();
    const key = await takeBackup(pg, 'app', store, { format: 'custom', compression: 'none', at: day(9), location: loc });
    const body = await readObject(dir, key);
    await writeObject(dir, key, Buffer.concat([body, Buffer.alloc(2 * 1024 * 1024, 7)]));
    const result = await verifyBackup(request(loc));
    assert.deepEqual(result.problems.map((p) => p.kind), ['size']);
    assert.match(result.problems[0]?.message ?? '', /is longer than uploaded/);
  });

  it('reports a table that exists in the previous backup and vanished from the newest', async () => {
    const loc = location();
    await pg.createDatabase('shrinking');
    await pg.psql('CREATE TABLE stays (x int); CREATE TABLE "goes away" (x int); INSERT INTO "goes away" VALUES (1);', 'shrinking');
    const first = await takeBackup(pg, 'shrinking', store, { format: 'plain', compression: 'zstd', at: day(5), location: loc });
    await pg.psql('DROP TABLE "goes away";', 'shrinking');
    await takeBackup(pg, 'shrinking', store, { format: 'plain', compression: 'zstd', at: day(6), location: loc });
    const cache = new Map<string, string[]>();
    const result = await verifyBackup(request(loc, { tableCache: cache }));
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems.map((p) => p.kind), ['vanished-table']);
    assert.match(result.problems[0]?.message ?? '', /table in the previous backup .*05_03-00-00\.sql\.zst but not in .*: public\."goes away"$/);
    assert.deepEqual(cache.get(first), ['public."goes away"', 'public.stays']);
  });

  it('reports a dump that was cut short even when its manifest matches the cut bytes', async () => {
    const loc = location();
    const key = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'none', at: day(7), location: loc });
    const body = await readObject(dir, key);
    const cut = body.subarray(0, body.indexOf('-- PostgreSQL database dump complete'));
    await store.delete([key]);
    await storeRawBackup(store, day(8), 'plain', cut, loc);
    const result = await verifyBackup(request(loc));
    assert.deepEqual(result.problems.map((p) => p.kind), ['structure']);
    assert.match(result.problems[0]?.message ?? '', /ends without pg_dump's "-- PostgreSQL database dump complete" trailer/);
  });

  it('treats a damaged manifest as a problem, never as a backup without a sha256 to check', async () => {
    const loc = location();
    const key = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'gzip', at: day(10), location: loc });
    await writeObject(dir, `${key}.manifest.json`, Buffer.from('{"manifestVersion": 1, "sha'));
    const result = await verifyBackup(request(loc));
    assert.deepEqual(result.problems.map((p) => p.kind), ['unreadable']);
    assert.match(result.problems[0]?.message ?? '', /manifest of .* is unreadable or belongs to another key/);
  });

  it('reports an empty storage as a problem instead of failing', async () => {
    const result = await verifyBackup(request(location()));
    assert.equal(result.ok, false);
    assert.equal(result.problems[0]?.kind, 'no-backup');
  });
});
