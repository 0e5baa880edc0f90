import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { backupCommand } from '../../src/commands/backup.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { runCommand } from '../restore/fixtures.ts';

// BACKUP_DATABASES with AWS_S3_BUCKET and BACKUP_DIR: every database's one dump reaches the bucket and
// the directory, under the same keys as in one storage, and each (database, destination) is watched.
describe('several databases in two destinations (environment)', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dbs-dest-'));
    for (const db of ['dd_app', 'dd_shop']) {
      await pg.createDatabase(db);
      await pg.psql('CREATE TABLE t (id int, name text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 300) i;', db);
    }
    env = { ...s3.env, BACKUP_DATABASE_URL: pg.url('dd_app'), BACKUP_DATABASES: 'dd_app,dd_shop', BACKUP_DIR: dir, LOG_LEVEL: 'silent', LEADER_LEASE_SECONDS: '0', STATE_DIR: path.join(dir, '.state') };
  });
  after(async () => {
    await Promise.all([s3?.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('backup writes each database to both, a line per copy naming the database and the destination; the copies are the same bytes', async () => {
    const backup = await runCommand(backupCommand, [], env);
    assert.equal(backup.code, 0, backup.stderr);
    for (const db of ['dd_app', 'dd_shop']) {
      const s3Line = new RegExp(`^\\[${db} in s3\\] Backup stored: (${db}/backup-\\S+\\.sql\\.gz) in s3://`, 'm').exec(backup.stdout);
      const dirLine = new RegExp(`^\\[${db} in dir\\] Backup stored: (${db}/backup-\\S+\\.sql\\.gz) in dir:`, 'm').exec(backup.stdout);
      assert.ok(s3Line !== null && dirLine !== null, backup.stdout);
      const key = s3Line[1] as string;
      assert.equal(dirLine[1], key, 'the same key in both');
      const inS3 = Buffer.from(await ((await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
      assert.ok(inS3.equals(await fs.readFile(path.join(dir, key))), `the two copies of ${key} are the same bytes`);
    }
  });

  it('backup --set and --destination: that database to that destination only; an unknown one is refused naming the known', async () => {
    const one = await runCommand(backupCommand, ['--set', 'dd_app', '--destination', 'dir'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^\[dd_app\] Backup stored: dd_app\/backup-\S+ in dir:/m);
    assert.doesNotMatch(one.stdout, /dd_shop|s3:/);
    const unknown = await runCommand(backupCommand, ['--set', 'nope'], env);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /--set expects a database of BACKUP_DATABASES \(dd_app, dd_shop\); got "nope"/);
    const wrong = await runCommand(backupCommand, ['--destination', 'nas'], env);
    assert.match(wrong.stderr, /--destination expects one of s3, dir \(the destinations to write to\); got "nas"/);
  });

  it('the service watches each (database, destination), its metrics labelled with both', async () => {
    const sentinel = await startSentinel({ config: loadConfig(env), logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      const sets = sentinel.sets;
      assert.ok(sets !== undefined);
      assert.deepEqual(sets.names(), ['dd_app@dir', 'dd_app@s3', 'dd_shop@dir', 'dd_shop@s3']);
      await sets.runChecks();
      await waitFor(() => sets.names().every((u) => (sets.get(u)?.snapshot().inventory.count ?? 0) > 0), 'every unit to list the backup of the first test');
      const text = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      for (const db of ['dd_app', 'dd_shop']) {
        for (const destination of ['s3', 'dir']) assert.match(text, new RegExp(`^backup_sentinel_stored_backups\\{set="${db}",destination="${destination}"\\} [12]$`, 'm'));
      }
      await fs.rm(path.join(dir, 'dd_shop'), { recursive: true });
      await sets.get('dd_shop@dir')?.runCheck();
      const findings = sentinel.findings().filter((f) => f.check === 'stale' || f.check === 'empty');
      assert.ok(findings.some((f) => f.set === 'dd_shop' && f.destination === 'dir'), `a copy gone from the directory is found there: ${JSON.stringify(sentinel.findings())}`);
      assert.ok(!findings.some((f) => f.destination === 's3'), 'the bucket still holds every copy');
    } finally {
      await sentinel.stop();
    }
  });

  it('BACKUP_GLOBALS: the roles dump reaches both destinations from one pg_dumpall, a line per copy', async () => {
    const backup = await runCommand(backupCommand, [], { ...env, BACKUP_GLOBALS: 'true' });
    assert.equal(backup.code, 0, backup.stderr);
    const s3Line = /^\[s3\] Globals stored: (@globals\/backup-\S+\.sql\.gz) in s3:\/\//m.exec(backup.stdout);
    const dirLine = /^\[dir\] Globals stored: (@globals\/backup-\S+\.sql\.gz) in dir:/m.exec(backup.stdout);
    assert.ok(s3Line !== null && dirLine !== null, backup.stdout);
    const key = s3Line[1] as string;
    assert.equal(dirLine[1], key);
    const inS3 = Buffer.from(await ((await s3.client().send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    assert.ok(inS3.equals(await fs.readFile(path.join(dir, key))), 'the two copies of the globals are the same bytes');
  });

  it("BACKUP_GLOBALS: a globals copy that fails in one destination is that destination's backup_failed, named by both", async () => {
    // A file where the directory's @globals folder would be: the directory copy cannot be written.
    await fs.rm(path.join(dir, '@globals'), { recursive: true, force: true });
    await fs.writeFile(path.join(dir, '@globals'), 'in the way');
    const sentinel = await startSentinel({ config: loadConfig({ ...env, BACKUP_GLOBALS: 'true' }), logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      const result = await sentinel.backupService?.runOnce();
      assert.equal(result?.status, 'success', 'the databases are stored');
      await waitFor(() => sentinel.findings().some((f) => f.check === 'backup_failed' && f.set === '@globals'), () => `the globals' backup_failed, got ${JSON.stringify(sentinel.findings())}`);
      const failed = sentinel.findings().filter((f) => f.check === 'backup_failed');
      assert.deepEqual(failed.map((f) => [f.set, f.destination]), [['@globals', 'dir']], 'only the directory lacks the globals');
      assert.match(failed[0]?.summary ?? '', /^@globals in dir: roles and tablespaces \(BACKUP_GLOBALS\) were not backed up in run \S+: upload to dir:\S+ failed .*a file stands where a folder should be/);
    } finally {
      await sentinel.stop();
      await fs.rm(path.join(dir, '@globals'), { force: true });
    }
  });
});
