import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { formatTimestamp } from '../../src/core/naming.ts';
import { startConditionalProxy, type ConditionalProxy } from '../helpers/conditional-proxy.ts';
import { freePort } from '../helpers/free-port.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startHttpReceiver, type TestHttpReceiver } from '../helpers/http-receiver.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

// The real `serve` command in a child process, as a deployment runs it, started the way the test run
// starts every program of the project (Node's own type stripping on Node 22.18+/24: both replicas then
// come up within the same moment).
function spawnServe(env: Record<string, string>) {
  return execa(process.execPath, [...TYPESCRIPT_LOADER, CLI, 'serve'], { env: { ...compileCacheEnv(), ...env }, extendEnv: false, reject: false, all: true, forceKillAfterDelay: 20_000 });
}

interface Status {
  role: 'leader' | 'standby';
  leader: { instance: string; holder: string | null; until: string | null };
  lastCheck: { at: string } | null;
  findings: { check: string }[];
  alerts: { firing: { check: string }[] };
  backup: { lastResult: { status: string; startedAt: string } | null };
}

interface Replica {
  name: string;
  port: number;
  child: ReturnType<typeof spawnServe>;
  // Everything the process logged so far (for failure messages).
  logs: string[];
  status(): Promise<Status>;
}

// The problems a Slack message announces as started (the titles under its "Started" heading): one
// message groups everything one check found, so the stale bucket and the failed backup arrive in one
// FIRING when the leader's first check ends after its first backup failed, else in two.
function startedIn(payload: unknown): string[] {
  const blocks = (payload as { blocks?: { text?: { text?: unknown } }[] }).blocks ?? [];
  const started: string[] = [];
  let heading: string | undefined;
  for (const block of blocks) {
    const text = typeof block.text?.text === 'string' ? block.text.text : '';
    const title = /^\*([^*]+)\*$/.exec(text);
    const item = /^\S+ \*([^*]+)\* ·/.exec(text);
    if (title !== null) heading = title[1];
    else if (item !== null && heading === 'Started') started.push(item[1] ?? '');
  }
  return started;
}

// Slack payloads as "subject" lines, for assertions and failure messages.
function subjects(slack: TestSlackServer): string[] {
  return slack.payloads.map((p) => {
    const text = (p as { text?: unknown }).text;
    return typeof text === 'string' ? text : JSON.stringify(p);
  });
}

// Two (then three) real `serve` processes on one bucket: s3rver behind the conditional-request test
// double (s3rver ignores If-None-Match / If-Match; test/helpers/conditional-proxy.ts answers them as
// S3 and R2 do and forwards everything else), one Slack stand-in, and a database that is down so
// every backup fails. Every notice must reach Slack exactly once.
describe('two replicas on one bucket', () => {
  let s3: TestS3Server;
  let proxy: ConditionalProxy;
  let slack: TestSlackServer;
  // The heartbeat service; each replica pings its own path, so the test sees who pings.
  let heartbeats: TestHttpReceiver;
  let deadDb: number;
  // Each replica's STATE_DIR (the local copy of the alert state), as each pod has its own disk. Not the
  // default (<tmp>/backup-sentinel, shared by every test on the machine): its file is named by the
  // storage's address, and an earlier test whose S3 server had this run's port left a copy there that
  // the first leader loaded (a foreign firing list; its alerts counted as already sent).
  let stateDirs: string;
  const replicas: Replica[] = [];

  before(async () => {
    s3 = await startS3Server();
    stateDirs = await mkdtemp(path.join(os.tmpdir(), 'two-replicas-'));
    [proxy, slack, heartbeats, deadDb] = await Promise.all([startConditionalProxy(s3), startSlackServer(), startHttpReceiver(200, 'OK'), freePort()]);
    // A stale bucket: its one backup is two days old.
    const old = new Date(Date.now() - 48 * 3600_000);
    await s3.seed([{ key: `backup-${formatTimestamp(old)}.sql.gz`, size: 200_000, lastModified: old }]);
  });
  after(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await Promise.all([proxy?.close(), slack?.close(), heartbeats?.close()]);
    await s3?.close();
    if (stateDirs !== undefined) await rm(stateDirs, { recursive: true, force: true });
  });

  async function startReplica(name: string, backupCron: string): Promise<Replica> {
    const port = await freePort();
    const child = spawnServe({
        PATH: process.env.PATH ?? '',
        ...proxy.env,
        PORT: String(port),
        SLACK_WEBHOOK_URL: slack.url,
        HEARTBEAT_URL: `${heartbeats.base}/ping/${name}`,
        STATE_DIR: path.join(stateDirs, name),
        BACKUP_DATABASE_URL: `postgres://app:db-pass@127.0.0.1:${deadDb}/app`,
        BACKUP_CRON_SCHEDULE: backupCron,
        // Checks every 2 s, so a takeover and a recovery are seen quickly.
        MONITOR_CRON: '*/2 * * * * *',
        LEADER_LEASE_SECONDS: '5',
        RETENTION_DAYS: '0',
        LOG_LEVEL: 'info',
    });
    const logs: string[] = [];
    child.all.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const replica: Replica = {
      name,
      port,
      child,
      logs,
      async status() {
        const response = await fetch(`http://127.0.0.1:${port}/status`);
        return (await response.json()) as Status;
      },
    };
    replicas.push(replica);
    return replica;
  }

  // The replica's own backup failed and a check ran after it: it has had its chance to alert.
  async function checkedAfterItsBackup(replica: Replica): Promise<Status> {
    return await waitFor(async () => {
      const s = await replica.status();
      const run = s.backup.lastResult;
      return run?.status === 'failed' && s.lastCheck !== null && s.lastCheck.at > run.startedAt && s.findings.some((f) => f.check === 'backup_failed') ? s : undefined;
    }, () => `${replica.name} to check after its failed backup; its log:\n${replica.logs.join('').slice(-4000)}`, { timeoutMs: 40_000, intervalMs: 100, retryErrors: true });
  }

  // A check that started after `time` has finished on the replica.
  async function checkedAfter(replica: Replica, time: Date): Promise<Status> {
    return await waitFor(async () => {
      const s = await replica.status();
      return s.lastCheck !== null && new Date(s.lastCheck.at) > time ? s : undefined;
    }, `${replica.name} to check after ${time.toISOString()}`, { timeoutMs: 40_000, intervalMs: 100, retryErrors: true });
  }

  async function metric(replica: Replica, name: string): Promise<string | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
    return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  }

  it('a stale bucket and a failing backup are alerted once each, and a rolling restart sends nothing false', async () => {
    // Both replicas start together (as a Deployment with replicas: 2 does); their scheduled backups
    // fire at the same seconds on both (every 2 s, so the test need not wait for a time far enough
    // ahead that two processes started at once on a busy machine are up) and fail (the database is down).
    const [a, b] = await Promise.all([startReplica('a', '*/2 * * * * *'), startReplica('b', '*/2 * * * * *')]);
    const [aStatus, bStatus] = await Promise.all([checkedAfterItsBackup(a), checkedAfterItsBackup(b)]);
    const started = () => slack.payloads.flatMap(startedIn).sort();
    await waitFor(() => started().length >= 2, () => `the FIRINGs of the stale bucket and the failed backup (so far ${JSON.stringify(subjects(slack))})`, { timeoutMs: 40_000, intervalMs: 100, retryErrors: true });
    // Each has checked again since (and failed more backups at the same seconds), so anything either
    // would send has been sent.
    await Promise.all([a, b].map(async (r) => await checkedAfter(r, new Date(Date.now() + 100))));
    // One or two messages (see startedIn), each problem started in exactly one of them.
    const firing = subjects(slack);
    assert.deepEqual(started(), ['Backup run failed', 'Backups are stale'], `each problem fired once, not once per replica: ${JSON.stringify(firing)}`);
    assert.ok(firing.every((s) => /FIRING/.test(s)), `FIRINGs only: ${JSON.stringify(firing)}`);
    const fired = firing.length;

    // The roles as they settle: on a loaded machine a leader may miss a renewal and hand over in between.
    const [aRole, bRole] = await waitFor(async () => {
      const both = await Promise.all([a.status(), b.status()]);
      return both.filter((s) => s.role === 'leader').length === 1 ? both : undefined;
    }, () => `one leader among a and b (now ${aStatus.role} and ${bStatus.role})`, { timeoutMs: 20_000, intervalMs: 100, retryErrors: true });
    const [leader, standby] = aRole.role === 'leader' ? [a, b] : [b, a];
    const [leaderStatus, standbyStatus] = aRole.role === 'leader' ? [aRole, bRole] : [bRole, aRole];
    assert.equal(leaderStatus.role, 'leader');
    assert.equal(standbyStatus.role, 'standby');
    assert.equal(standbyStatus.leader.holder, leaderStatus.leader.instance, '/status names the lease holder');
    assert.ok(standbyStatus.leader.until !== null, '/status says until when the lease holds');
    assert.equal(await metric(leader, 'backup_sentinel_leader'), '1');
    assert.equal(await metric(standby, 'backup_sentinel_leader'), '0');
    assert.equal((await fetch(`http://127.0.0.1:${standby.port}/health`)).status, 503, 'the standby still reports the problems on /health');
    // Only the leader pings the dead man's switch (the failure form: the bucket is stale).
    const pinged = (r: Replica) => heartbeats.requests.filter((q) => q.url.startsWith(`/ping/${r.name}`)).map((q) => q.url);
    assert.ok(pinged(leader).length >= 1 && pinged(leader).every((u) => u === `/ping/${leader.name}/fail`), `the leader's pings: ${JSON.stringify(pinged(leader))}`);
    assert.deepEqual(pinged(standby), [], 'the standby never pings HEARTBEAT_URL');

    // Rolling restart: the new version starts beside the old ones (its backup is not due for hours, so
    // it knows nothing of the failed backup), then the old replicas get SIGTERM, the standby first.
    const later = new Date(Date.now() + 12 * 3600_000);
    const c = await startReplica('c', `${later.getUTCSeconds()} ${later.getUTCMinutes()} ${later.getUTCHours()} * * *`);
    await checkedAfter(c, new Date(Date.now() + 100));
    assert.equal((await c.status()).role, 'standby');
    standby.child.kill('SIGTERM');
    const standbyResult = await standby.child;
    assert.equal(standbyResult.exitCode, 0, `signal ${String(standbyResult.signal)}; log:\n${(standbyResult.all ?? '').slice(-3000)}`);
    leader.child.kill('SIGTERM');
    const leaderResult = await leader.child;
    assert.equal(leaderResult.exitCode, 0, leaderResult.all);
    assert.match(leaderResult.all ?? '', /leader lease released/);
    const releasedAt = Date.now();
    await waitFor(async () => ((await c.status()).role === 'leader' ? true : undefined), 'the new replica to take over the released lease', { timeoutMs: 10_000, intervalMs: 100, retryErrors: true });
    // Released, not expired (that would take about 1.5 × TTL): the next lease round (a quarter TTL) takes
    // it, within the 5 s TTL.
    assert.ok(Date.now() - releasedAt < 5_000, `takeover took ${Date.now() - releasedAt} ms`);
    // The new leader loaded the alert state and checked: still stale, and the failed backup it never
    // saw is not resolved by it, so nothing to send. Two checks, so the first one's sends are done.
    const first = await checkedAfter(c, new Date(Date.now() + 100));
    await checkedAfter(c, new Date(first.lastCheck?.at ?? 0));
    assert.deepEqual(subjects(slack).length, fired, `no duplicate and no false RESOLVED after the handover: ${JSON.stringify(subjects(slack))}`);
    assert.deepEqual(
      (await c.status()).alerts.firing.map((f) => f.check).sort(),
      ['backup_failed', 'stale'],
      'the new leader knows what its predecessor sent',
    );

    // A fresh backup arrives: the stale alert is resolved once, by the leader that took over.
    await s3.seed([{ key: `backup-${formatTimestamp(new Date())}.sql.gz`, size: 200_000 }]);
    await waitFor(() => slack.payloads.length > fired, 'the RESOLVED of the stale alert', { timeoutMs: 40_000, intervalMs: 100, retryErrors: true });
    const next = await checkedAfter(c, new Date(Date.now() + 100));
    await checkedAfter(c, new Date(next.lastCheck?.at ?? 0));
    assert.equal(subjects(slack).length, fired + 1, `one RESOLVED: ${JSON.stringify(subjects(slack))}`);
    assert.match(subjects(slack)[fired] ?? '', /RESOLVED.*stale/);
    c.child.kill('SIGTERM');
    const result = await c.child;
    assert.equal(result.exitCode, 0, result.all);
    assert.doesNotMatch(`${result.all ?? ''}${leaderResult.all ?? ''}`, /db-pass/);
  });
});
