import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { ConfigError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { buildBackupSetsRunner, startSentinel } from '../../src/main.ts';
import { backupKey, databaseLocation, encodeDatabaseFolder, isAuxiliaryKey, isSetBackupKey, keyPrefix } from '../../src/core/naming.ts';
import { parseDatabaseUrl } from '../../src/backup/connection.ts';
import { Secret } from '../../src/config/secret.ts';
import { listConnectableDatabases } from '../../src/sets/list-databases.ts';
import { BackupSetsRunner } from '../../src/sets/run-sets.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { freePort } from '../helpers/free-port.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { backupSettings } from '../backup/fixtures.ts';
import { runSingleBackup } from '../../src/commands/backup.ts';
import { commandContext } from '../monitor/fixtures.ts';

describe('backup set naming', () => {
  it('encodes a database name into a folder no other database (or the reserved folders) can share', () => {
    assert.equal(encodeDatabaseFolder('app'), 'app');
    assert.equal(encodeDatabaseFolder('app_v2'), 'app_v2');
    assert.equal(encodeDatabaseFolder('shop data'), 'shop%20data');
    assert.equal(encodeDatabaseFolder('a/b'), 'a%2Fb');
    assert.equal(encodeDatabaseFolder('.backup-sentinel'), '%2Ebackup-sentinel');
    assert.equal(encodeDatabaseFolder('@globals'), '%40globals');
    assert.equal(encodeDatabaseFolder('100%'), '100%25');
    assert.equal(encodeDatabaseFolder('zürich'), 'z%C3%BCrich');
    assert.equal(encodeDatabaseFolder('a.b'), 'a.b', 'a dot inside the name stays');
  });

  it("keeps one set's prefix from being a prefix of another's (app and app_v2)", () => {
    const base = { subfolder: 'prod', prefix: 'backup-' };
    const app = keyPrefix(databaseLocation(base, 'app'));
    const v2 = keyPrefix(databaseLocation(base, 'app_v2'));
    assert.equal(app, 'prod/app/backup-');
    assert.equal(v2, 'prod/app_v2/backup-');
    assert.ok(!v2.startsWith(app) && !app.startsWith(v2));
    assert.equal(keyPrefix(databaseLocation({ subfolder: '', prefix: 'b_' }, 'shop data')), 'shop%20data/b_');
  });

  it('recognises a set backup key one folder down, and nothing else', () => {
    const base = { subfolder: 'prod', prefix: 'backup-' };
    assert.equal(isSetBackupKey(base, 'prod/shop%20data/backup-2026-03-04_05-06-07.sql.gz'), true);
    assert.equal(isSetBackupKey(base, 'prod/app/backup-2026-03-04_05-06-07.dump.zst.age'), true);
    assert.equal(isSetBackupKey(base, 'prod/backup-2026-03-04_05-06-07.sql.gz'), false, 'not in a set folder');
    assert.equal(isSetBackupKey(base, 'prod/app/other-2026-03-04_05-06-07.sql.gz'), false, 'another prefix');
    assert.equal(isSetBackupKey(base, 'prod/a/b/backup-2026-03-04_05-06-07.sql.gz'), false, 'two folders down');
    assert.equal(isSetBackupKey(base, 'other/app/backup-2026-03-04_05-06-07.sql.gz'), false);
    assert.equal(isSetBackupKey({ subfolder: '', prefix: 'b_' }, 'app/b_2026-03-04_05-06-07.sql'), true);
    // A backup too large for one object continues in pieces: the upload sweep must know them as ours.
    assert.equal(isSetBackupKey(base, 'prod/app/backup-2026-03-04_05-06-07.dump.zst.002'), true, 'a further piece');
    assert.equal(isSetBackupKey(base, 'prod/app/backup-dump.002'), false, 'not a piece of our naming');
  });

  it('treats only the reserved folder itself as reserved: a database named x.backup-sentinel has backups', () => {
    const key = `prod/${encodeDatabaseFolder('x.backup-sentinel')}/backup-2026-03-04_05-06-07.sql.gz`;
    assert.equal(isAuxiliaryKey(key), false);
    assert.equal(isAuxiliaryKey('prod/.backup-sentinel/leader.json'), true);
    assert.equal(isAuxiliaryKey('.backup-sentinel/alert-state.json'), true);
    assert.equal(isAuxiliaryKey('prod/app/.backup-sentinel/receipts/x.json'), true);
  });

  it('keeps the single-database key and config exactly as before (no BACKUP_DATABASES)', () => {
    const config = loadConfig({ BACKUP_DATABASE_URL: 'postgres://u:p@db:5432/app', BUCKET_SUBFOLDER: 'nightly', BACKUP_FILE_PREFIX: 'vlvt_backup_', BACKUP_DIR: '/tmp/x' });
    assert.equal(config.databases, undefined);
    const key = backupKey(config.location, new Date('2026-03-04T05:06:07Z'), { format: 'plain', compression: 'gzip', encrypted: false });
    assert.equal(key, 'nightly/vlvt_backup_2026-03-04_05-06-07.sql.gz');
  });
});

describe('BACKUP_DATABASES configuration', () => {
  const base = { BACKUP_DATABASE_URL: 'postgres://u:p@db:5432/app', BACKUP_DIR: '/tmp/x' };
  const problems = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return '';
  };

  it('reads a list, * with exclusions, and the concurrency', () => {
    assert.deepEqual(loadConfig({ ...base, BACKUP_DATABASES: 'app, analytics' }).databases, { kind: 'names', names: ['app', 'analytics'] });
    assert.deepEqual(loadConfig({ ...base, BACKUP_DATABASES: '*', BACKUP_EXCLUDE_DATABASES: 'postgres' }).databases, { kind: 'all', exclude: ['postgres'] });
    assert.equal(loadConfig({ ...base, BACKUP_CONCURRENCY: '3' }).backup?.concurrency, 3);
    assert.equal(loadConfig(base).backup?.concurrency, 1);
  });

  it('refuses settings that cannot work, naming the variable', () => {
    assert.match(problems({ ...base, BACKUP_EXCLUDE_DATABASES: 'x' }), /BACKUP_EXCLUDE_DATABASES/);
    assert.match(problems({ ...base, BACKUP_DATABASES: 'app', BACKUP_EXCLUDE_DATABASES: 'x' }), /BACKUP_EXCLUDE_DATABASES/);
    assert.match(problems({ ...base, BACKUP_DATABASES: '*,app' }), /BACKUP_DATABASES.*\* alone/s);
    assert.match(problems({ ...base, BACKUP_DATABASES: 'app,app' }), /each database once/);
    assert.match(problems({ ...base, BACKUP_DATABASES: ' , ' }), /BACKUP_DATABASES/);
    assert.match(problems({ BACKUP_DIR: '/tmp/x', BACKUP_DATABASES: '*' }), /BACKUP_DATABASES.*BACKUP_DATABASE_URL/s);
    assert.match(problems({ ...base, BACKUP_CONCURRENCY: '0' }), /BACKUP_CONCURRENCY/);
  });
});

describe('many databases as backup sets (real PostgreSQL)', () => {
  let pg: PgCluster;
  let slack: TestSlackServer;
  let dir: string;
  before(async () => {
    [pg, slack] = await Promise.all([sharedPgCluster(), startSlackServer()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sets-'));
    for (const db of ['app', 'app_v2', 'shop data']) {
      await pg.createDatabase(db);
      await pg.psql(`CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);`, db);
    }
  });
  after(async () => {
    await slack?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const keysUnder = async (root: string): Promise<string[]> =>
    (await fs.readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));

  it('backs up every database of * into its own folder; metrics, /health and an alert name each set', async () => {
    const root = path.join(dir, 'all');
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('app'),
      BACKUP_DATABASES: '*',
      BACKUP_EXCLUDE_DATABASES: 'postgres',
      BACKUP_CONCURRENCY: '2',
      BACKUP_DIR: root,
      RUN_ON_STARTUP: 'true',
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      EMPTY_BACKUP_MAX_BYTES: '100',
      STATE_DIR: path.join(dir, 'state-all'),
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => sentinel.backupService?.lastResult !== undefined, 'the first run', { timeoutMs: 30_000 });
      assert.equal(sentinel.backupService?.lastResult?.status, 'success');
      const keys = (await keysUnder(root)).filter((k) => !k.startsWith('.backup-sentinel'));
      const backups = keys.filter((k) => k.endsWith('.sql.gz'));
      assert.deepEqual(backups.map((k) => k.split('/')[0]).sort(), ['app', 'app_v2', 'shop%20data']);
      // One run = one timestamp: every set's key carries the run's start time.
      assert.equal(new Set(backups.map((k) => path.basename(k))).size, 1, backups.join(', '));
      const manifestKey = keys.find((k) => k.startsWith('shop%20data/') && k.endsWith('.manifest.json')) as string;
      const manifest = JSON.parse(await fs.readFile(path.join(root, manifestKey), 'utf8')) as { database: string };
      assert.equal(manifest.database, 'shop data', 'the manifest keeps the real name');

      const sets = sentinel.sets;
      assert.ok(sets !== undefined);
      await waitFor(() => sets.names().length === 3 && sets.names().every((s) => (sets.get(s)?.snapshot().inventory.count ?? 0) > 0), 'each set checked with its backup', { timeoutMs: 20_000 });
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      for (const set of ['app', 'app_v2', 'shop data']) {
        assert.match(metrics, new RegExp(`^backup_sentinel_last_backup_success\\{set="${set}"\\} 1$`, 'm'));
        assert.match(metrics, new RegExp(`^backup_sentinel_stored_backups\\{set="${set}"\\} 1$`, 'm'));
        assert.match(metrics, new RegExp(`^backup_sentinel_finding_active\\{check="stale",set="${set}"\\} 0$`, 'm'));
        // Each set's retention, as a single database's retention has its series.
        assert.match(metrics, new RegExp(`^backup_sentinel_retention_mode\\{mode="prune",set="${set}"\\} 1$`, 'm'));
        assert.match(metrics, new RegExp(`^backup_sentinel_retention_days\\{set="${set}"\\} 30$`, 'm'));
      }
      assert.doesNotMatch(metrics, /^backup_sentinel_stored_backups \d/m, 'no unlabelled series with sets');
      assert.doesNotMatch(metrics, /^backup_sentinel_retention_mode\{mode="[a-z]+"\} /m, 'no unlabelled retention series with sets');
      const health = (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { status: string; checks: Record<string, unknown> };
      assert.equal(health.status, 'pass');
      for (const set of ['app', 'app_v2', 'shop data']) assert.ok(health.checks[`backup:${set}:stale`], `a stale check for ${set}: ${Object.keys(health.checks).join(', ')}`);
    } finally {
      await sentinel.stop();
    }
  });

  it('one database that fails is its own failure: the others are stored, its alert and metrics name it', async () => {
    const root = path.join(dir, 'names');
    const before = slack.payloads.length;
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('app'),
      BACKUP_DATABASES: 'app,no_such_db',
      BACKUP_DIR: root,
      RUN_ON_STARTUP: 'true',
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      EMPTY_BACKUP_MAX_BYTES: '100',
      STATE_DIR: path.join(dir, 'state-names'),
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => sentinel.backupService?.lastResult !== undefined, 'the first run', { timeoutMs: 30_000 });
      const result = sentinel.backupService?.lastResult;
      assert.equal(result?.status, 'failed');
      assert.match(result?.status === 'failed' ? result.shortMessage : '', /1 of 2 databases failed: "no_such_db"/);
      assert.ok((await keysUnder(root)).some((k) => k.startsWith('app/') && k.endsWith('.sql.gz')), 'app was stored');
      await waitFor(() => JSON.stringify(slack.payloads.slice(before)).includes('no_such_db'), 'an alert naming the failed set', { timeoutMs: 20_000, intervalMs: 50 });
      const sent = JSON.stringify(slack.payloads.slice(before));
      assert.doesNotMatch(sent, /app: /, 'the healthy set is not alerted about');
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_finding_active\{check="backup_failed",set="no_such_db"\} 1$/m);
      assert.match(metrics, /^backup_sentinel_finding_active\{check="backup_failed",set="app"\} 0$/m);
      const health = (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { checks: Record<string, { componentId: string; status: string }[]> };
      assert.equal(health.checks['backup:no_such_db:backup_failed']?.[0]?.status, 'fail');
      assert.equal(health.checks['backup:app:backup_failed']?.[0]?.status, 'pass');
    } finally {
      await sentinel.stop();
    }
  });

  it('a storage that cannot be listed is one alert for the service, not one per set', async () => {
    // An S3 endpoint where nothing listens: every set's listing fails alike.
    const before = slack.payloads.length;
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('app'),
      BACKUP_DATABASES: 'app,app_v2,shop data',
      AWS_S3_BUCKET: 'gone',
      AWS_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      STATE_DIR: path.join(dir, 'state-outage'),
      // Retention off: its lifecycle client is made from the configuration with the default retries, and
      // the run it starts with would hold stop() for their backoff (about 4 s) without adding to the point.
      RETENTION_DAYS: '0',
    });
    // One attempt per request: the refusal is the point, not the retries' backoff.
    const store = createStore(config, { tuning: { maxAttempts: 1 } });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0, store });
    try {
      const sets = sentinel.sets;
      assert.ok(sets !== undefined);
      await waitFor(() => sets.names().every((s) => sets.get(s)?.snapshot().lastCheck?.findings.some((f) => f.check === 'storage_unreachable') === true), 'every set checked', { timeoutMs: 20_000 });
      await waitFor(() => sentinel.alerts.firing().some((a) => a.check === 'storage_unreachable'), 'the storage alert', { timeoutMs: 20_000, intervalMs: 50 });
      const storageAlerts = sentinel.alerts.firing().filter((a) => a.check === 'storage_unreachable');
      assert.deepEqual(storageAlerts.map((a) => a.set), [undefined], 'one alert, for no single set');
      // The sets' checks end one after another: the alert names those that had failed when it fired.
      assert.match(storageAlerts[0]?.summary ?? '', /\([23] backup sets \((app|app_v2|shop data)(, (app_v2|shop data))+\)\)|\(backup set /);
      await waitFor(() => slack.payloads.length > before, 'the alert sent', { timeoutMs: 20_000, intervalMs: 50 });
      assert.equal(JSON.stringify(slack.payloads.slice(before)).match(/app_v2: /g), null, 'no per-set storage alert');
      // Each set's own check still says so (/health, metrics).
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      for (const set of ['app', 'app_v2', 'shop data']) assert.match(metrics, new RegExp(`^backup_sentinel_finding_active\\{check="storage_unreachable",set="${set}"\\} 1$`, 'm'));
    } finally {
      await sentinel.stop();
    }
  });

  it('backup with BACKUP_GLOBALS: one line per set and the globals, all with the run\'s timestamp', async () => {
    const root = path.join(dir, 'globals');
    const { ctx, out } = commandContext({ BACKUP_DATABASE_URL: pg.url('app'), BACKUP_DATABASES: 'app,shop data', BACKUP_GLOBALS: 'true', BACKUP_DIR: root });
    assert.equal(await runSingleBackup(ctx), 0, out());
    assert.match(out(), /^\[app\] Backup stored: app\/backup-/m);
    assert.match(out(), /^\[shop data\] Backup stored: shop%20data\/backup-/m);
    assert.match(out(), /^Globals stored: @globals\/backup-/m);
    const stamps = (await keysUnder(root)).filter((k) => /\.sql\.gz$/.test(k)).map((k) => path.basename(k));
    assert.equal(stamps.length, 3);
    assert.equal(new Set(stamps).size, 1, `one run, one timestamp: ${stamps.join(', ')}`);
  });

  it('a database dropped between listing and dump fails its set only; the next run reports it gone', async () => {
    await pg.createDatabase('doomed');
    const store = new DirStore(path.join(dir, 'dropped'));
    const config = loadConfig({ BACKUP_DATABASE_URL: pg.url('app'), BACKUP_DATABASES: '*', BACKUP_EXCLUDE_DATABASES: 'postgres', BACKUP_DIR: path.join(dir, 'dropped') });
    const built = buildBackupSetsRunner(config, store, silentLogger());
    assert.ok(built !== undefined);
    let drop = true;
    // The second run a minute "later", so its keys never meet the first run's in the same second.
    let offsetMs = 0;
    const runner = new BackupSetsRunner({
      job: { settings: backupSettings(pg.url('app')), store, logger: silentLogger() },
      base: config.location,
      selection: { kind: 'all', exclude: ['postgres'] },
      concurrency: 1,
      // The real listing, then the database goes away before its dump starts.
      listDatabases: async () => {
        const names = await listConnectableDatabases(parseDatabaseUrl(new Secret(pg.url('app'))));
        if (drop) await pg.psql('DROP DATABASE doomed');
        drop = false;
        return names;
      },
      logger: silentLogger(),
      clock: () => new Date(Date.now() + offsetMs),
    });
    const first = await runner.run({ runId: 'r1', trigger: 'manual' });
    const status = Object.fromEntries(first.results.map((r) => [r.set, r.result.status]));
    assert.deepEqual(status, { app: 'success', app_v2: 'success', doomed: 'failed', 'shop data': 'success' });
    assert.equal(first.aggregate.status, 'failed');
    assert.match(first.aggregate.status === 'failed' ? first.aggregate.shortMessage : '', /"doomed"/);
    offsetMs = 60_000;
    const second = await runner.run({ runId: 'r2', trigger: 'manual' });
    const gone = second.results.find((r) => r.set === 'doomed');
    assert.equal(gone?.result.status, 'failed');
    assert.match(gone?.result.status === 'failed' ? gone.result.shortMessage : '', /no longer on the server/);
    assert.equal(second.results.filter((r) => r.result.status === 'success').length, 3);
  });
});
