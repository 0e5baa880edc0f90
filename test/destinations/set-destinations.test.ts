import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { BackupResult } from '../../src/backup/result.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { configOfSet } from '../../src/config/load-sets.ts';
import { pairsOfSet, setDestinationsAmong } from '../../src/destinations/set-destinations.ts';
import { backupCommand } from '../../src/commands/backup.ts';
import { checkCommand } from '../../src/commands/check.ts';
import { listCommand } from '../../src/commands/list.ts';
import { runCommand } from '../restore/fixtures.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel, type Sentinel } from '../../src/main.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait-for.ts';

// SENTINEL_CONFIG with sets and destinations: a bucket (behind a TCP proxy that can cut it) and a
// directory; the sets app and web write to both, shop only to the directory. Each (set, destination)
// is watched and alerted on its own.
describe('backup sets in several destinations (SENTINEL_CONFIG)', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let slack: TestSlackServer;
  let dir: string;
  let sentinel: Sentinel;
  let config: Config;
  let env: Record<string, string>;

  before(async () => {
    [pg, s3, slack] = await Promise.all([sharedPgCluster(), startS3Server(), startSlackServer()]);
    proxy = await startTcpProxy(s3.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-dest-'));
    for (const db of ['sd_app', 'sd_web', 'sd_shop']) await pg.createDatabase(db);
    // app: ~300 kB that gzip cannot shrink much, so a cut after 40 kB falls in the middle of its upload.
    await pg.psql("CREATE TABLE blobs (id int, data text); INSERT INTO blobs SELECT i, string_agg(md5(random()::text), '') FROM generate_series(1, 10) i, generate_series(1, 1000) j GROUP BY i;", 'sd_app');
    for (const db of ['sd_web', 'sd_shop']) await pg.psql('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 500);', db);
    const file = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(
      file,
      `destinations:
  - name: r2
    bucket: ${s3.bucket}
    endpoint: ${proxy.endpoint}
    region: auto
    forcePathStyle: true
    accessKeyId: ${s3.accessKeyId}
    secretAccessKey: \${S3_SECRET}
  - name: local
    dir: ${path.join(dir, 'local')}
sets:
  - name: app
    databaseUrl: \${APP_URL}
  - name: web
    databaseUrl: \${WEB_URL}
  - name: shop
    databaseUrl: \${SHOP_URL}
    destinations: [local]
`,
    );
    env = {
      SENTINEL_CONFIG: file,
      S3_SECRET: s3.secretAccessKey,
      APP_URL: pg.url('sd_app'),
      WEB_URL: pg.url('sd_web'),
      SHOP_URL: pg.url('sd_shop'),
      SLACK_WEBHOOK_URL: slack.url,
      LEADER_LEASE_SECONDS: '0',
      STATE_DIR: path.join(dir, 'state'),
      LOG_LEVEL: 'silent',
    };
    config = loadConfig(env);
    // The configured destinations, with an S3 client that gives up at once (no retries) for the faults below.
    const destinations: Destination[] = [
      {
        name: 'r2',
        storage: config.storage,
        store: new S3Store(s3.settings(proxy.endpoint), { tuning: { maxAttempts: 1, unansweredMaxAttempts: 1, connectionTimeoutMs: 2000 }, cleanupTimeoutMs: 1000 }),
      },
      { name: 'local', storage: { kind: 'dir', dir: path.join(dir, 'local') }, store: new DirStore(path.join(dir, 'local')) },
    ];
    sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0, destinations });
  });
  after(async () => {
    proxy?.restore();
    await sentinel?.stop();
    await proxy?.close();
    await Promise.all([s3?.close(), slack?.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  const metrics = async () => await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
  const runSet = async (name: string): Promise<BackupResult> => {
    const service = sentinel.fileSets?.list.find((s) => s.name === name)?.backupService;
    assert.ok(service !== undefined, `set ${name} has a backup service`);
    return await service.runOnce('manual');
  };
  const s3Keys = async (prefix: string): Promise<string[]> =>
    ((await s3.client().send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key ?? '').filter((k) => !k.endsWith('.manifest.json'));
  const s3Bytes = async (key: string): Promise<Buffer> => Buffer.from(await ((await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
  const localKeys = async (folder: string): Promise<string[]> => {
    const names = await fs.readdir(path.join(dir, 'local', folder)).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.sql.gz')).map((n) => `${folder}/${n}`);
  };

  it('writes each set to its destinations from one dump: the copies are byte-identical, under the same keys as in one storage', async () => {
    for (const set of ['app', 'web', 'shop']) {
      const result = await runSet(set);
      assert.equal(result.status, 'success', result.status === 'failed' ? result.shortMessage : result.status);
    }
    for (const set of ['app', 'web']) {
      const [inS3, inDir] = [await s3Keys(`${set}/`), await localKeys(set)];
      assert.equal(inS3.length, 1, `one backup of ${set} in the bucket`);
      assert.deepEqual(inDir, inS3, `the same key for ${set} in both`);
      const key = inS3[0] as string;
      assert.ok((await s3Bytes(key)).equals(await fs.readFile(path.join(dir, 'local', key))), `the two copies of ${key} are the same bytes`);
    }
    assert.deepEqual(await s3Keys('shop/'), [], 'shop names only the directory');
    assert.equal((await localKeys('shop')).length, 1);
  });

  it('watches each (set, destination): metrics carry set and destination labels, /health and /status name both', async () => {
    const sets = sentinel.sets;
    assert.ok(sets !== undefined);
    assert.deepEqual(sets.names(), ['app@local', 'app@r2', 'shop@local', 'web@local', 'web@r2']);
    await waitFor(() => sets.names().every((u) => (sets.get(u)?.snapshot().inventory.count ?? 0) > 0), 'every unit to list its backup');
    const text = await metrics();
    for (const [set, destination] of [['app', 'r2'], ['app', 'local'], ['web', 'r2'], ['web', 'local'], ['shop', 'local']]) {
      assert.match(text, new RegExp(`^backup_sentinel_last_backup_success_timestamp_seconds\\{set="${set}",destination="${destination}"\\} \\d`, 'm'));
      assert.match(text, new RegExp(`^backup_sentinel_finding_active\\{check="stale",set="${set}",destination="${destination}"\\} 0$`, 'm'));
    }
    assert.doesNotMatch(text, /set="shop",destination="r2"/, 'shop is not in the bucket');
    assert.match(text, /^backup_sentinel_retention_days\{set="app",destination="r2"\} 30$/m);
    const health = (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { checks: Record<string, unknown> };
    assert.ok('backup:app@r2:stale' in health.checks, Object.keys(health.checks).join(' '));
  });

  it('a copy whose upload to the bucket is cut: the directory copy completes, the finding and alert name the set and the destination', async () => {
    const sent = slack.payloads.length;
    proxy.cutAfterUpBytes(40_000);
    let result: BackupResult;
    try {
      result = await runSet('app');
    } finally {
      proxy.restore();
    }
    assert.ok(result.status === 'failed', result.status);
    assert.match(result.shortMessage, /^backup stored in 1 of 2 destinations \("local"\); "r2" failed/);
    assert.equal((await localKeys('app')).length, 2, 'the second copy reached the directory');
    await waitFor(() => sentinel.findings().some((f) => f.check === 'backup_failed' && f.set === 'app' && f.destination === 'r2'), 'the backup_failed finding of app in r2');
    const failed = sentinel.findings().filter((f) => f.check === 'backup_failed');
    assert.deepEqual(failed.map((f) => [f.set, f.destination]), [['app', 'r2']], 'only app in r2 failed');
    const alerted = () => JSON.stringify(slack.payloads.slice(sent));
    await waitFor(() => alerted().includes('app in r2: last backup run failed at upload'), () => `the backup_failed alert of app in r2, got ${alerted()}`);
    assert.doesNotMatch(alerted(), /app in local: last backup run failed/);
    const text = await metrics();
    assert.match(text, /^backup_sentinel_finding_active\{check="backup_failed",set="app",destination="r2"\} 1$/m);
    assert.match(text, /^backup_sentinel_finding_active\{check="backup_failed",set="app",destination="local"\} 0$/m);
  });

  it('an unreachable bucket is one storage_unreachable alert naming the destination and its sets, not one per set', async () => {
    const sent = slack.payloads.length;
    proxy.down();
    try {
      await sentinel.sets?.runChecks();
      const unreachable = sentinel.findings().filter((f) => f.check === 'storage_unreachable');
      assert.deepEqual(unreachable.map((f) => [f.set, f.destination]).sort(), [['app', 'r2'], ['web', 'r2']], 'each set in the bucket reports it in /health and metrics');
      // The checks of app and web run at once: the first to end raises the alert, the other joins it.
      await waitFor(() => sentinel.alerts.firing().some((a) => a.check === 'storage_unreachable' && a.summary.endsWith('(2 backup sets (app, web))')), () => `the outage alert naming both sets, got ${JSON.stringify(sentinel.alerts.firing())}`);
      const outages = sentinel.alerts.firing().filter((a) => a.check === 'storage_unreachable');
      assert.deepEqual(outages.map((a) => [a.set, a.destination]), [[undefined, 'r2']], 'one alert, for the destination');
      assert.match(outages[0]?.summary ?? '', /^r2: cannot list .*\(2 backup sets \(app, web\)\)$/);
      const alerted = () => JSON.stringify(slack.payloads.slice(sent));
      await waitFor(() => alerted().includes(`[FIRING] ${s3.bucket}: r2: cannot list`), () => `the outage alert of r2, got ${alerted()}`);
      assert.doesNotMatch(alerted(), /(app|web) in r2: cannot list/, 'no outage alert per set');
      assert.doesNotMatch(alerted(), /local/, 'nothing about the directory');
    } finally {
      proxy.restore();
    }
  });

  it('tells the commands the destinations of each set, with the location of its backups', () => {
    const destinations = [{ name: 'r2', store: new DirStore(path.join(dir, 'x')) }, { name: 'local', store: new DirStore(path.join(dir, 'local')) }];
    assert.deepEqual(setDestinationsAmong(destinations, config, 'app').map((d) => d.name), ['r2', 'local']);
    assert.deepEqual(setDestinationsAmong(destinations, config, 'shop').map((d) => d.name), ['local']);
    // Where the set's backups are in each: its own configuration's folder.
    assert.equal(configOfSet(config, config.sets?.find((s) => s.name === 'app') as NonNullable<Config['sets']>[number]).location.subfolder, 'app');
    assert.deepEqual(pairsOfSet(config, destinations, 'shop'), ['shop@local']);
  });

  it('list and check: each set in each of its destinations, named by both', async () => {
    const list = await runCommand(listCommand, ['--set', 'app', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { destination: string; key: string }[];
    assert.deepEqual([...new Set(rows.map((r) => r.destination))], ['r2', 'local']);
    const shop = await runCommand(listCommand, ['--set', 'shop'], env);
    assert.match(shop.stdout, /^1 backup in dir:/m, 'shop is listed in its one destination only');
    const one = await runCommand(listCommand, ['--set', 'app', '--destination', 'local', '--json'], env);
    assert.deepEqual([...new Set((JSON.parse(one.stdout) as { destination: string }[]).map((r) => r.destination))], ['local']);
    const wrong = await runCommand(listCommand, ['--set', 'shop', '--destination', 'r2'], env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /--destination expects one of local \(the destinations of this set\); got "r2"/);
    const check = await runCommand(checkCommand, [], env);
    assert.match(check.stdout, /^PASS app in r2: \d+ backups?,/m);
    assert.match(check.stdout, /^PASS shop in local: 1 backup/m);
    assert.doesNotMatch(check.stdout, /shop in r2/);
    const json = JSON.parse((await runCommand(checkCommand, ['--json'], env)).stdout) as { sets: Record<string, unknown> };
    assert.deepEqual(Object.keys(json.sets).sort(), ['app@local', 'app@r2', 'shop@local', 'web@local', 'web@r2']);
    // --set and --destination narrow the check; a name that matches nothing is refused, naming those there are.
    const narrowed = await runCommand(checkCommand, ['--set', 'app', '--destination', 'local'], env);
    assert.equal(narrowed.code, 0, narrowed.stdout + narrowed.stderr);
    assert.match(narrowed.stdout, /^PASS app in local: /m);
    assert.equal(narrowed.stdout.match(/^PASS /gm)?.length, 1, narrowed.stdout);
    const inR2 = JSON.parse((await runCommand(checkCommand, ['--json', '--destination', 'r2'], env)).stdout) as { sets: Record<string, unknown> };
    assert.deepEqual(Object.keys(inR2.sets).sort(), ['app@r2', 'web@r2']);
    const typo = await runCommand(checkCommand, ['--set', 'ap'], env);
    assert.equal(typo.code, 64, typo.stderr);
    assert.match(typo.stderr, /--set expects one of app, web, shop; got "ap"/);
  });

  it('backup: every set once, a line per copy naming its destination; a set with one destination writes there only', async () => {
    const backup = await runCommand(backupCommand, [], env);
    assert.equal(backup.code, 0, backup.stderr);
    const [, app, web, shop] = backup.stdout.split(/^== set /m);
    assert.match(app ?? '', /^app\n\[r2\] Backup stored: app\/backup-\S+ in s3:\/\/[\s\S]*^\[local\] Backup stored: app\/backup-\S+ in dir:/m);
    assert.match(web ?? '', /^\[r2\] Backup stored: web\/backup-/m);
    assert.match(shop ?? '', /^shop\nBackup stored: shop\/backup-\S+ in dir:/);
    assert.doesNotMatch(shop ?? '', /s3:/);
  });

  it('backup --set and --destination: one set, one destination; a set not written there is said, a destination no set has is refused', async () => {
    const before = { app: (await s3Keys('app/')).length, shopLocal: (await localKeys('shop')).length, appLocal: (await localKeys('app')).length };
    const one = await runCommand(backupCommand, ['--set', 'app', '--destination', 'r2'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^== set app\nBackup stored: app\/backup-\S+ in s3:\/\//);
    assert.doesNotMatch(one.stdout, /== set (web|shop)/);
    assert.equal((await s3Keys('app/')).length, before.app + 1);
    assert.equal((await localKeys('app')).length, before.appLocal, 'nothing new in the directory');
    const onlyR2 = await runCommand(backupCommand, ['--destination', 'r2'], env);
    assert.equal(onlyR2.code, 0, onlyR2.stderr);
    assert.match(onlyR2.stdout, /^== set shop\nnot written to "r2": this set's destinations are local$/m);
    assert.equal((await localKeys('shop')).length, before.shopLocal);
    const refused = await runCommand(backupCommand, ['--set', 'shop', '--destination', 'r2'], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--destination expects a destination the set writes to \(local\); got "r2"/);
  });
});
