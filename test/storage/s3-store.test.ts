import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { S3Settings } from '../../src/config/types.ts';
import { Secret } from '../../src/config/secret.ts';
import { StorageError } from '../../src/errors.ts';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.ts';
import { freePort } from '../helpers/free-port.ts';
import { startConditionalProxy } from '../helpers/conditional-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { bytes, readAll, runStoreContract, sha256 } from './store-contract.ts';

const MiB = 1024 * 1024;
const SECRET = 'very-secret-key-that-must-never-show';

function settingsFor(s3: { bucket: string; endpoint: string }, overrides: Partial<S3Settings> = {}): S3Settings {
  return {
    kind: 's3',
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: 'auto',
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: new Secret(SECRET),
    objectLock: false,
    ...overrides,
  };
}

// 1 MiB parts, so that a few MiB of data exercise multipart uploads. S3 refuses parts under 5 MiB (but
// the last); s3rver takes them, and the store's code is the same whatever the part size.
const PART = MiB;
const SMALL_PARTS: S3StoreOptions = { partSize: PART };
// A size in parts, in whole bytes.
const parts = (count: number): number => Math.round(count * PART);

// s3rver ignores If-None-Match / If-Match: the conditional-request double in front of it answers those
// as S3 and R2 do (test/helpers/conditional-proxy.ts); everything else reaches s3rver unchanged.
runStoreContract('S3Store on s3rver', async () => {
  const s3 = await startS3Server();
  const proxy = await startConditionalProxy(s3);
  return {
    store: new S3Store(settingsFor({ bucket: s3.bucket, endpoint: proxy.endpoint }), SMALL_PARTS),
    leftovers: async () => (await s3.pendingUploads()).map((u) => `multipart upload ${u.uploadId} of ${u.key}`),
    close: async () => {
      await proxy.close();
      await s3.close();
    },
  };
});

// A stream of `size` bytes in chunks of a quarter part, produced as it is read.
function generated(size: number, seed = 3): { stream: Readable; sha256: () => string } {
  const all = bytes(size, seed);
  const chunk = PART / 4;
  return { stream: Readable.from((function* () {
    for (let at = 0; at < size; at += chunk) yield all.subarray(at, Math.min(size, at + chunk));
  })()), sha256: () => sha256(all) };
}

function assertStorageError(code: StorageError['code'], ...patterns: RegExp[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof StorageError, `expected StorageError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const pattern of patterns) assert.match(error.message, pattern);
    const everything = `${error.message}\n${error.stack ?? ''}\n${JSON.stringify(error)}`;
    assert.ok(!everything.includes(SECRET), 'the secret key leaked into the error');
    return true;
  };
}

describe('S3Store', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server({ extraBuckets: ['locked-bucket'] });
  });
  after(async () => {
    await s3?.close();
  });

  it('uploads a stream larger than a part as a multipart upload, intact, and reports the parts', async () => {
    const store = new S3Store(settingsFor(s3), SMALL_PARTS);
    const body = generated(parts(2.4) + 123);
    const result = await store.put('s3/multi/big.sql.zst', body.stream, { metadata: { sha256: body.sha256() } });
    assert.deepEqual(result, { key: 's3/multi/big.sql.zst', size: parts(2.4) + 123, parts: 3 });
    assert.equal(sha256(await readAll(await store.get('s3/multi/big.sql.zst'))), body.sha256());
    assert.equal((await store.head('s3/multi/big.sql.zst'))?.metadata['sha256'], body.sha256());
    const partRequests = s3.requests.filter((r) => r.method === 'PUT' && r.url.includes('s3/multi/big.sql.zst') && r.url.includes('partNumber='));
    assert.equal(partRequests.length, 3);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('sends no checksum headers by default (R2 broke on the SDK default CRC32) and SHA-256 with object lock', async () => {
    const plain = new S3Store(settingsFor(s3), SMALL_PARTS);
    const locked = new S3Store(settingsFor(s3, { objectLock: true }), SMALL_PARTS);
    await plain.put('s3/checksum/plain.sql', generated(parts(1.2)).stream);
    await locked.put('s3/checksum/locked.sql', generated(parts(1.2)).stream);
    await locked.put('s3/checksum/locked-small.sql', Readable.from([Buffer.from('tiny')]));
    const checksumHeaders = (key: string): string[][] =>
      s3.requests
        .filter((r) => r.method === 'PUT' && r.url.includes(key))
        .map((r) => Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm'));
    assert.deepEqual(checksumHeaders('plain.sql'), [[], []]);
    for (const key of ['locked.sql', 'locked-small.sql']) {
      const sent = checksumHeaders(key);
      assert.ok(sent.length > 0);
      for (const headers of sent) assert.ok(headers.includes('x-amz-checksum-sha256'), `${key}: ${headers.join(',')}`);
    }
    assert.equal(sha256(await readAll(await locked.get('s3/checksum/locked-small.sql'))), sha256(Buffer.from('tiny')));
  });

  it('deletes in batches of 1,000 with Content-MD5 (which DeleteObjects requires) and no CRC32 header', async () => {
    const store = new S3Store(settingsFor(s3), SMALL_PARTS);
    const keys = Array.from({ length: 1_001 }, (_, i) => `s3/batch/k${String(i).padStart(4, '0')}.sql`);
    for (const key of [keys[0], keys[999], keys[1000]]) await store.put(key ?? '', Readable.from([Buffer.from('x')]));
    const before = s3.requests.length;
    await store.delete(keys);
    const deletes = s3.requests.slice(before).filter((r) => r.method === 'POST' && r.url.includes('?delete'));
    assert.equal(deletes.length, 2);
    for (const request of deletes) {
      assert.ok(request.headers['content-md5'], 'Content-MD5 missing');
      assert.deepEqual(Object.keys(request.headers).filter((h) => h.startsWith('x-amz-checksum-')), []);
    }
    assert.deepEqual(await store.list('s3/batch/'), []);
  });

  it('pages through listings longer than one ListObjectsV2 page (1,000 keys)', async () => {
    const store = new S3Store(settingsFor(s3), SMALL_PARTS);
    const keys = Array.from({ length: 1_005 }, (_, i) => `s3/pages/p${String(i).padStart(4, '0')}.sql`);
    await s3.seed(keys.map((key, i) => ({ key, body: `p${i}` })));
    const before = s3.requests.length;
    const listed = await store.list('s3/pages/');
    assert.deepEqual(listed.map((o) => o.key), keys);
    assert.equal(listed[1004]?.size, 5);
    assert.equal(s3.requests.slice(before).filter((r) => r.method === 'GET').length, 2);
    const tail = await store.list('s3/pages/', { startAfter: keys[1001] ?? '' });
    assert.deepEqual(tail.map((o) => o.key), keys.slice(1002));
  });

  it("reports LastModified that the test server's backdate() sets", async () => {
    const store = new S3Store(settingsFor(s3), SMALL_PARTS);
    await store.put('s3/dated/old.sql.gz', Readable.from([Buffer.from('old')]));
    const when = new Date('2025-03-04T03:00:00Z');
    await s3.backdate('s3/dated/old.sql.gz', when);
    assert.equal((await store.list('s3/dated/'))[0]?.lastModified.toISOString(), when.toISOString());
    assert.equal((await store.head('s3/dated/old.sql.gz'))?.lastModified.toISOString(), when.toISOString());
  });

  it('aborts the multipart upload when the put is aborted after parts were uploaded', async () => {
    const store = new S3Store(settingsFor(s3), SMALL_PARTS);
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push(bytes(parts(2.2)));
    const put = store.put('s3/abort/after-parts.sql', body, {
      signal: controller.signal,
      onProgress: (loaded) => {
        if (loaded >= PART) controller.abort(new Error('SIGTERM'));
      },
    });
    await assert.rejects(put, assertStorageError('Aborted', /nothing was stored/));
    assert.ok(s3.requests.some((r) => r.url.includes('s3/abort/after-parts.sql?uploads')), 'no multipart upload was started');
    assert.equal(await store.head('s3/abort/after-parts.sql'), undefined);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('says that the bucket does not exist, naming it and AWS_S3_BUCKET', async () => {
    const store = new S3Store(settingsFor(s3, { bucket: 'no-such-bucket' }), SMALL_PARTS);
    await assert.rejects(store.list('x/'), assertStorageError('NoSuchBucket', /no-such-bucket/, /AWS_S3_BUCKET/));
    await assert.rejects(
      store.put('x/a.sql', generated(parts(1.2)).stream),
      assertStorageError('NoSuchBucket', /no-such-bucket/),
    );
    await assert.rejects(store.delete(['x/a.sql']), assertStorageError('NoSuchBucket'));
    // More than a part, and never ended: the failure, not the end of the data, must release it.
    const body = new Readable({ read() {} });
    body.push(bytes(parts(1.2)));
    // A pipeline listening on the body learns of the storage failure from the body itself, first.
    const seen: unknown[] = [];
    body.on('error', (error) => seen.push(error));
    await assert.rejects(store.put('x/b.sql', body), assertStorageError('NoSuchBucket'));
    assert.ok(body.destroyed, 'the body stream of a failed put was left open');
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof StorageError && seen[0].code === 'NoSuchBucket', String(seen[0]));
  });

  it('says that the credentials were rejected, naming the variables and never the secret', async () => {
    const store = new S3Store(settingsFor(s3, { accessKeyId: 'WRONG-KEY-ID' }), SMALL_PARTS);
    await assert.rejects(store.list('x/'), assertStorageError('InvalidCredentials', /AWS_ACCESS_KEY_ID/, /AWS_SECRET_ACCESS_KEY/, /test-backups/));
    await assert.rejects(store.put('x/a.sql', Readable.from([Buffer.from('a')])), assertStorageError('InvalidCredentials'));
    await assert.rejects(store.get('x/a.sql'), assertStorageError('InvalidCredentials'));
    // A HEAD answer has no body: the store asks again with a GET to tell an unknown key id from a denial.
    await assert.rejects(store.head('x/a.sql'), assertStorageError('InvalidCredentials', /InvalidAccessKeyId/, /does not know the key in AWS_ACCESS_KEY_ID/));
  });

  it('fails fast with a Network error when nothing listens at the endpoint', async () => {
    const port = await freePort();
    const store = new S3Store(settingsFor({ bucket: 'test-backups', endpoint: `http://127.0.0.1:${port}` }), SMALL_PARTS);
    const started = Date.now();
    await assert.rejects(store.list('x/'), assertStorageError('Network', new RegExp(`127\\.0\\.0\\.1:${port}`), /AWS_S3_ENDPOINT/));
    await assert.rejects(store.put('x/a.sql', Readable.from([Buffer.from('a')])), assertStorageError('Network'));
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
  });

  describe('through a TCP proxy that fails mid-upload', () => {
    let proxy: TcpProxy;
    before(async () => {
      proxy = await startTcpProxy(s3.port);
    });
    after(async () => {
      await proxy?.close();
    });

    it('retries a part whose connection was cut once, and the object is complete and intact', async () => {
      proxy.restore();
      const store = new S3Store(settingsFor({ bucket: s3.bucket, endpoint: proxy.endpoint }), SMALL_PARTS);
      const body = generated(parts(2.4), 11);
      proxy.cutAfterUpBytes(parts(1.2));
      const result = await store.put('s3/proxy/survives-cut.sql', body.stream);
      assert.equal(result.size, parts(2.4));
      assert.equal(sha256(await readAll(await store.get('s3/proxy/survives-cut.sql'))), body.sha256());
      assert.ok(proxy.connectionsAccepted > 1, 'the cut did not force a new connection');
      assert.deepEqual(await s3.pendingUploads(), []);
    });

    it('aborts the upload when a part fails for good: no object, no multipart upload left', async () => {
      proxy.restore();
      // One attempt per request, so the cut part fails for good; the abort then goes through.
      const store = new S3Store(settingsFor({ bucket: s3.bucket, endpoint: proxy.endpoint }), {
        ...SMALL_PARTS,
        tuning: { maxAttempts: 1 },
      });
      proxy.cutAfterUpBytes(parts(1.2));
      await assert.rejects(
        store.put('s3/proxy/cut.sql', generated(parts(3.2), 5).stream),
        assertStorageError('Network', /s3\/proxy\/cut\.sql/),
      );
      assert.ok(s3.requests.some((r) => r.url.includes('s3/proxy/cut.sql?uploads')), 'no multipart upload was started');
      assert.equal(await store.head('s3/proxy/cut.sql'), undefined);
      assert.deepEqual(await s3.pendingUploads(), []);
    });

    it('fails with a Network error, and says parts may remain, when the endpoint goes down mid-upload', async () => {
      proxy.restore();
      const store = new S3Store(settingsFor({ bucket: s3.bucket, endpoint: proxy.endpoint }), {
        ...SMALL_PARTS,
        tuning: { maxAttempts: 2 },
      });
      const body = new Readable({ read() {} });
      body.push(bytes(parts(1.2)));
      let downed = false;
      const started = Date.now();
      const leftovers: unknown[] = [];
      const put = store.put('s3/proxy/down.sql', body, {
        onLeftover: (upload) => leftovers.push(upload),
        onProgress: (loaded) => {
          if (loaded >= PART && !downed) {
            downed = true;
            proxy.down();
            body.push(bytes(parts(1.2), 9));
            body.push(null);
          }
        },
      });
      await assert.rejects(put, assertStorageError('Network', /could not be aborted/, /lifecycle/));
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
      proxy.restore();
      assert.equal(await store.head('s3/proxy/down.sql'), undefined);
      // The server still holds the parts: only a lifecycle rule (or a later abort) removes them.
      const pending = await s3.pendingUploads();
      assert.deepEqual(pending.map((u) => u.key), ['s3/proxy/down.sql']);
      // The caller learns which upload is left, whatever error put rejects with.
      assert.deepEqual(leftovers, [{ key: 's3/proxy/down.sql', uploadId: pending[0]?.uploadId }]);
      await store.client.send(
        new (await import('@aws-sdk/client-s3')).AbortMultipartUploadCommand({
          Bucket: s3.bucket,
          Key: 's3/proxy/down.sql',
          UploadId: pending[0]?.uploadId ?? '',
        }),
      );
      assert.deepEqual(await s3.pendingUploads(), []);
    });

    it('gives up on a stalled connection after the idle timeout instead of hanging', async () => {
      proxy.restore();
      const store = new S3Store(settingsFor({ bucket: s3.bucket, endpoint: proxy.endpoint }), {
        ...SMALL_PARTS,
        tuning: { maxAttempts: 1, socketTimeoutMs: 1_000 },
      });
      proxy.stall();
      const started = Date.now();
      await assert.rejects(store.list('s3/'), assertStorageError('Network'));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 900 && elapsed < 8_000, `took ${elapsed} ms`);
      proxy.restore();
    });
  });
});
