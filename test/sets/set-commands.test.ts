import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupKey, databaseLocation } from '../../src/core/naming.ts';
import { checkCommand } from '../../src/commands/check.ts';
import { listCommand } from '../../src/commands/list.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { freePort } from '../helpers/free-port.ts';
import { startSlackServer } from '../helpers/slack-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { commandContext, HOUR, putBackup } from '../monitor/fixtures.ts';

const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;
const BASE = { subfolder: 'prod', prefix: 'backup-' };

// Monitor-only deployments with BACKUP_DATABASES=<names>: each set is checked, listed and pruned in its
// own folder (directory storage; no database needed).
describe('backup sets in storage: check, list and retention per set', () => {
  let dir: string;
  let store: DirStore;
  const now = Date.now();
  const put = async (set: string, ageHours: number, size = 4096): Promise<string> => {
    const time = new Date(now - ageHours * HOUR);
    const key = backupKey(databaseLocation(BASE, set), time, PARTS);
    await putBackup(store, undefined, key, size, time);
    return key;
  };
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-commands-'));
    store = new DirStore(dir);
    await put('app', 2);
    await put('app_v2', 40);
    await put('shop data', 3);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const env = { BUCKET_SUBFOLDER: 'prod', BACKUP_DATABASES: 'app,app_v2,shop data' };

  it('check exits with the worst set and --json lists each set with its status', async () => {
    const { ctx, out } = commandContext({ ...env, BACKUP_DIR: dir });
    assert.equal(await checkCommand.run(['--json'], ctx), 2);
    const report = JSON.parse(out()) as { status: string; sets: Record<string, { status: string; backups: { count: number } }> };
    assert.equal(report.status, 'fail');
    assert.deepEqual(Object.fromEntries(Object.entries(report.sets).map(([s, r]) => [s, r.status])), { app: 'pass', app_v2: 'fail', 'shop data': 'pass' });
    assert.equal(report.sets.app?.backups.count, 1, "app's folder only, not app_v2's");
    const text = commandContext({ ...env, BACKUP_DIR: dir });
    assert.equal(await checkCommand.run([], text.ctx), 2);
    assert.match(text.out(), /^FAIL app_v2: 1 backup/m);
    assert.match(text.out(), /^ {2}FAIL stale: /m);
    assert.match(text.out(), /^FAIL: app_v2\.$/m);
  });

  it('list --set lists one set; without it, names the sets to choose from', async () => {
    const { ctx, out } = commandContext({ ...env, BACKUP_DIR: dir });
    assert.equal(await listCommand.run(['--set', 'shop data', '--json'], ctx), 0);
    const rows = JSON.parse(out()) as { key: string }[];
    assert.equal(rows.length, 1);
    assert.match(rows[0]?.key ?? '', /^prod\/shop%20data\/backup-/);
    const bare = commandContext({ ...env, BACKUP_DIR: dir });
    assert.equal(await listCommand.run([], bare.ctx), 64);
    assert.match(bare.err(), /--set NAME.*app, app_v2, shop data/);
  });

  it('verifies each set on its own: its own metrics series and its own finding', async () => {
    const config = loadConfig({ ...env, BACKUP_DIR: dir, LEADER_LEASE_SECONDS: '0', STATE_DIR: path.join(dir, '.state-verify'), RETENTION_DAYS: '0' });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0, store });
    try {
      assert.ok(sentinel.setVerify !== undefined);
      // The fixtures are not gzip: every set's newest backup fails verification, each on its own.
      await sentinel.setVerify.runAll();
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      for (const set of ['app', 'app_v2', 'shop data']) assert.match(metrics, new RegExp(`^backup_sentinel_last_verify_success\\{set="${set}"\\} 0$`, 'm'));
      assert.doesNotMatch(metrics, /^backup_sentinel_last_verify_success \d/m);
      const failed = sentinel.findings().filter((f) => f.check === 'verify_failed').map((f) => f.set).sort();
      assert.deepEqual(failed, ['app', 'app_v2', 'shop data']);
      // The status page has a section per set, each with its own folder.
      const page = await (await fetch(`http://127.0.0.1:${sentinel.port}/`, { headers: { accept: 'text/html' } })).text();
      for (const folder of ['prod/app/backup-', 'prod/app_v2/backup-', 'prod/shop%20data/backup-']) assert.ok(page.includes(folder), `${folder} on the status page`);
    } finally {
      await sentinel.stop();
    }
  });

  it("retention prunes each set in its own folder and keeps each set's newest", async () => {
    const pruneDir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-prune-'));
    store = new DirStore(pruneDir);
    const oldApp = await put('app', 24 * 10);
    const newApp = await put('app', 1);
    const onlyV2 = await put('app_v2', 24 * 10);
    const config = loadConfig({ ...env, BACKUP_DIR: pruneDir, RETENTION_MODE: 'prune', RETENTION_DAYS: '2', MIN_BACKUPS_KEPT: '1', LEADER_LEASE_SECONDS: '0', STATE_DIR: path.join(pruneDir, '.state'), EMPTY_BACKUP_MAX_BYTES: '100' });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0, store });
    const exists = async (key: string) => (await store.head(key)) !== undefined;
    try {
      await waitFor(async () => !(await exists(oldApp)), "app's old backup pruned", { timeoutMs: 20_000 });
      assert.ok(await exists(newApp));
      assert.ok(await exists(onlyV2), "app_v2's only backup is its newest: kept (MIN_BACKUPS_KEPT per set)");
    } finally {
      await sentinel.stop();
      await fs.rm(pruneDir, { recursive: true, force: true });
    }
  });
});

describe('verify and prune name the set to work on', () => {
  it('prune --set prunes that set only; without --set it asks for one', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-prune-cmd-'));
    const store = new DirStore(dir);
    const now = Date.now();
    const keys: Record<string, string> = {};
    for (const [name, set, ageHours] of [['oldApp', 'app', 240], ['newApp', 'app', 1], ['oldV2', 'app_v2', 240], ['newV2', 'app_v2', 1]] as const) {
      const time = new Date(now - ageHours * HOUR);
      keys[name] = backupKey(databaseLocation(BASE, set), time, PARTS);
      await putBackup(store, undefined, keys[name], 4096, time);
    }
    try {
      const env = { BACKUP_DIR: dir, BUCKET_SUBFOLDER: 'prod', BACKUP_DATABASES: 'app,app_v2', RETENTION_DAYS: '2', MIN_BACKUPS_KEPT: '1', EMPTY_BACKUP_MAX_BYTES: '100' };
      const bare = commandContext(env);
      assert.equal(await pruneCommand.run([], bare.ctx), 64);
      assert.match(bare.err(), /--set NAME.*app, app_v2/);
      const run = commandContext(env);
      assert.equal(await pruneCommand.run(['--set', 'app'], run.ctx), 0, run.err());
      assert.equal(await store.head(keys.oldApp as string), undefined, "app's old backup is pruned");
      assert.ok(await store.head(keys.oldV2 as string), "app_v2's is not touched");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a run that cannot tell which databases to back up', () => {
  it('is a service-wide backup_failed: alerted, in /health and metrics, without the password', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-unlisted-'));
    const slack = await startSlackServer();
    const port = await freePort();
    // Nothing listens on the port: listing the databases (BACKUP_DATABASES=*) fails at once.
    const config = loadConfig({
      BACKUP_DATABASE_URL: `postgres://backup:s3kr1t-pw@127.0.0.1:${port}/postgres`,
      BACKUP_DATABASES: '*',
      BACKUP_DIR: dir,
      RUN_ON_STARTUP: 'true',
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      STATE_DIR: path.join(dir, '.state'),
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => JSON.stringify(slack.payloads).includes('cannot list the databases'), 'an alert about the listing', { timeoutMs: 20_000, intervalMs: 50 });
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_finding_active\{check="backup_failed"\} 1$/m);
      const health = await fetch(`http://127.0.0.1:${sentinel.port}/health`);
      const body = await health.text();
      assert.equal(health.status, 503);
      assert.match(body, /cannot list the databases/);
      assert.doesNotMatch(`${body}${JSON.stringify(slack.payloads)}`, /s3kr1t-pw/);
    } finally {
      await sentinel.stop();
      await slack.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
