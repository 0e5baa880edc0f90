import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { Registry } from 'prom-client';
import { Secret } from '../../src/config/secret.ts';
import type { S3Settings } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { selectUploadsToAbort } from '../../src/storage/upload-sweep.ts';
import { UploadSweeper } from '../../src/storage/upload-sweeper.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { sample } from '../helpers/metrics.ts';
import { OUTAGE_ATTEMPT_TIMEOUT_MS, stopOrRetry } from '../helpers/stop-or-retry.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DAY = 24 * 3600_000;

function settingsFor(bucket: string, endpoint: string): S3Settings {
  return { kind: 's3', bucket, endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false };
}

describe('selectUploadsToAbort', () => {
  const now = new Date('2026-03-02T12:00:00Z');
  const upload = (uploadId: string, ageMs: number) => ({ key: `db/${uploadId}`, uploadId, initiatedAt: new Date(now.getTime() - ageMs) });

  it('aborts uploads older than a day and those a failed run reported, never a young unknown one (a backup in progress)', () => {
    const uploads = [upload('stale', DAY + 1), upload('young', 60_000), upload('reported', 60_000), upload('day', DAY)];
    const chosen = selectUploadsToAbort(uploads, [{ key: 'db/reported', uploadId: 'reported' }], now).map((u) => u.uploadId);
    assert.deepEqual(chosen, ['stale', 'reported', 'day']);
  });
});

describe('the sweep of incomplete multipart uploads', () => {
  let s3: TestS3Server;
  let tcp: TcpProxy;
  let faults: FaultHttpProxy;
  before(async () => {
    s3 = await startS3Server();
    tcp = await startTcpProxy(s3.port);
    faults = await startFaultHttpProxy(s3.port);
  });
  after(async () => {
    await faults?.close();
    await tcp?.close();
    await s3?.close();
  });

  const direct = () => new S3Store(settingsFor(s3.bucket, s3.endpoint));
  // An upload with one small part, started and never completed, as a crashed or cut-off run leaves it.
  const leaveUpload = async (key: string, startedAgoMs = 0): Promise<string> => {
    const store = direct();
    const created = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
    const uploadId = created.UploadId ?? '';
    await store.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: Buffer.from('part one') }));
    if (startedAgoMs > 0) await s3.backdateUpload(uploadId, new Date(Date.now() - startedAgoMs));
    return uploadId;
  };
  const pendingIds = async () => (await s3.pendingUploads()).map((u) => u.uploadId).sort();

  it('aborts uploads under the prefix older than a day, keeps young ones and other prefixes, and counts them', async () => {
    const stale = await leaveUpload('db/db_2026-01-01_03-00-00.sql.gz', 2 * DAY);
    const young = await leaveUpload('db/db_2026-03-02_03-00-00.sql.gz');
    const elsewhere = await leaveUpload('other-tool/dump.sql.gz', 3 * DAY);
    const registry = new Registry();
    const sweeper = new UploadSweeper({ store: direct(), prefix: 'db/', logger: silentLogger(), registry });
    const state = await sweeper.sweep();
    assert.deepEqual(await pendingIds(), [young, elsewhere].sort(), `the stale upload ${stale} is aborted, nothing else`);
    assert.equal(state.incomplete, 1);
    assert.equal(state.abortedTotal, 1);
    assert.deepEqual(sweeper.findings(), []);
    const metrics = await registry.metrics();
    assert.equal(sample(metrics, 'backup_sentinel_incomplete_uploads'), 1);
    assert.equal(sample(metrics, 'backup_sentinel_incomplete_uploads_aborted_total'), 1);
    assert.equal(sample(metrics, 'backup_sentinel_incomplete_uploads_unremoved'), 0);
    await direct().abortIncompleteUpload({ key: 'db/db_2026-03-02_03-00-00.sql.gz', uploadId: young });
    await direct().abortIncompleteUpload({ key: 'other-tool/dump.sql.gz', uploadId: elsewhere });
  });

  it('reports an upload a failed run left at once, keeps reporting it while the storage is down, and aborts it when it is back', async () => {
    const key = 'db/db_2026-03-02_04-00-00.sql.gz';
    const left = await leaveUpload(key);
    const sweeper = new UploadSweeper({ store: new S3Store(settingsFor(s3.bucket, tcp.endpoint), { tuning: { maxAttempts: 1 } }), prefix: 'db/', logger: silentLogger() });
    sweeper.noteLeftover({ key, uploadId: left });
    const [finding] = sweeper.findings();
    assert.equal(finding?.check, 'incomplete_uploads');
    assert.equal(finding?.severity, 'warn');
    assert.match(finding?.summary ?? '', /1 incomplete multipart upload under .*db\/ could not be removed/);
    assert.equal(finding?.values.firstUploadId, left);

    tcp.down();
    await sweeper.sweep();
    assert.equal(sweeper.findings()[0]?.check, 'incomplete_uploads', 'still reported while the storage is down');
    assert.match(String(sweeper.findings()[0]?.values.lastError), /unreachable/);
    tcp.restore();
    const state = await sweeper.sweep();
    assert.deepEqual(await pendingIds(), []);
    assert.equal(state.abortedTotal, 1);
    assert.deepEqual(sweeper.findings(), [], 'resolved once aborted');
    assert.equal(sweeper.hasLeftovers(), false);
  });

  it('keeps a finding for a stale upload whose abort the storage answers with 500', async () => {
    const stale = await leaveUpload('db/db_2026-01-02_03-00-00.sql.gz', 2 * DAY);
    const sweeper = new UploadSweeper({ store: new S3Store(settingsFor(s3.bucket, faults.endpoint), { tuning: { maxAttempts: 2, retryBaseDelayMs: 10 } }), prefix: 'db/', logger: silentLogger() });
    faults.failWhen(({ method, url }) => method === 'DELETE' && url.includes('uploadId='));
    await sweeper.sweep();
    const [finding] = sweeper.findings();
    assert.equal(finding?.check, 'incomplete_uploads');
    assert.equal(finding?.values.firstUploadId, stale);
    assert.match(finding?.hint ?? '', /AbortMultipartUpload/);
    faults.failWhen(undefined);
    await sweeper.sweep();
    assert.deepEqual(sweeper.findings(), []);
    assert.deepEqual(await pendingIds(), []);
  });

  // A provider whose requests hang: the SDK waits out each attempt's socket timeout, then retries.
  it('stop() cancels the sweep at start while its listing hangs, before the SDK tries again, and records nothing', async () => {
    const stalled = await startTcpProxy(s3.port);
    try {
      stalled.stall();
      const store = new S3Store(settingsFor(s3.bucket, stalled.endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
      const sweeper = new UploadSweeper({ store, prefix: 'db/', logger: silentLogger() });
      sweeper.start();
      await waitFor(() => stalled.connectionsAccepted >= 1, 'the sweep at start sends its listing');
      const first = await stopOrRetry(sweeper, () => stalled.connectionsAccepted >= 2);
      store.client.destroy();
      assert.equal(first, 'stopped', 'stop() waited out the hanging listing until the SDK retried it');
      assert.equal(sweeper.state().lastSweepAt, undefined, 'a cancelled sweep is not recorded');
      assert.equal(sweeper.state().lastError, undefined, 'a cancelled sweep is no error to report');
    } finally {
      await stalled.close();
    }
  });
});
