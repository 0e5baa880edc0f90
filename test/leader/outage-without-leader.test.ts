import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait-for.ts';

const texts = (slack: TestSlackServer): string[] =>
  slack.payloads.map((p) => {
    const text = (p as { text?: unknown }).text;
    return typeof text === 'string' ? text : '';
  });
// How often the storage check appears with this state across every message sent.
const count = (slack: TestSlackServer, state: 'FAIL' | 'RESOLVED'): number =>
  JSON.stringify(slack.payloads).split(`*Backup storage unreachable* · ${state}`).length - 1;

// The storage that holds the leader lease is down from the start, so no replica can lead: the outage
// must still reach people, and its RESOLVED when the storage is back.
describe('a storage outage while nobody can hold the leader lease', () => {
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let slack: TestSlackServer;
  let dir: string;
  before(async () => {
    [s3, slack] = await Promise.all([startS3Server(), startSlackServer()]);
    proxy = await startTcpProxy(s3.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'outage-no-leader-'));
  });
  after(async () => {
    await Promise.all([proxy?.close(), s3?.close(), slack?.close(), dir ? fs.rm(dir, { recursive: true, force: true }) : undefined]);
  });

  it('is alerted once by the standby that cannot reach the lease, and resolved once the storage answers', async () => {
    proxy.down();
    const config = loadConfig({
      ...s3.env,
      AWS_S3_ENDPOINT: proxy.endpoint,
      STATE_DIR: path.join(dir, 'state'),
      SLACK_WEBHOOK_URL: slack.url,
      SENTINEL_NAME: 'outage',
      // Long enough that a loaded machine renews in time (a leader that misses a renewal steps down).
      LEADER_LEASE_SECONDS: '6',
      RETENTION_DAYS: '0',
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => texts(slack).some((t) => /FIRING/.test(t)), 'the FIRING about the unreachable storage', { timeoutMs: 30_000 });
      assert.equal(sentinel.leadership.status().role, 'standby');
      assert.equal(texts(slack).length, 1, texts(slack).join('\n'));
      assert.match(texts(slack)[0] ?? '', /FIRING.*S3 endpoint unreachable/);

      proxy.restore();
      // Grouped per check: the RESOLVED may share a message with what started in the same check.
      await waitFor(() => count(slack, 'RESOLVED') === 1, 'the RESOLVED once the storage answers', { timeoutMs: 30_000 });
      await waitFor(() => sentinel.leadership.isLeader(), 'this replica leading once the lease can be written', { timeoutMs: 30_000 });
      assert.equal(count(slack, 'FAIL'), 1, 'the storage FIRING was sent once');
      assert.equal(count(slack, 'RESOLVED'), 1, 'and resolved once');
    } finally {
      await sentinel.stop();
    }
  });
});
