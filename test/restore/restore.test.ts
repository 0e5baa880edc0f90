import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pgLib from 'pg';
import { Secret } from '../../src/config/secret.ts';
import { keyPrefix, manifestKey } from '../../src/core/naming.ts';
import { Readable } from 'node:stream';
import { RestoreError, StorageError } from '../../src/errors.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import { silentLogger } from '../../src/logger.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { restoreBackup, type RestoreProgress } from '../../src/restore/restore.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server } from '../helpers/s3-server.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { LOCATION, readObject, seedDatabase, takeBackup, tempDirStore, writeObject } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const PREFIX = keyPrefix(LOCATION);
const tools = findPgTools();

// A fingerprint of the data: row counts and an md5 over every table's rows in key order.
async function fingerprint(pg: PgCluster, db: string): Promise<string> {
  return await pg.psql(
    `SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM "order items") || ' ' || (SELECT count(*) FROM audit.log) || ' ' ||
            (SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c) || ' ' ||
            (SELECT md5(string_agg(o::text, '|' ORDER BY id)) FROM "order items" o)`,
    db,
  );
}

describe('restore', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;
  let source: string;
  let plainKey: string;
  let customKey: string;

  before(async () => {
    pg = await startPgCluster({ password: "p@ss w'rd;$x" });
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'source db');
    source = await fingerprint(pg, 'source db');
    plainKey = await takeBackup(pg, 'source db', store, { format: 'plain', compression: 'gzip', at: new Date('2026-01-01T03:00:00Z') });
    customKey = await takeBackup(pg, 'source db', store, { format: 'custom', compression: 'zstd', at: new Date('2026-01-02T03:00:00Z') });
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  const target = (db: string) => parseTargetUrl(new Secret(pg.url(db)), '--target-url');

  it('restores a plain gzip backup into a new database with the same data', async () => {
    const progress: RestoreProgress[] = [];
    const { logger, text } = captureLogs();
    const summary = await restoreBackup({
      store, key: plainKey, prefix: PREFIX, target: target('plain copy'), create: true, decrypt: undefined, tools, logger,
      onProgress: (p) => progress.push(p), progressIntervalMs: 0,
    });
    assert.equal(await fingerprint(pg, 'plain copy'), source);
    assert.equal(summary.tables, 4);
    assert.equal(summary.rows, 500 + 1000 + 2);
    assert.equal(summary.sha256Checked, true);
    assert.equal(summary.rowsByTable.get('public."order items"'), 1000);
    assert.ok(progress.length > 0 && progress.at(-1)?.percent === 100, JSON.stringify(progress.at(-1)));
    assert.ok(!text().includes("p@ss w'rd"), 'the password never reaches the logs');
  });

  it('restores a custom zstd backup into a new database with the same data', async () => {
    const summary = await restoreBackup({ store, key: customKey, prefix: PREFIX, target: target('custom copy'), create: true, decrypt: undefined, tools, logger: silentLogger() });
    assert.equal(await fingerprint(pg, 'custom copy'), source);
    assert.equal(summary.format, 'custom');
    assert.equal(summary.rows, 1502);
  });

  it('restores a custom backup with parallel pg_restore jobs', async () => {
    const summary = await restoreBackup({ store, key: customKey, prefix: PREFIX, target: target('parallel copy'), create: true, jobs: 2, decrypt: undefined, tools, logger: silentLogger() });
    assert.equal(await fingerprint(pg, 'parallel copy'), source);
    assert.equal(summary.tables, 4);
  });

  it('stops pg_restore --jobs when the restore is stopped, and says the target is partly restored', async () => {
    await pg.createDatabase('jobs stopped');
    // An uncommitted CREATE SCHEMA of the same name makes pg_restore wait for this session.
    const holder = new pgLib.Client({ connectionString: pg.url('jobs stopped') });
    await holder.connect();
    await holder.query('BEGIN; CREATE SCHEMA audit');
    const restoreSessions = async () =>
      Number(await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backup-sentinel-restore' AND datname = 'jobs stopped'"));
    try {
      const controller = new AbortController();
      const restoring = restoreBackup({
        store, key: customKey, prefix: PREFIX, target: target('jobs stopped'), jobs: 2, decrypt: undefined, tools, logger: silentLogger(), signal: controller.signal,
      });
      const outcome = restoring.then(() => 'finished', (error: unknown) => error);
      await waitFor(async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backup-sentinel-restore' AND wait_event_type = 'Lock'")) !== '0', 'pg_restore waiting for the lock');
      controller.abort();
      const error = await Promise.race([outcome, new Promise((resolve) => setTimeout(resolve, 15_000, 'still running 15 s after the stop').unref())]);
      assert.ok(error instanceof RestoreError, String(error));
      assert.match(error.message, /pg_restore --jobs 2 failed part-way into .*jobs stopped/);
      assert.match(error.message, /PARTLY RESTORED/);
      await waitFor(async () => (await restoreSessions()) === 0, "pg_restore's sessions to end");
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('refuses to restore into a database that is not empty, and replaces it with --clean', async () => {
    await pg.createDatabase('busy');
    await pg.psql('CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (1);', 'busy');
    await assert.rejects(
      restoreBackup({ store, key: plainKey, prefix: PREFIX, target: target('busy'), decrypt: undefined, tools, logger: silentLogger() }),
      (error: unknown) => error instanceof RestoreError && /not empty \(1 tables.*public\.keep_me/.test(error.message) && /--clean/.test(error.message),
    );
    assert.equal(await pg.psql('SELECT count(*) FROM keep_me', 'busy'), '1');
    await restoreBackup({ store, key: plainKey, prefix: PREFIX, target: target('busy'), clean: true, decrypt: undefined, tools, logger: silentLogger() });
    assert.equal(await fingerprint(pg, 'busy'), source);
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'keep_me'", 'busy'), '0');
  });

  it('restores from an S3-compatible bucket with the same data', async () => {
    const s3 = await startS3Server();
    try {
      const bucket = createStore(loadConfig(s3.env));
      const key = await takeBackup(pg, 'source db', bucket, { format: 'plain', compression: 'zstd', at: new Date('2026-01-05T03:00:00Z') });
      const summary = await restoreBackup({ store: bucket, key, prefix: PREFIX, target: target('from s3'), create: true, decrypt: undefined, tools, logger: silentLogger() });
      assert.equal(summary.sha256Checked, true);
      assert.equal(await fingerprint(pg, 'from s3'), source);
    } finally {
      await s3.close();
    }
  });

  // Fault injection: a store whose reads fail or stall. No real server misbehaves on cue like this.
  const faultyStore = (mode: 'fail' | 'stall'): BackupStore => ({
    description: store.description,
    put: (k, b, o) => store.put(k, b, o),
    list: (p, o) => store.list(p, o),
    head: (k) => store.head(k),
    delete: (k) => store.delete(k),
    async get(k) {
      if (k.endsWith('.manifest.json')) return await store.get(k);
      if (mode === 'fail') throw new StorageError('Network', 'connection reset while reading the object');
      const body = await readObject(dir, k);
      // Most of the object, then nothing more: a stalled download.
      const stalled = new Readable({ read() {} });
      stalled.push(body.subarray(0, body.length - 10));
      return stalled;
    },
  });

  it('fails promptly, without leaving psql waiting, when the object cannot be read', async () => {
    await pg.createDatabase('unreadable');
    await assert.rejects(
      restoreBackup({ store: faultyStore('fail'), key: plainKey, prefix: PREFIX, target: target('unreadable'), decrypt: undefined, tools, logger: silentLogger() }),
      /connection reset while reading the object/,
    );
    assert.equal(await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backup-sentinel-restore'"), '0');
  });

  it('reports a missing psql or zstd binary as an error instead of crashing', async () => {
    await assert.rejects(
      restoreBackup({ store, key: plainKey, prefix: PREFIX, target: target('no psql'), create: true, decrypt: undefined, tools: { ...tools, psql: '/nonexistent/psql' }, logger: silentLogger() }),
      /cannot run psql \(\/nonexistent\/psql\)[\s\S]*install the PostgreSQL client/,
    );
    assert.equal(await pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'no psql'"), '0', 'the database --create made is dropped again');
    await assert.rejects(
      restoreBackup({ store, key: customKey, prefix: PREFIX, target: target('no zstd'), create: true, decrypt: undefined, tools: { ...tools, zstd: '/nonexistent/zstd' }, logger: silentLogger() }),
      /cannot run zstd -d/,
    );
  });

  it('rolls back a restore stopped while its download stalls', async () => {
    await pg.createDatabase('stopped');
    const controller = new AbortController();
    const restoring = restoreBackup({
      store: faultyStore('stall'), key: plainKey, prefix: PREFIX, target: target('stopped'), decrypt: undefined, tools, logger: silentLogger(), signal: controller.signal,
    });
    // Stop it once psql has received most of the dump and waits, inside its transaction, for the rest.
    const inTransaction = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'stopped' AND state = 'idle in transaction'";
    await waitFor(async () => (await pg.psql(inTransaction)) === '1', 'the restore waiting for the rest of the download');
    controller.abort();
    await assert.rejects(restoring, /was stopped before it finished; nothing was committed/);
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'customers'", 'stopped'), '0');
  });

  it('keeps the old contents when a --clean restore fails, since the clean-up runs in the restore\'s transaction', async () => {
    await pg.createDatabase('precious');
    await pg.psql("CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42);", 'precious');
    const key = await takeBackup(pg, 'source db', store, { format: 'custom', compression: 'none', at: new Date('2026-01-07T03:00:00Z') });
    const body = await readObject(dir, key);
    body[body.length - 30] = (body[body.length - 30] ?? 0) ^ 0x01;
    await writeObject(dir, key, body);
    await assert.rejects(
      restoreBackup({ store, key, prefix: PREFIX, target: target('precious'), clean: true, decrypt: undefined, tools, logger: silentLogger() }),
      /fails its sha256 check/,
    );
    assert.equal(await pg.psql('SELECT x FROM keep_me', 'precious'), '42');
    // With --jobs the archive is checked before pg_restore starts: the database is not touched either.
    await assert.rejects(
      restoreBackup({ store, key, prefix: PREFIX, target: target('precious'), clean: true, jobs: 2, decrypt: undefined, tools, logger: silentLogger() }),
      /fails its sha256 check/,
    );
    assert.equal(await pg.psql('SELECT x FROM keep_me', 'precious'), '42');
  });

  it('refuses a target database that does not exist unless asked to create it', async () => {
    await assert.rejects(
      restoreBackup({ store, key: plainKey, prefix: PREFIX, target: target('nowhere'), decrypt: undefined, tools, logger: silentLogger() }),
      /does not exist[\s\S]*--create/,
    );
  });

  it('stops on a flipped byte in an uncompressed dump (which would otherwise restore without error) and commits nothing', async () => {
    // Uncompressed: nothing but the hash can notice a changed digit in a row.
    const key = await takeBackup(pg, 'source db', store, { format: 'plain', compression: 'none', at: new Date('2026-01-03T03:00:00Z') });
    const body = await readObject(dir, key);
    const at = body.indexOf('name 250\t');
    assert.ok(at > 0);
    body[at + 5] = '9'.charCodeAt(0);
    await writeObject(dir, key, body);
    await pg.createDatabase('flipped');
    await assert.rejects(
      restoreBackup({ store, key, prefix: PREFIX, target: target('flipped'), decrypt: undefined, tools, logger: silentLogger() }),
      (error: unknown) => error instanceof RestoreError && /fails its sha256 check/.test(error.message),
    );
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'customers'", 'flipped'), '0', 'the transaction was rolled back');
    // Without its manifest the same object restores "fine", with the wrong data: only the hash saw it.
    await store.delete([manifestKey(key)]);
    await restoreBackup({ store, key, prefix: PREFIX, target: target('flipped'), decrypt: undefined, tools, logger: silentLogger() });
    assert.equal(await pg.psql('SELECT count(*) FROM customers WHERE id = 250 AND name = \'name 950\'', 'flipped'), '1');
  });

  it('keeps a dump with large objects in one transaction although pg_dump writes its own BEGIN/COMMIT around them', async () => {
    await pg.createDatabase('blobs');
    await pg.psql("CREATE TABLE docs (id int PRIMARY KEY, body oid); INSERT INTO docs VALUES (1, lo_from_bytea(0, 'large object body'));", 'blobs');
    const key = await takeBackup(pg, 'blobs', store, { format: 'plain', compression: 'none', at: new Date('2026-01-06T03:00:00Z') });
    const intact = await readObject(dir, key);
    assert.match(intact.toString(), /\nBEGIN;\n[\s\S]*lo_open[\s\S]*\nCOMMIT;\n/);
    await restoreBackup({ store, key, prefix: PREFIX, target: target('blobs copy'), create: true, decrypt: undefined, tools, logger: silentLogger() });
    assert.equal(await pg.psql("SELECT convert_from(lo_get(body), 'UTF8') FROM docs", 'blobs copy'), 'large object body');
    // A damaged byte near the end: found only after the large objects' own COMMIT has gone by.
    const damaged = Buffer.from(intact);
    damaged[damaged.length - 200] = (damaged[damaged.length - 200] ?? 0) ^ 0x20;
    await writeObject(dir, key, damaged);
    await pg.createDatabase('blobs damaged');
    // Serve the object in two parts, the rest only once psql has run everything up to the large objects'
    // COMMIT line and waits for more (its last statement the lo_close before that line, or the COMMIT had
    // it reached the server): had that COMMIT reached the server, the tables and rows before it would stay.
    const split = damaged.indexOf('\nCOMMIT;\n') + '\nCOMMIT;\n'.length;
    const waitingForMore =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = 'blobs damaged' AND state IN ('idle', 'idle in transaction') AND (query ILIKE '%lo_close%' OR query ILIKE 'COMMIT%')";
    const paused: BackupStore = {
      ...faultyStore('stall'),
      async get(k) {
        if (k !== key) return await store.get(k);
        const body = new Readable({ read() {} });
        body.push(damaged.subarray(0, split));
        waitFor(async () => (await pg.psql(waitingForMore)) === '1', 'psql to have run the dump up to the large objects\' COMMIT', { timeoutMs: 20_000 }).then(
          () => {
            body.push(damaged.subarray(split));
            body.push(null);
          },
          (error: unknown) => body.destroy(error as Error),
        );
        return body;
      },
    };
    await assert.rejects(
      restoreBackup({ store: paused, key, prefix: PREFIX, target: target('blobs damaged'), decrypt: undefined, tools, logger: silentLogger() }),
      /fails its sha256 check/,
    );
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'docs'", 'blobs damaged'), '0');
    assert.equal(await pg.psql('SELECT count(*) FROM pg_largeobject_metadata', 'blobs damaged'), '0');
  });

  it('stops on a truncated gzip object, names the truncation, and leaves the database untouched', async () => {
    const key = await takeBackup(pg, 'source db', store, { format: 'plain', compression: 'gzip', at: new Date('2026-01-04T03:00:00Z') });
    const body = await readObject(dir, key);
    await writeObject(dir, key, body.subarray(0, Math.floor(body.length * 0.8)));
    await pg.createDatabase('truncated');
    await assert.rejects(
      restoreBackup({ store, key, prefix: PREFIX, target: target('truncated'), decrypt: undefined, tools, logger: silentLogger() }),
      /is truncated: .* stored, .* in its manifest/,
    );
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'customers'", 'truncated'), '0');
  });
});
