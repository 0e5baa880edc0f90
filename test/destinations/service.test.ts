import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel, type Sentinel } from '../../src/main.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The service with two destinations (an S3 bucket and a directory): each is watched, alerted and
// reported on its own.
describe('the service with two destinations', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let slack: TestSlackServer;
  let dir: string;
  let sentinel: Sentinel;

  before(async () => {
    [pg, s3, slack] = await Promise.all([sharedPgCluster(), startS3Server(), startSlackServer()]);
    proxy = await startTcpProxy(s3.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dest-service-'));
    await pg.createDatabase('dest_app');
    await pg.psql('CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 2000) i;', 'dest_app');
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('dest_app'),
      AWS_S3_BUCKET: s3.bucket,
      AWS_S3_ENDPOINT: proxy.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_S3_REGION: 'auto',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      BACKUP_DIR: dir,
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      LOG_LEVEL: 'silent',
    });
    assert.deepEqual(config.destinations?.map((d) => d.name), ['s3', 'dir']);
    // The configured destinations, with an S3 client that gives up at once (no retries) for the outage below.
    const destinations: Destination[] = [
      {
        name: 's3',
        storage: config.storage,
        store: new S3Store(s3.settings(proxy.endpoint), { tuning: { maxAttempts: 1, unansweredMaxAttempts: 1, connectionTimeoutMs: 2000 }, cleanupTimeoutMs: 1000 }),
      },
      { name: 'dir', storage: { kind: 'dir', dir }, store: new DirStore(dir) },
    ];
    sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0, destinations });
  });
  after(async () => {
    proxy?.restore();
    await sentinel?.stop();
    await proxy?.close();
    await Promise.all([pg?.stop(), s3?.close(), slack?.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  const metrics = async () => await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();

  it('stores each backup in both, and reports each destination with a destination label and in /status', async () => {
    const result = await sentinel.backupService?.runOnce();
    assert.equal(result?.status, 'success', result?.status === 'failed' ? result.shortMessage : '');
    const sets = sentinel.sets;
    assert.ok(sets !== undefined);
    await waitFor(() => sets.names().every((d) => (sets.get(d)?.snapshot().inventory.count ?? 0) > 0), 'both destinations to list the backup');
    const text = await metrics();
    assert.match(text, /^backup_sentinel_last_backup_success_timestamp_seconds\{destination="s3"\} \d/m);
    assert.match(text, /^backup_sentinel_last_backup_success_timestamp_seconds\{destination="dir"\} \d/m);
    assert.match(text, /^backup_sentinel_finding_active\{check="backup_failed",destination="s3"\} 0$/m);
    const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as { destinations: { name: string }[]; sets: Record<string, unknown> };
    assert.deepEqual(status.destinations.map((d) => d.name), ['s3', 'dir']);
    assert.deepEqual(Object.keys(status.sets).sort(), ['dir', 's3']);
  });

  it('a run that reaches only the directory is a backup_failed of the s3 destination, alerted naming it', async () => {
    const sent = slack.payloads.length;
    proxy.down();
    try {
      const result = await sentinel.backupService?.runOnce();
      assert.ok(result?.status === 'failed');
      assert.match(result.shortMessage, /^backup stored in 1 of 2 destinations \("dir"\); "s3" failed/);
      await waitFor(() => sentinel.findings().some((f) => f.check === 'backup_failed' && f.destination === 's3' && f.set === undefined), 'the backup_failed finding of s3');
      assert.ok(!sentinel.findings().some((f) => f.check === 'backup_failed' && f.destination === 'dir'), 'the directory got its copy: no backup_failed there');
      const alerted = () => JSON.stringify(slack.payloads.slice(sent));
      await waitFor(() => alerted().includes('s3: last backup run failed at upload'), () => `the backup_failed alert of s3, got ${alerted()}`);
      assert.doesNotMatch(alerted(), /dir: last backup run failed/, 'nothing about the directory');
      const text = await metrics();
      assert.match(text, /^backup_sentinel_finding_active\{check="backup_failed",destination="s3"\} 1$/m);
      assert.match(text, /^backup_sentinel_finding_active\{check="backup_failed",destination="dir"\} 0$/m);
    } finally {
      proxy.restore();
    }
  });
});
