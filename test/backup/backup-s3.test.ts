import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Location, S3Settings } from '../../src/config/types.ts';
import { Secret } from '../../src/config/secret.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import { META, parseManifest } from '../../src/backup/manifest.ts';
import { manifestKey } from '../../src/core/naming.ts';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { backupSettings, createSampleData, decompress, download, fingerprint, restoreInto } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const location: Location = { subfolder: '', prefix: 'db_' };
const MiB = 1024 * 1024;

describe('a backup to S3-compatible storage', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let seconds = 0;
  const clock = () => new Date(Date.UTC(2026, 1, 1, 3, 0, seconds++));

  const settings = (overrides: Partial<S3Settings> = {}): S3Settings => ({
    kind: 's3',
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: 'auto',
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: new Secret(s3.secretAccessKey),
    objectLock: false,
    ...overrides,
  });
  // 1 MiB parts (s3rver takes parts under S3's 5 MiB minimum): a few MiB of dump make a multipart upload.
  const storeOf = (overrides: Partial<S3Settings> = {}, options: S3StoreOptions = {}) =>
    new S3Store(settings(overrides), { partSize: MiB, tuning: { maxAttempts: 1, connectionTimeoutMs: 2000 }, ...options });

  before(async () => {
    [pg, s3] = await Promise.all([startPgCluster(), startS3Server()]);
    proxy = await startTcpProxy(s3.port);
    await pg.createDatabase('app');
    await createSampleData(pg, 'app', 1000);
    // About 5 MB of plain dump: several 1 MiB parts.
    await pg.createDatabase('big');
    await pg.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) || md5((i * 3)::text) AS body FROM generate_series(1, 50000) i`, 'big');
  });
  after(async () => {
    await proxy?.close();
    await Promise.all([pg?.stop(), s3?.close()]);
  });

  it('stores the object with metadata and a manifest, and restores to equal data', async () => {
    const store = storeOf();
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('app'), { compression: { algorithm: 'zstd', level: undefined } }), location, store, logger: captureLogs().logger, clock },
      { runId: 's3-ok', trigger: 'manual' },
    );
    assert.equal(result.status, 'success', result.status === 'failed' ? result.error.message : '');
    assert.ok(result.status === 'success');
    assert.match(result.key, /^db_2026-02-01_03-00-\d\d\.sql\.zst$/);
    const head = await store.head(result.key);
    assert.ok(head);
    assert.equal(head.metadata[META.compression], 'zstd');
    assert.equal(head.metadata[META.database], 'app');
    assert.equal(head.metadata[META.runId], 's3-ok');
    const stored = await download(store, result.key);
    const manifest = parseManifest((await download(store, manifestKey(result.key))).toString());
    assert.equal(manifest?.sha256, createHash('sha256').update(stored).digest('hex'));
    await restoreInto(pg, 'app restored', await decompress(stored, { algorithm: 'zstd', level: undefined }), 'plain');
    assert.equal(await fingerprint(pg, 'app restored'), await fingerprint(pg, 'app'));
  });

  it('uploads a dump larger than one part as a multipart upload', async () => {
    const store = storeOf();
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('big'), { compression: { algorithm: 'none', level: undefined } }), location, store, logger: captureLogs().logger, clock },
      { runId: 's3-multi', trigger: 'manual' },
    );
    assert.ok(result.status === 'success', result.status === 'failed' ? result.error.message : '');
    assert.ok(result.manifest.parts >= 3, `parts: ${result.manifest.parts}`);
    assert.equal((await store.head(result.key))?.size, result.manifest.size);
  });

  it('aborts the upload and leaves no object or parts when the connection to S3 is cut mid-upload', async () => {
    const store = storeOf({ endpoint: proxy.endpoint });
    const keysBefore = (await store.list('')).map((o) => o.key);
    proxy.cutAfterUpBytes(1.5 * MiB);
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('big'), { compression: { algorithm: 'none', level: undefined } }), location, store, logger: captureLogs().logger, clock },
      { runId: 's3-cut', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed', 'the backup failed');
    assert.equal(result.stage, 'upload');
    assert.match(result.shortMessage, /^upload to s3:\/\/test-backups.* failed \[Network\]/);
    assert.deepEqual((await store.list('')).map((o) => o.key), keysBefore, 'no new object');
    assert.deepEqual(await s3.pendingUploads(), [], 'no multipart upload left');
  });

  it('says the credentials are wrong when the access key is unknown', async () => {
    const store = storeOf({ accessKeyId: 'WRONGKEY', secretAccessKey: new Secret('wrong') });
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('app')), location, store, logger: captureLogs().logger, clock },
      { runId: 's3-creds', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed');
    assert.equal(result.stage, 'upload');
    assert.match(result.shortMessage, /^storage s3:\/\/.* failed \[(InvalidCredentials|AccessDenied)\]/);
    assert.match(result.error.hint ?? '', /AWS_ACCESS_KEY_ID|credential/i);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('says the bucket does not exist when it is missing', async () => {
    const store = storeOf({ bucket: 'no-such-bucket' });
    const result = await runBackupJob(
      { settings: backupSettings(pg.url('app')), location, store, logger: captureLogs().logger, clock },
      { runId: 's3-bucket', trigger: 'manual' },
    );
    assert.ok(result.status === 'failed');
    assert.equal(result.stage, 'upload');
    assert.match(result.shortMessage, /^(storage|upload to) s3:\/\/no-such-bucket.* failed \[NoSuchBucket\]: .*does not exist/);
    assert.match(result.error.hint ?? '', /AWS_S3_BUCKET/);
  });
});
