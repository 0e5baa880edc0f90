import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StorageError } from '../../src/errors.ts';
import type { BackupStore, ConditionalStore } from '../../src/storage/store.ts';

// One storage under test, with a way to see state a failed put may have left (temp files, open
// multipart uploads) that listing does not show.
export interface StoreFixture {
  store: BackupStore & ConditionalStore;
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

export function bytes(size: number, seed = 1): Buffer {
  const buffer = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    // xorshift: incompressible, reproducible content
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buffer.writeInt32LE(x | 0, Math.min(i, size - 4));
  }
  return buffer;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// A body of `before` bytes (in 1 MiB chunks) that then calls onStuck and sends nothing more, never
// ending by itself (like a pg_dump that hangs).
function stuckBody(before: number, onStuck: () => void): Readable {
  const body = new Readable({ read() {} });
  for (let sent = 0; sent < before; sent += MiB) body.push(bytes(Math.min(MiB, before - sent), sent + 1));
  onStuck();
  return body;
}

// A body of `before` bytes that then fails, as a pg_dump pipeline fails mid-stream.
function failingBody(before: number, error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < before; sent += MiB) yield bytes(Math.min(MiB, before - sent), sent + 7);
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw error;
    })(),
  );
}

// The BackupStore contract: every implementation passes the same tests.
export function runStoreContract(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`${name} (BackupStore contract)`, () => {
    let fixture: StoreFixture;
    let store: BackupStore & ConditionalStore;
    before(async () => {
      fixture = await makeFixture();
      store = fixture.store;
    });
    after(async () => {
      await fixture?.close();
    });

    it('stores a stream and gives back the same bytes, size and metadata', async () => {
      const data = bytes(300_000);
      const result = await store.put('contract/put/a.sql.gz', Readable.from([data]), {
        metadata: { Sha256: sha256(data), 'uncompressed-size': '123' },
        contentType: 'application/gzip',
      });
      assert.deepEqual(result, { key: 'contract/put/a.sql.gz', size: data.length, parts: 1 });
      const head = await store.head('contract/put/a.sql.gz');
      assert.ok(head);
      assert.equal(head.size, data.length);
      assert.deepEqual(head.metadata, { sha256: sha256(data), 'uncompressed-size': '123' });
      assert.ok(Math.abs(head.lastModified.getTime() - Date.now()) < 60_000, `lastModified ${head.lastModified.toISOString()}`);
      assert.equal(sha256(await readAll(await store.get('contract/put/a.sql.gz'))), sha256(data));
    });

    it('stores an empty stream as an empty object', async () => {
      const result = await store.put('contract/empty/e.sql', Readable.from([]));
      assert.equal(result.size, 0);
      assert.equal((await store.head('contract/empty/e.sql'))?.size, 0);
      assert.equal((await readAll(await store.get('contract/empty/e.sql'))).length, 0);
    });

    it('replaces an object and its metadata when the same key is written again', async () => {
      await store.put('contract/replace/r.sql', Readable.from([Buffer.from('first')]), { metadata: { v: '1', old: 'x' } });
      await store.put('contract/replace/r.sql', Readable.from([Buffer.from('second!')]), { metadata: { v: '2' } });
      const head = await store.head('contract/replace/r.sql');
      assert.equal(head?.size, 7);
      assert.deepEqual(head?.metadata, { v: '2' });
      assert.equal((await readAll(await store.get('contract/replace/r.sql'))).toString(), 'second!');
      assert.deepEqual((await store.list('contract/replace/')).map((o) => o.key), ['contract/replace/r.sql']);
    });

    it('reports upload progress up to the whole size', async () => {
      const data = bytes(2 * MiB + 5);
      const seen: number[] = [];
      await store.put('contract/progress/p.sql', Readable.from([data.subarray(0, MiB), data.subarray(MiB)]), {
        onProgress: (n) => seen.push(n),
      });
      assert.ok(seen.length > 0, 'no progress reported');
      assert.equal(seen.at(-1), data.length);
    });

    it('lists keys under a prefix sorted by key, with sizes, including nested folders', async () => {
      const keys = [
        'contract/list/db_2026-01-03_03-00-00.sql.gz',
        'contract/list/db_2026-01-01_03-00-00.sql.gz',
        'contract/list/db_2026-01-02_03-00-00.sql.gz',
        'contract/list/db_2026-01-02_03-00-00.sql.gz.manifest.json',
        'contract/list/nested/db_2026-01-01_00-00-00.sql',
        'contract/list/other_2026-01-01_03-00-00.sql.gz',
        'contract/listing-sibling/x.sql',
      ];
      for (const [i, key] of keys.entries()) await store.put(key, Readable.from([Buffer.alloc(i + 1, 1)]));
      const all = await store.list('contract/list/');
      assert.deepEqual(
        all.map((o) => o.key),
        [
          'contract/list/db_2026-01-01_03-00-00.sql.gz',
          'contract/list/db_2026-01-02_03-00-00.sql.gz',
          'contract/list/db_2026-01-02_03-00-00.sql.gz.manifest.json',
          'contract/list/db_2026-01-03_03-00-00.sql.gz',
          'contract/list/nested/db_2026-01-01_00-00-00.sql',
          'contract/list/other_2026-01-01_03-00-00.sql.gz',
        ],
      );
      assert.equal(all[0]?.size, 2);
      assert.ok(all.every((o) => o.lastModified instanceof Date && !Number.isNaN(o.lastModified.getTime())));
      // A prefix that ends inside a file name, as BACKUP_FILE_PREFIX does.
      assert.deepEqual(
        (await store.list('contract/list/db_2026-01-0')).map((o) => o.key),
        [
          'contract/list/db_2026-01-01_03-00-00.sql.gz',
          'contract/list/db_2026-01-02_03-00-00.sql.gz',
          'contract/list/db_2026-01-02_03-00-00.sql.gz.manifest.json',
          'contract/list/db_2026-01-03_03-00-00.sql.gz',
        ],
      );
      assert.deepEqual(
        (await store.list('contract/list')).map((o) => o.key).filter((k) => k.includes('sibling')),
        ['contract/listing-sibling/x.sql'],
      );
      assert.deepEqual(await store.list('contract/nothing-here/'), []);
    });

    it('lists only keys after startAfter', async () => {
      const prefix = 'contract/after/b_';
      for (const day of ['01', '02', '03', '04']) await store.put(`${prefix}2026-02-${day}.sql`, Readable.from([Buffer.from(day)]));
      const later = await store.list(prefix, { startAfter: `${prefix}2026-02-02.sql` });
      assert.deepEqual(later.map((o) => o.key), [`${prefix}2026-02-03.sql`, `${prefix}2026-02-04.sql`]);
      // startAfter need not be an existing key.
      const fromGap = await store.list(prefix, { startAfter: `${prefix}2026-02-03` });
      assert.deepEqual(fromGap.map((o) => o.key), [`${prefix}2026-02-03.sql`, `${prefix}2026-02-04.sql`]);
      assert.deepEqual(await store.list(prefix, { startAfter: `${prefix}2026-02-04.sql` }), []);
    });

    it('answers undefined to head and NoSuchKey to get for a missing object', async () => {
      assert.equal(await store.head('contract/missing/nothing.sql'), undefined);
      await assert.rejects(store.get('contract/missing/nothing.sql'), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.equal(error.code, 'NoSuchKey');
        assert.match(error.message, /contract\/missing\/nothing\.sql/);
        return true;
      });
    });

    it('deletes the given keys and ignores keys that do not exist', async () => {
      for (const k of ['a', 'b', 'c']) await store.put(`contract/delete/${k}.sql`, Readable.from([Buffer.from(k)]));
      await store.delete(['contract/delete/a.sql', 'contract/delete/c.sql', 'contract/delete/never-was.sql']);
      assert.deepEqual((await store.list('contract/delete/')).map((o) => o.key), ['contract/delete/b.sql']);
      assert.equal(await store.head('contract/delete/a.sql'), undefined);
      await store.delete([]);
      await store.delete(['contract/delete/b.sql']);
      assert.deepEqual(await store.list('contract/delete/'), []);
    });

    it('leaves no object behind when the body stream fails, and rethrows the stream error', async () => {
      const boom = new Error('pg_dump exited with code 1');
      await assert.rejects(
        store.put('contract/fail/f.sql.gz', failingBody(7 * MiB, boom)),
        (error: unknown) => error === boom,
      );
      assert.equal(await store.head('contract/fail/f.sql.gz'), undefined);
      assert.deepEqual(await store.list('contract/fail/'), []);
      assert.deepEqual(await fixture.leftovers(), []);
    });

    it('leaves no object behind when the put is aborted mid-stream', async () => {
      const controller = new AbortController();
      const started = Date.now();
      const put = store.put(
        'contract/abort/x.sql.gz',
        stuckBody(7 * MiB, () => setTimeout(() => controller.abort(new Error('shutting down')), 50)),
        { signal: controller.signal },
      );
      await assert.rejects(put, (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.equal(error.code, 'Aborted');
        return true;
      });
      assert.ok(Date.now() - started < 10_000, `abort took ${Date.now() - started} ms`);
      assert.equal(await store.head('contract/abort/x.sql.gz'), undefined);
      assert.deepEqual(await fixture.leftovers(), []);
    });

    it('stores nothing, and releases the body, when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      const body = new Readable({ read() {} });
      body.push(Buffer.from('x'));
      await assert.rejects(store.put('contract/abort/pre.sql', body, { signal: controller.signal }), { name: 'StorageError' });
      assert.equal(await store.head('contract/abort/pre.sql'), undefined);
      assert.ok(body.destroyed, 'the body stream was left open (its producer would block forever)');
    });
    it('creates an object with If-None-Match only once: a second create is refused', async () => {
      const key = 'contract/cas/create.json';
      const first = await store.putConditional(key, Buffer.from('{"holder":"a"}'), { ifNoneMatch: '*' });
      assert.ok(first, 'the first create was refused');
      assert.equal(await store.putConditional(key, Buffer.from('{"holder":"b"}'), { ifNoneMatch: '*' }), undefined);
      const read = await store.readVersioned(key);
      assert.equal(read?.body.toString(), '{"holder":"a"}');
      assert.equal(read?.etag, first.etag);
    });

    it('replaces an object with If-Match only while its etag is the one read', async () => {
      const key = 'contract/cas/replace.json';
      const created = await store.putConditional(key, Buffer.from('v1'), { ifNoneMatch: '*' });
      assert.ok(created);
      const second = await store.putConditional(key, Buffer.from('v2'), { ifMatch: created.etag });
      assert.ok(second, 'a write with the current etag was refused');
      assert.notEqual(second.etag, created.etag);
      // The etag read before the second write is stale now.
      assert.equal(await store.putConditional(key, Buffer.from('v3'), { ifMatch: created.etag }), undefined);
      assert.equal((await store.readVersioned(key))?.body.toString(), 'v2');
      assert.equal(await store.putConditional('contract/cas/never-was.json', Buffer.from('x'), { ifMatch: created.etag }), undefined);
      assert.equal(await store.readVersioned('contract/cas/never-was.json'), undefined);
    });

    it('of two racing creates exactly one wins', async () => {
      const key = 'contract/cas/race.json';
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((who) => store.putConditional(key, Buffer.from(who), { ifNoneMatch: '*' })),
      );
      assert.equal(results.filter((r) => r !== undefined).length, 1, JSON.stringify(results));
    });

    it('deletes with If-Match only the version read', async () => {
      const key = 'contract/cas/delete.json';
      const created = await store.putConditional(key, Buffer.from('mine'), { ifNoneMatch: '*' });
      assert.ok(created);
      const replaced = await store.putConditional(key, Buffer.from('theirs'), { ifMatch: created.etag });
      assert.ok(replaced);
      assert.equal(await store.deleteConditional(key, created.etag), false, 'deleted a version that was replaced');
      assert.equal((await store.readVersioned(key))?.body.toString(), 'theirs');
      assert.equal(await store.deleteConditional(key, replaced.etag), true);
      assert.equal(await store.readVersioned(key), undefined);
      assert.equal(await store.deleteConditional(key, replaced.etag), false);
      assert.deepEqual(await fixture.leftovers(), []);
    });
  });
}
