import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { loadConfig } from '../../src/config/load-config.ts';
import { Secret } from '../../src/config/secret.ts';
import type { S3Settings } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The composed service sweeps incomplete uploads at start and reports those it cannot remove in
// /health, /metrics and the alert channels.
describe('the composed service and incomplete multipart uploads', () => {
  let s3: TestS3Server;
  let faults: FaultHttpProxy;
  let slack: TestSlackServer;
  before(async () => {
    [s3, slack] = await Promise.all([startS3Server(), startSlackServer()]);
    faults = await startFaultHttpProxy(s3.port);
  });
  after(async () => {
    await faults?.close();
    await Promise.all([s3?.close(), slack?.close()]);
  });

  it('aborts a stale upload at start; one whose abort fails is a finding in /health, /metrics and Slack until it is gone', async () => {
    const store = new S3Store({ kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false });
    const key = 'nightly/db_2026-01-01_03-00-00.sql.gz';
    const created = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
    const uploadId = created.UploadId ?? '';
    await store.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: Buffer.from('part') }));
    await s3.backdateUpload(uploadId, new Date(Date.now() - 3 * 24 * 3600_000));

    // The storage refuses every abort (500) at first.
    faults.failWhen(({ method, url }) => method === 'DELETE' && url.includes('uploadId='));
    const deadDb = await freePort();
    const config = loadConfig({
      ...s3.env,
      AWS_S3_ENDPOINT: faults.endpoint,
      BUCKET_SUBFOLDER: 'nightly',
      BACKUP_FILE_PREFIX: 'db_',
      BACKUP_DATABASE_URL: `postgres://app:pw@127.0.0.1:${deadDb}/app`,
      SLACK_WEBHOOK_URL: slack.url,
      LOG_LEVEL: 'silent',
    });
    // Short backoff: the default one retries a 500 for 16-32 s before the sweep gives up on this abort.
    const sweptStore = new S3Store(config.storage as S3Settings, { tuning: { retryBaseDelayMs: 10, retryMaxDelayMs: 50 } });
    const sentinel = await startSentinel({ config, store: sweptStore, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      const health = async () => (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { checks: Record<string, { status?: string }[] | undefined> };
      const checkOf = async () => JSON.stringify((await health()).checks['backup:incomplete_uploads'] ?? null);
      await waitFor(async () => /warn/.test(await checkOf()), 'the incomplete_uploads finding on /health', { timeoutMs: 20_000, intervalMs: 50 });
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_finding_active\{check="incomplete_uploads"\} 1$/m);
      assert.match(metrics, /^backup_sentinel_incomplete_uploads_unremoved 1$/m);
      await waitFor(() => JSON.stringify(slack.payloads).includes('Incomplete uploads left in storage'), 'a Slack alert', { timeoutMs: 20_000, intervalMs: 50 });

      // The storage accepts aborts again: the next sweep removes it and the finding resolves.
      faults.failWhen(undefined);
      await sentinel.uploadSweeper?.sweep();
      assert.deepEqual(await s3.pendingUploads(), []);
      assert.doesNotMatch(await checkOf(), /warn/);
      const after = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(after, /^backup_sentinel_incomplete_uploads_aborted_total 1$/m);
      assert.match(after, /^backup_sentinel_finding_active\{check="incomplete_uploads"\} 0$/m);
      await waitFor(() => JSON.stringify(slack.payloads).includes('RESOLVED'), 'the RESOLVED message', { timeoutMs: 20_000, intervalMs: 50 });
    } finally {
      await sentinel.stop();
    }
  });

  it('with BACKUP_GLOBALS, also sweeps what a globals run left under @globals/, and nothing of other writers', async () => {
    const store = new S3Store({ kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false });
    const stale = async (key: string): Promise<string> => {
      const created = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
      const uploadId = created.UploadId ?? '';
      await s3.backdateUpload(uploadId, new Date(Date.now() - 3 * 24 * 3600_000));
      return uploadId;
    };
    await stale('roles/@globals/db_2026-01-01_03-00-00.sql.gz');
    await stale('roles/db_2026-01-01_03-00-00.sql.gz');
    const foreign = await stale('roles/other-tool/export.tar');
    const deadDb = await freePort();
    const config = loadConfig({
      ...s3.env,
      BUCKET_SUBFOLDER: 'roles',
      BACKUP_FILE_PREFIX: 'db_',
      BACKUP_GLOBALS: 'true',
      BACKUP_DATABASE_URL: `postgres://app:pw@127.0.0.1:${deadDb}/app`,
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(async () => (await s3.pendingUploads()).length === 1, 'the sweep at start', { timeoutMs: 20_000, intervalMs: 50 });
      assert.deepEqual((await s3.pendingUploads()).map((u) => u.uploadId), [foreign], 'only the other writer\'s upload is left');
    } finally {
      await sentinel.stop();
      await store.abortIncompleteUpload({ key: 'roles/other-tool/export.tar', uploadId: foreign });
    }
  });

  it('with several destinations, sweeps each bucket, also one that is not the first destination', async () => {
    const store = new S3Store({ kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false });
    const key = 'several/db_2026-01-02_03-00-00.sql.gz';
    const created = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
    const uploadId = created.UploadId ?? '';
    await s3.backdateUpload(uploadId, new Date(Date.now() - 3 * 24 * 3600_000));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sweep-several-'));
    const yaml = path.join(dir, 'sentinel.yaml');
    // The directory first (it keeps the alert state and the lease), the bucket second.
    await fs.writeFile(
      yaml,
      `destinations:\n  - name: disk\n    dir: ${path.join(dir, 'copies')}\n  - name: r2\n    bucket: ${s3.bucket}\n    endpoint: ${s3.endpoint}\n    region: us-east-1\n    forcePathStyle: true\n    accessKeyId: \${S3_KEY}\n    secretAccessKey: \${S3_SECRET}\n`,
    );
    const config = loadConfig({
      SENTINEL_CONFIG: yaml,
      S3_KEY: s3.accessKeyId,
      S3_SECRET: s3.secretAccessKey,
      BUCKET_SUBFOLDER: 'several',
      BACKUP_FILE_PREFIX: 'db_',
      BACKUP_DATABASE_URL: `postgres://app:pw@127.0.0.1:${await freePort()}/app`,
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(async () => !(await s3.pendingUploads()).some((u) => u.uploadId === uploadId), 'the stale upload in the second destination aborted at start', { timeoutMs: 20_000, intervalMs: 50 });
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_incomplete_uploads_aborted_total 1$/m, 'one set of series, summed over the buckets');
    } finally {
      await sentinel.stop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('with the sets of SENTINEL_CONFIG, sweeps their uploads and leaves those of other writers in the bucket', async () => {
    const store = new S3Store({ kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false });
    const stale = async (key: string): Promise<string> => {
      const created = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
      await s3.backdateUpload(created.UploadId ?? '', new Date(Date.now() - 3 * 24 * 3600_000));
      return created.UploadId ?? '';
    };
    const ours = await stale('fileset/backup-2026-01-02_03-00-00.sql.gz');
    const foreign = await stale('elsewhere/export-2026-01-02.tar');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sweep-sets-'));
    const yaml = path.join(dir, 'sentinel.yaml');
    // Two sets in the bucket's root: the sweep lists the whole bucket.
    const url = `postgres://app:pw@127.0.0.1:${await freePort()}/app`;
    await fs.writeFile(yaml, `sets:\n  - name: fileset\n    databaseUrl: ${url}\n  - name: other\n    databaseUrl: ${url}\n`);
    const config = loadConfig({ ...s3.env, SENTINEL_CONFIG: yaml, LOG_LEVEL: 'silent' });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(async () => !(await s3.pendingUploads()).some((u) => u.uploadId === ours), "the set's stale upload aborted at start", { timeoutMs: 20_000, intervalMs: 50 });
      await sentinel.uploadSweeper?.sweep();
      assert.ok((await s3.pendingUploads()).some((u) => u.uploadId === foreign), 'an upload of another writer is not ours to abort');
    } finally {
      await sentinel.stop();
      await store.abortIncompleteUpload({ key: 'elsewhere/export-2026-01-02.tar', uploadId: foreign });
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
