import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { createStore } from '../../src/storage/create-store.ts';
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

// One attempt per S3 request: the endpoint is down (connections reset) until the test restores it, and
// the default 4 attempts with their back-off only delay each failure by a second or two; what the
// tests prove (the outage alerted once, and resolved) does not depend on them.
const ONE_ATTEMPT = { tuning: { maxAttempts: 1 } };

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
    const sentinel = await startSentinel({ config, store: createStore(config, ONE_ATTEMPT), logger: silentLogger(), host: '127.0.0.1', port: 0 });
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

  it('resolves the outage it alerted as a standby even when it takes the lease while that alert is still being saved', async () => {
    const sent = slack.payloads.length;
    proxy.down();
    const config = loadConfig({
      ...s3.env,
      AWS_S3_ENDPOINT: proxy.endpoint,
      BUCKET_SUBFOLDER: 'slow-save',
      STATE_DIR: path.join(dir, 'state-slow'),
      SLACK_WEBHOOK_URL: slack.url,
      SENTINEL_NAME: 'outage',
      LEADER_LEASE_SECONDS: '6',
      RETENTION_DAYS: '0',
      LOG_LEVEL: 'silent',
    });
    // The saves of the alert state wait at a gate: the standby's save of its FIRING is still in flight
    // (a storage answering slowly, retries) when the storage answers again and the lease is taken.
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const real = createStore(config, ONE_ATTEMPT);
    const store = new Proxy(real, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property);
        if (property !== 'put' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        return async (key: string, ...rest: unknown[]) => {
          if (key.endsWith('alert-state.json')) await gate;
          return await (value as (...a: unknown[]) => Promise<unknown>).call(target, key, ...rest);
        };
      },
    });
    const sentinel = await startSentinel({ config, store, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    const news = () => JSON.stringify(slack.payloads.slice(sent));
    try {
      await waitFor(() => /FIRING/.test(news()), 'the FIRING about the unreachable storage', { timeoutMs: 30_000 });
      proxy.restore();
      await waitFor(() => sentinel.leadership.status().holder !== null && sentinel.leadership.status().holder === sentinel.leadership.status().instance, 'the lease taken', { timeoutMs: 30_000 });
      openGate();
      await waitFor(() => news().includes('*Backup storage unreachable* · RESOLVED'), () => `the RESOLVED once the storage answers, got ${news()}`, { timeoutMs: 20_000 });
    } finally {
      openGate();
      await sentinel.stop();
    }
  });
});
