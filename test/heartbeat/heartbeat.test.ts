import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { runCli } from '../../src/cli.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { Secret } from '../../src/config/secret.ts';
import { Heartbeat } from '../../src/heartbeat/heartbeat.ts';
import { checkReport } from '../../src/heartbeat/ping-message.ts';
import { pingRequest } from '../../src/heartbeat/ping-request.ts';
import { silentLogger } from '../../src/logger.ts';
import { buildBackupService, startSentinel } from '../../src/main.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { captureLogs, captureStream } from '../helpers/log-sink.ts';
import { startHttpReceiver, type TestHttpReceiver } from '../helpers/http-receiver.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { waitFor } from '../helpers/wait-for.ts';

const UUID = '0c4b1a3e-1111-2222-3333-444455556666';

describe('heartbeat requests follow each service convention', () => {
  it('healthchecks.io (and any unknown URL): POST the ping URL, /fail or /start, the findings as body, rid pairs a run', () => {
    assert.deepEqual(pingRequest(`https://hc-ping.com/${UUID}`, 'success', 'all good'), { method: 'POST', url: `https://hc-ping.com/${UUID}`, body: 'all good' });
    assert.deepEqual(pingRequest(`https://hc.example.com/ping/${UUID}/`, 'fail', 'FAIL stale'), { method: 'POST', url: `https://hc.example.com/ping/${UUID}/fail`, body: 'FAIL stale' });
    assert.equal(pingRequest(`https://hc-ping.com/${UUID}`, 'start', 'go', 'r-1')?.url, `https://hc-ping.com/${UUID}/start?rid=r-1`);
    assert.equal(pingRequest('https://hc-ping.com/pingkey/db-backup?create=1', 'success', 'ok', 'r-1')?.url, 'https://hc-ping.com/pingkey/db-backup?create=1&rid=r-1');
  });

  it('Uptime Kuma push: GET with status=up|down and msg, no start', () => {
    const url = 'https://kuma.example.com/api/push/AbC123?status=up&msg=OK&ping=';
    assert.deepEqual(pingRequest(url, 'success', 'vlvt: check\npassed'), { method: 'GET', url: 'https://kuma.example.com/api/push/AbC123?status=up&msg=vlvt%3A+check+passed&ping=' });
    assert.equal(pingRequest(url, 'fail', 'FAIL stale')?.url, 'https://kuma.example.com/api/push/AbC123?status=down&msg=FAIL+stale&ping=');
    assert.equal(pingRequest(url, 'start', 'x'), undefined);
  });

  it('Better Stack: GET the heartbeat URL, /fail for a failure, no start', () => {
    const url = 'https://uptime.betterstack.com/api/v1/heartbeat/tOkEn123';
    assert.deepEqual(pingRequest(url, 'success', 'x'), { method: 'GET', url });
    assert.deepEqual(pingRequest(url, 'fail', 'x'), { method: 'GET', url: `${url}/fail` });
    assert.equal(pingRequest(url, 'start', 'x'), undefined);
  });

  it('Cronitor: GET with state=run|complete|fail, message and series', () => {
    const url = 'https://cronitor.link/p/apikey/nightly-backup';
    assert.equal(pingRequest(url, 'start', 'started', 'r-1')?.url, `${url}?state=run&message=started&series=r-1`);
    assert.equal(pingRequest(url, 'success', 'ok')?.url, `${url}?state=complete&message=ok`);
    assert.equal(pingRequest(url, 'fail', 'FAIL stale')?.url, `${url}?state=fail&message=FAIL+stale`);
  });

  it('a check fails the heartbeat only with a failing finding; warnings pass and are listed', () => {
    assert.deepEqual(checkReport([], 'vlvt'), { event: 'success', message: 'vlvt: check passed' });
    const warn = checkReport([{ check: 'size_anomaly', severity: 'warn', summary: 'smaller', values: {} }], 'vlvt');
    assert.deepEqual(warn, { event: 'success', message: 'vlvt: check passed with warnings\nWARN size_anomaly: smaller' });
    assert.equal(checkReport([{ check: 'stale', severity: 'fail', summary: 'old', values: {} }], 'vlvt').event, 'fail');
  });
});

describe('heartbeat pings against a real HTTP receiver', () => {
  let receiver: TestHttpReceiver;
  let dir: string;
  before(async () => {
    receiver = await startHttpReceiver(200, 'OK');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'heartbeat-'));
  });
  after(async () => {
    await Promise.all([receiver.close(), fs.rm(dir, { recursive: true, force: true })]);
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it('a receiver that is down: the ping is logged and counted as failed, never thrown, and the next one goes through', async () => {
    const logs = captureLogs();
    const registry = new Registry();
    const heartbeat = new Heartbeat({ name: 'monitor', url: new Secret(`${receiver.base}/ping/${UUID}`), logger: logs.logger, registry, timeoutMs: 2000 });
    await receiver.down();
    try {
      await heartbeat.ping('fail', 'FAIL stale: old');
    } finally {
      await receiver.up();
    }
    await heartbeat.ping('success', 'ok');
    const metrics = await registry.metrics();
    assert.match(metrics, /^backup_sentinel_heartbeat_pings_total\{heartbeat="monitor",result="failed"\} 1$/m);
    assert.match(metrics, /^backup_sentinel_heartbeat_pings_total\{heartbeat="monitor",result="sent"\} 1$/m);
    const warning = logs.records().find((r) => r.level === 40);
    assert.match(String(warning?.msg), /^heartbeat fail ping to healthchecks heartbeat on 127\.0\.0\.1:\d+ failed: unreachable \([A-Z_]+\)$/);
    assert.doesNotMatch(logs.text(), new RegExp(UUID));
    assert.deepEqual(receiver.requests.map((r) => [r.method, r.url, r.body]), [['POST', `/ping/${UUID}`, 'ok']]);
  });

  it('the service pings HEARTBEAT_URL after its check: the failure form with the findings when a check fails', async () => {
    const config = loadConfig({
      BACKUP_DIR: path.join(dir, 'empty'),
      STATE_DIR: path.join(dir, 'state'),
      SENTINEL_NAME: 'vlvt-backups',
      HEARTBEAT_URL: `${receiver.base}/ping/${UUID}`,
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => receiver.requests.length >= 1, 'the heartbeat after the first check', { timeoutMs: 20_000 });
      const [ping] = receiver.requests;
      assert.equal(ping?.method, 'POST');
      assert.equal(ping.url, `/ping/${UUID}/fail`);
      assert.match(ping.body, /^vlvt-backups: check failed\nFAIL stale: /);
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_heartbeat_pings_total\{heartbeat="monitor",result="sent"\} 1$/m);
      assert.doesNotMatch(metrics, new RegExp(UUID));
    } finally {
      await sentinel.stop();
    }
  });
});

describe('BACKUP_HEARTBEAT_URL times the backup job', () => {
  let receiver: TestHttpReceiver;
  let pg: PgCluster;
  let dir: string;
  before(async () => {
    [receiver, pg] = await Promise.all([startHttpReceiver(200, 'OK'), sharedPgCluster()]);
    await pg.createDatabase('hb_app');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'heartbeat-backup-'));
  });
  after(async () => {
    await Promise.all([receiver.close(), pg.stop(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('pings /start once the run holds the lock, then the success form, paired by one rid; a failed run pings /fail', async () => {
    const env = { BACKUP_DIR: dir, BACKUP_DATABASE_URL: pg.url('hb_app'), SENTINEL_NAME: 'vlvt-backups', BACKUP_HEARTBEAT_URL: `${receiver.base}/ping/${UUID}`, LOG_LEVEL: 'silent' };
    const config = loadConfig(env);
    const service = buildBackupService(config, createStore(config), silentLogger(), { registry: new Registry() });
    assert.ok(service !== undefined);
    const result = await service.runOnce('manual');
    assert.equal(result.status, 'success');
    const [start, end] = receiver.requests;
    const rid = new URL(start?.url ?? '', 'http://x').searchParams.get('rid');
    assert.match(rid ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(start?.url, `/ping/${UUID}/start?rid=${rid}`);
    assert.equal(end?.url, `/ping/${UUID}?rid=${rid}`);
    assert.match(end.body, /^vlvt-backups: backup stored: backup-/);

    receiver.requests.length = 0;
    const broken = loadConfig({ ...env, BACKUP_DATABASE_URL: pg.url('hb_missing_db') });
    const failed = await buildBackupService(broken, createStore(broken), silentLogger())?.runOnce('manual');
    assert.equal(failed?.status, 'failed');
    // It never got the lock (no such database): no start, only the failure.
    assert.equal(receiver.requests.length, 1);
    assert.match(receiver.requests[0]?.url ?? '', new RegExp(`^/ping/${UUID}/fail\\?rid=[0-9a-f-]{36}$`));
    assert.match(receiver.requests[0]?.body ?? '', /^vlvt-backups: backup failed \(/);
  });
});

// Sets of SENTINEL_CONFIG on one BACKUP_HEARTBEAT_URL: each run pings it, so the last ping would be
// whichever set ran last. A set that fails every night would then be hidden by one that succeeds after it.
describe('backup sets sharing BACKUP_HEARTBEAT_URL', () => {
  let receiver: TestHttpReceiver;
  let pg: PgCluster;
  let dir: string;
  before(async () => {
    [receiver, pg] = await Promise.all([startHttpReceiver(200, 'OK'), sharedPgCluster()]);
    await pg.createDatabase('hb_sets_good');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'heartbeat-sets-'));
  });
  after(async () => {
    await Promise.all([receiver.close(), pg.stop(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it("a failing set keeps the shared heartbeat failing after another set's success, naming it; a set's own heartbeatUrl is its own", async () => {
    const file = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(
      file,
      'sets:\n  - name: broken\n    databaseUrl: ${BROKEN_URL}\n  - name: good\n    databaseUrl: ${GOOD_URL}\n  - name: own\n    databaseUrl: ${GOOD_URL}\n    heartbeatUrl: ${OWN_HEARTBEAT}\n',
    );
    const env = {
      SENTINEL_CONFIG: file,
      BACKUP_DIR: path.join(dir, 'backups'),
      SENTINEL_NAME: 'vlvt',
      BROKEN_URL: pg.url('hb_sets_missing_db'),
      GOOD_URL: pg.url('hb_sets_good'),
      BACKUP_HEARTBEAT_URL: `${receiver.base}/ping/${UUID}`,
      OWN_HEARTBEAT: `${receiver.base}/ping/own-check`,
      LOG_LEVEL: 'silent',
    };
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runCli(['backup'], env, { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 1, stdout.text() + stderr.text());
    const ends = (prefix: string) => receiver.requests.filter((r) => r.url.startsWith(prefix) && !r.url.includes('/start'));
    const shared = ends(`/ping/${UUID}`);
    assert.equal(shared.length, 2, JSON.stringify(receiver.requests.map((r) => r.url)));
    assert.match(shared[0]?.url ?? '', new RegExp(`^/ping/${UUID}/fail\\?rid=`));
    // good succeeded, but broken's last run failed: still the failure form, saying why.
    assert.match(shared[1]?.url ?? '', new RegExp(`^/ping/${UUID}/fail\\?rid=`));
    assert.match(shared[1]?.body ?? '', /^vlvt, set good: backup stored: good\/backup-.*\nstill failing \(its last run\):\nvlvt, set broken: backup failed \(/s);
    // own has a check of its own: its success is reported as such.
    const own = ends('/ping/own-check');
    assert.equal(own.length, 1);
    assert.match(own[0]?.url ?? '', /^\/ping\/own-check\?rid=/);
    assert.match(own[0]?.body ?? '', /^vlvt, set own: backup stored: own\/backup-/);
  });
});
