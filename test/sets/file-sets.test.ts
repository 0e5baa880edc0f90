import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BackupResult } from '../../src/backup/result.ts';
import { runCli } from '../../src/cli.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { formatTimestamp } from '../../src/core/naming.ts';
import { serverGates } from '../../src/sets/set-runtime.ts';
import { captureStream } from '../helpers/log-sink.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait-for.ts';

// SENTINEL_CONFIG at run time: sets of a YAML file on two servers, each with its own schedule, folder
// and thresholds, backed up, monitored and alerted per set.
describe('backup sets from a YAML file, running (real PostgreSQL)', () => {
  let pg: PgCluster;
  let slack: TestSlackServer;
  // The second "server": the same cluster behind a TCP proxy, so its URL has another host:port.
  let proxy: TcpProxy;
  let dir: string;
  before(async () => {
    [pg, slack] = await Promise.all([sharedPgCluster(), startSlackServer()]);
    proxy = await startTcpProxy(pg.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-sets-'));
    for (const db of ['yaml_app', 'yaml_crm']) {
      await pg.createDatabase(db);
      await pg.psql('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000);', db);
    }
  });
  after(async () => {
    await Promise.all([slack?.close(), proxy?.close()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  const keysUnder = async (root: string): Promise<string[]> =>
    (await fs.readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));

  it('two servers, own schedules, folders and thresholds: each set backed up, monitored and alerted on its own', async () => {
    const root = path.join(dir, 'backups');
    const file = path.join(dir, 'sets.yaml');
    await fs.writeFile(
      file,
      `sets:
  - name: app
    databaseUrl: \${APP_URL}
    schedule: "0 3 * * *"
    runOnStartup: true
    maxAgeHours: 13
  - name: crm
    databaseUrl: \${CRM_URL}
    schedule: "30 4 * * 1"
    runOnStartup: true
    subfolder: crm-backups
    prefix: crm_
    compression: none
    maxAgeHours: 49
    # Every crm backup is "empty" by this set's own threshold: crm alerts, app does not.
    emptyBackupMaxBytes: 100000000
  - name: gone
    databaseUrl: \${GONE_URL}
    runOnStartup: true
`,
    );
    const config = loadConfig({
      SENTINEL_CONFIG: file,
      APP_URL: pg.url('yaml_app'),
      CRM_URL: `postgres://${pg.superuser}:${pg.password}@127.0.0.1:${proxy.port}/yaml_crm`,
      GONE_URL: pg.url('yaml_no_such_db'),
      BACKUP_DIR: root,
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      EMPTY_BACKUP_MAX_BYTES: '100',
      STATE_DIR: path.join(dir, 'state'),
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      const fileSets = sentinel.fileSets;
      assert.ok(fileSets !== undefined);
      const result = (name: string): BackupResult | undefined => fileSets.list.find((f) => f.name === name)?.backupService?.lastResult;
      await waitFor(() => ['app', 'crm', 'gone'].every((n) => result(n) !== undefined), 'each set ran once', { timeoutMs: 30_000 });
      assert.equal(result('app')?.status, 'success');
      assert.equal(result('crm')?.status, 'success');
      assert.equal(result('gone')?.status, 'failed', 'its database does not exist; the others were stored all the same');

      const keys = (await keysUnder(root)).filter((k) => !k.includes('.backup-sentinel') && !k.endsWith('.manifest.json'));
      assert.ok(keys.some((k) => /^app\/backup-[\d_-]+\.sql\.gz$/.test(k)), keys.join(', '));
      assert.ok(keys.some((k) => /^crm-backups\/crm_[\d_-]+\.sql$/.test(k)), keys.join(', '));

      const sets = sentinel.sets;
      assert.ok(sets !== undefined);
      assert.deepEqual(sets.names(), ['app', 'crm', 'gone']);
      await waitFor(() => ['app', 'crm'].every((s) => (sets.get(s)?.snapshot().inventory.count ?? 0) > 0), 'app and crm checked with their backup', { timeoutMs: 20_000 });
      await waitFor(() => JSON.stringify(slack.payloads).includes('crm: '), 'an alert naming crm', { timeoutMs: 20_000, intervalMs: 50 });
      await waitFor(() => JSON.stringify(slack.payloads).includes('gone: '), 'an alert naming gone', { timeoutMs: 20_000, intervalMs: 50 });
      assert.doesNotMatch(JSON.stringify(slack.payloads), /app: /, 'the healthy set is not alerted about');

      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_finding_active\{check="empty",set="crm"\} 1$/m);
      assert.match(metrics, /^backup_sentinel_finding_active\{check="empty",set="app"\} 0$/m);
      assert.match(metrics, /^backup_sentinel_finding_active\{check="backup_failed",set="gone"\} 1$/m);
      assert.match(metrics, /^backup_sentinel_last_backup_success\{set="app"\} 1$/m);
      const health = (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { checks: Record<string, { status: string }[]> };
      assert.equal(health.checks['backup:crm:empty']?.[0]?.status, 'fail');
      assert.equal(health.checks['backup:app:empty']?.[0]?.status, 'pass');
      assert.equal(health.checks['backup:gone:backup_failed']?.[0]?.status, 'fail');

      // Each set on its own schedule, with its own thresholds.
      const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as {
        backup: { sets: Record<string, { schedule: string; nextRunAt: string }> };
        sets: Record<string, { thresholds?: { maxBackupAgeHours: number } }>;
      };
      assert.equal(status.backup.sets.app?.schedule, '0 3 * * *');
      assert.equal(status.backup.sets.crm?.schedule, '30 4 * * 1');
      assert.notEqual(status.backup.sets.app?.nextRunAt, status.backup.sets.crm?.nextRunAt);
      assert.equal((status.sets.crm as { nextBackupAt?: string }).nextBackupAt, status.backup.sets.crm?.nextRunAt, "the set's own next backup");
      assert.equal(sets.get('app')?.snapshot().lastCheck !== undefined, true);
      assert.match(JSON.stringify(status.sets.app), /"maxBackupAgeHours":13/);
      assert.match(JSON.stringify(status.sets.crm), /"maxBackupAgeHours":49/);

      // Verification per set: each set's newest backup, in its own folder.
      await sentinel.setVerify?.runAll();
      const verified = sentinel.setVerify?.states();
      assert.equal(verified?.get('crm')?.lastVerify?.ok, true, JSON.stringify(verified?.get('crm')?.lastVerify));
      assert.match(verified?.get('crm')?.lastVerify?.key ?? '', /^crm-backups\/crm_/);
      assert.match(verified?.get('app')?.lastVerify?.key ?? '', /^app\/backup-/);
    } finally {
      await sentinel.stop();
    }
  });

  it("retention per set: each set prunes its own folder by its own retentionDays", async () => {
    const root = path.join(dir, 'retention');
    const day = 86_400_000;
    const now = Date.now();
    const seed = async (folder: string, ageDays: number): Promise<string> => {
      const key = `${folder}/backup-${formatTimestamp(new Date(now - ageDays * day))}.sql.gz`;
      await fs.mkdir(path.join(root, folder), { recursive: true });
      await fs.writeFile(path.join(root, key), Buffer.alloc(5000, 7));
      // Prune goes by the stored time (LastModified) too, never by a name alone.
      const at = new Date(now - ageDays * day);
      await fs.utimes(path.join(root, key), at, at);
      return key;
    };
    const oldShort = await seed('short', 40);
    await seed('short', 0);
    const oldLong = await seed('long', 40);
    await seed('long', 0);
    const file = path.join(dir, 'retention.yaml');
    // No database URL: both sets only monitor (and prune).
    await fs.writeFile(file, 'sets:\n  - name: short\n    retentionDays: 7\n    minBackupsKept: 1\n  - name: long\n    retentionDays: 60\n    minBackupsKept: 1\n');
    const config = loadConfig({ SENTINEL_CONFIG: file, BACKUP_DIR: root, LEADER_LEASE_SECONDS: '0', STATE_DIR: path.join(dir, 'state-retention') });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      const retentionOf = async (): Promise<Record<string, { lastRunAt?: string; lastPrune?: unknown }>> =>
        ((await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as { retention: Record<string, { lastRunAt?: string }> }).retention;
      let state: Record<string, { lastRunAt?: string }> = {};
      await waitFor(async () => {
        state = await retentionOf();
        return state.short?.lastRunAt != null && state.long?.lastRunAt != null;
      }, 'both sets pruned once', { timeoutMs: 20_000 });
      const exists = (key: string) => fs.access(path.join(root, key)).then(() => true, () => false);
      assert.equal(await exists(oldShort), false, `older than its 7 days: deleted ${JSON.stringify(state.short)}`);
      assert.equal(await exists(oldLong), true, 'within its 60 days: kept');
    } finally {
      await sentinel.stop();
    }
  });

  it('BACKUP_DATABASES in the environment is each set\'s default: its databases are the sets <name>/<database>, also when the set only monitors', async () => {
    const file = path.join(dir, 'inherit.yaml');
    await fs.writeFile(file, 'sets:\n  - name: watch\n    subfolder: watched\n');
    const config = loadConfig({ SENTINEL_CONFIG: file, BACKUP_DATABASES: 'a,b', BACKUP_DIR: path.join(dir, 'inherit'), LEADER_LEASE_SECONDS: '0', STATE_DIR: path.join(dir, 'state-inherit') });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      assert.deepEqual(sentinel.sets?.names(), ['watch/a', 'watch/b'], 'no monitor on the environment\'s own folders');
      const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as { sets: Record<string, { storage: string }> };
      assert.match(status.sets['watch/a']?.storage ?? '', /watched\/a\/backup-$/);
    } finally {
      await sentinel.stop();
    }
  });

  it('the commands work per set: backup backs up every set, check checks each, list/prune take --set', async () => {
    const root = path.join(dir, 'commands');
    const file = path.join(dir, 'commands.yaml');
    await fs.writeFile(file, 'sets:\n  - name: app\n    databaseUrl: ${APP_URL}\n  - name: crm\n    databaseUrl: ${CRM_URL}\n    prefix: crm_\n    maxAgeHours: 49\n');
    const env = {
      SENTINEL_CONFIG: file,
      APP_URL: pg.url('yaml_app'),
      CRM_URL: `postgres://${pg.superuser}:${pg.password}@127.0.0.1:${proxy.port}/yaml_crm`,
      BACKUP_DIR: root,
      EMPTY_BACKUP_MAX_BYTES: '100',
      LOG_LEVEL: 'silent',
    };
    const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
      const stdout = captureStream();
      const stderr = captureStream();
      const code = await runCli(args, env, { stdout: stdout.stream, stderr: stderr.stream });
      return { code, out: stdout.text(), err: stderr.text() };
    };
    const backup = await cli('backup');
    assert.equal(backup.code, 0, backup.out + backup.err);
    assert.match(backup.out, /== set app\nBackup stored: app\/backup-/);
    assert.match(backup.out, /== set crm\nBackup stored: crm\/crm_/);
    const check = await cli('check', '--json');
    assert.equal(check.code, 0, check.out + check.err);
    const report = JSON.parse(check.out) as { status: string; sets: Record<string, { thresholds: { maxBackupAgeHours: number } }> };
    assert.deepEqual(Object.keys(report.sets), ['app', 'crm']);
    assert.equal(report.sets.crm?.thresholds.maxBackupAgeHours, 49);
    const list = await cli('list', '--set', 'crm');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /crm\/crm_[\d_-]+\.sql\.gz/);
    assert.doesNotMatch(list.out, /app\//);
    const noSet = await cli('list');
    assert.equal(noSet.code, 64);
    assert.match(noSet.err, /SENTINEL_CONFIG, list needs --set NAME.*one of app, crm/);
    const prune = await cli('prune', '--dry-run', '--set', 'app');
    assert.equal(prune.code, 0, prune.out + prune.err);
  });
});

describe('runs of sets that share a server', () => {
  // Pure scheduling: a run is a promise the test resolves, so "started" is observed, never timed.
  const deferred = (): { promise: Promise<BackupResult>; resolve: () => void; started: boolean } => {
    let resolve: () => void = () => {};
    const d = { promise: undefined as unknown as Promise<BackupResult>, resolve: () => resolve(), started: false };
    d.promise = new Promise<BackupResult>((r) => {
      resolve = () => r({ status: 'skipped' } as BackupResult);
    });
    return d;
  };

  it('wait for each other (BACKUP_CONCURRENCY=1), while a set on another server runs at once', async () => {
    const gate = serverGates(1);
    const [a, b, c] = [deferred(), deferred(), deferred()];
    const run = (d: typeof a) => () => {
      d.started = true;
      return d.promise;
    };
    const ra = gate('db1:5432')(run(a));
    const rb = gate('db1:5432')(run(b));
    const rc = gate('db2:5432')(run(c));
    await Promise.resolve();
    assert.deepEqual([a.started, b.started, c.started], [true, false, true]);
    a.resolve();
    await ra;
    await waitFor(() => b.started, 'the second run on db1 starts once the first is done');
    b.resolve();
    c.resolve();
    await Promise.all([rb, rc]);
  });

  it('BACKUP_CONCURRENCY=2 lets two runs on one server go at once', async () => {
    const gate = serverGates(2)('db1:5432');
    const [a, b, c] = [deferred(), deferred(), deferred()];
    const started = [a, b, c].map((d) => gate(() => ((d.started = true), d.promise)));
    await Promise.resolve();
    assert.deepEqual([a.started, b.started, c.started], [true, true, false]);
    a.resolve();
    await waitFor(() => c.started, 'the third starts when a slot frees');
    b.resolve();
    c.resolve();
    await Promise.all(started);
  });
});
