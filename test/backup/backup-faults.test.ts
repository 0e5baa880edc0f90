import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Location, S3Settings } from '../../src/config/types.ts';
import { Secret } from '../../src/config/secret.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { backupSettings, decompress, download } from './fixtures.ts';
import { createHash } from 'node:crypto';
import { parseManifest } from '../../src/backup/manifest.ts';
import { manifestKey } from '../../src/core/naming.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const location: Location = { subfolder: 'stall', prefix: 'db_' };
const MiB = 1024 * 1024;

describe('a backup against storage that fails, stalls or stops', () => {
  let cluster: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let faults: FaultHttpProxy;
  let seconds = 0;
  const clock = () => new Date(Date.UTC(2026, 2, 1, 3, 0, seconds++));
  const settings = (endpoint: string): S3Settings => ({
    kind: 's3',
    bucket: s3.bucket,
    endpoint,
    region: 'auto',
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: new Secret(s3.secretAccessKey),
    objectLock: false,
  });
  // 1 MiB parts: s3rver takes parts under S3's 5 MiB minimum, so a dump of a few MiB is many parts (the
  // size of the data is not what these tests are about, the stages and requests that fail are).
  const storeOf = (endpoint: string, options: S3StoreOptions = {}) => new S3Store(settings(endpoint), { partSize: MiB, ...options });

  before(async () => {
    [cluster, s3] = await Promise.all([startPgCluster(), startS3Server()]);
    proxy = await startTcpProxy(s3.port);
    faults = await startFaultHttpProxy(s3.port);
    // About 10 MB of plain dump: ten 1 MiB parts, more than the parts in flight and every buffer between
    // pg_dump and S3.
    await cluster.createDatabase('big');
    await cluster.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) || md5((i * 3)::text) AS body FROM generate_series(1, 100000) i`, 'big');
  });
  after(async () => {
    await proxy?.close();
    await faults?.close();
    await Promise.all([cluster?.stop(), s3?.close()]);
  });

  it('fails when the storage stalls mid-upload, naming the stage and BACKUP_STALL_TIMEOUT_MINUTES, reports the upload it could not abort, and frees the lock', { timeout: 90_000 }, async () => {
    proxy.restore();
    // Idle sockets are dropped only after 2 minutes here: only the stall deadline can end this run.
    const store = storeOf(proxy.endpoint, { tuning: { socketTimeoutMs: 120_000, connectionTimeoutMs: 2_000 }, cleanupTimeoutMs: 1_000 });
    // The storage stalls once the first part is stored, in that moment: a test polling for it could look
    // too late, when the whole dump (a few parts) has been uploaded.
    const put = store.put.bind(store);
    store.put = (key, body, options = {}) =>
      put(key, body, {
        ...options,
        onProgress: (loaded) => {
          if (loaded > 0) proxy.stall();
          options.onProgress?.(loaded);
        },
      });
    const logs = captureLogs();
    const started = Date.now();
    const run = runBackupJob(
      {
        settings: backupSettings(cluster.url('big'), { compression: { algorithm: 'none', level: undefined }, stallTimeoutMs: 2_400 }),
        location,
        store,
        // As for a set of SENTINEL_CONFIG that writes to one of several destinations: the leftover names it.
        destinations: [{ name: 'offsite', store }],
        logger: logs.logger,
        clock,
      },
      { runId: 'stalled-upload', trigger: 'manual' },
    );
    const result = await run;
    const elapsed = Date.now() - started;
    assert.ok(result.status === 'failed', `expected a failure, got ${result.status}`);
    assert.equal(result.stage, 'upload');
    assert.match(result.shortMessage, /stalled: no bytes stored for .* \(BACKUP_STALL_TIMEOUT_MINUTES=0\.04\)/);
    assert.match(result.error.hint ?? '', /storage endpoint stopped accepting data/);
    assert.ok(elapsed < 30_000, `took ${elapsed} ms`);
    // The abort could not get through either: the result, its one-line message and the log say which upload is left.
    assert.ok(result.leftoverUpload, 'no leftover upload reported');
    assert.match(result.shortMessage, new RegExp(`multipart upload ${result.leftoverUpload.uploadId} could not be removed`));
    assert.equal(result.leftoverUpload.destination, 'offsite', 'the leftover names the destination it was left in, for that bucket\'s sweep');
    assert.ok(logs.records().some((l) => l.level === 40 && /made no progress/.test(String(l.msg))), 'no warning before the deadline');
    const failedLine = logs.records().find((l) => l.level === 50);
    assert.deepEqual(failedLine?.leftoverUpload, result.leftoverUpload);

    // The parts are really there (checked while the proxy still holds the timed-out abort: once it lets
    // go, that abort may still reach the server).
    const pending = await s3.pendingUploads();
    assert.deepEqual(pending.map((u) => u.uploadId), [result.leftoverUpload.uploadId]);
    // The advisory lock is free: the next run (storage reachable again) is not skipped and succeeds.
    proxy.restore();
    const next = await runBackupJob(
      { settings: backupSettings(cluster.url('big'), { stallTimeoutMs: 2_400 }), location, store: storeOf(s3.endpoint), logger: captureLogs().logger, clock },
      { runId: 'after-stall', trigger: 'manual' },
    );
    assert.equal(next.status, 'success', next.status === 'failed' ? next.error.message : next.status);
    await storeOf(s3.endpoint).abortIncompleteUpload(result.leftoverUpload);
  });

  it('fails when pg_dump sends nothing (waiting for a table lock), naming the stage and what to look at', { timeout: 60_000 }, async () => {
    const holder = new pg.Client({ connectionString: cluster.url('big') });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE blobs IN ACCESS EXCLUSIVE MODE');
      const store = storeOf(s3.endpoint);
      const keysBefore = (await store.list('stall/')).map((o) => o.key);
      const started = Date.now();
      const result = await runBackupJob(
        { settings: backupSettings(cluster.url('big'), { stallTimeoutMs: 1_800 }), location, store, logger: captureLogs().logger, clock },
        { runId: 'stalled-dump', trigger: 'manual' },
      );
      assert.ok(result.status === 'failed', `expected a failure, got ${result.status}`);
      assert.equal(result.stage, 'dump');
      assert.match(result.shortMessage, /pg_dump stalled: no data for .* \(BACKUP_STALL_TIMEOUT_MINUTES=0\.03\)/);
      assert.match(result.error.hint ?? '', /pg_locks/);
      assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
      assert.deepEqual((await store.list('stall/')).map((o) => o.key), keysBefore, 'no new object');
      assert.deepEqual(await s3.pendingUploads(), []);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  });

  it('succeeds, intact, when the storage answers 500 to every other request (and 5 times in a row to one part)', { timeout: 120_000 }, async () => {
    let part3 = 0;
    faults.failWhen(({ method, url, index }) => (method === 'PUT' && url.includes('partNumber=3&') ? ++part3 <= 5 : index % 2 === 1));
    try {
      const store = storeOf(faults.endpoint, { tuning: { retryBaseDelayMs: 50 } });
      const result = await runBackupJob(
        { settings: backupSettings(cluster.url('big'), { compression: { algorithm: 'none', level: undefined } }), location, store, logger: captureLogs().logger, clock },
        { runId: 'half-500', trigger: 'manual' },
      );
      assert.equal(result.status, 'success', result.status === 'failed' ? result.error.message : result.status);
      assert.ok(result.status === 'success');
      assert.ok(result.manifest.parts >= 6, `parts: ${result.manifest.parts}`);
      assert.ok(faults.requests.filter((r) => r.failedWith === 500).length >= 6, 'the double failed requests');
      faults.failWhen(undefined);
      const stored = await download(storeOf(s3.endpoint), result.key);
      const manifest = parseManifest((await download(storeOf(s3.endpoint), manifestKey(result.key))).toString());
      assert.equal(manifest?.sha256, createHash('sha256').update(stored).digest('hex'));
      assert.match((await decompress(stored, { algorithm: 'none', level: undefined })).subarray(0, 4096).toString(), /PostgreSQL database dump/);
      assert.deepEqual(await s3.pendingUploads(), []);
    } finally {
      faults.failWhen(undefined);
    }
  });

  it('reports the upload it leaves when the storage answers 500 to the parts and to the abort too', { timeout: 60_000 }, async () => {
    faults.failWhen(({ method, url }) => method === 'PUT' && url.includes('partNumber=') || (method === 'DELETE' && url.includes('uploadId=')));
    try {
      const store = storeOf(faults.endpoint, { tuning: { maxAttempts: 2, retryBaseDelayMs: 10 } });
      const logs = captureLogs();
      const result = await runBackupJob(
        { settings: backupSettings(cluster.url('big'), { compression: { algorithm: 'none', level: undefined } }), location, store, logger: logs.logger, clock },
        { runId: 'abort-500', trigger: 'manual' },
      );
      assert.ok(result.status === 'failed', `expected a failure, got ${result.status}`);
      assert.equal(result.stage, 'upload');
      assert.match(result.shortMessage, /S3 provider failed the request/);
      assert.match(result.error.hint ?? '', /provider's side, not your settings/);
      assert.ok(result.leftoverUpload, 'no leftover upload reported');
      assert.match(result.shortMessage, /could not be removed and stay billed until the daily sweep aborts them/);
      assert.deepEqual((await s3.pendingUploads()).map((u) => u.uploadId), [result.leftoverUpload.uploadId]);
      faults.failWhen(undefined);
      await storeOf(s3.endpoint).abortIncompleteUpload(result.leftoverUpload);
    } finally {
      faults.failWhen(undefined);
    }
  });
});
