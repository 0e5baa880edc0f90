import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCommand } from '../../src/commands/backup.ts';
import { checkCommand } from '../../src/commands/check.ts';
import { listCommand } from '../../src/commands/list.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { restoreCommand } from '../../src/commands/restore.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { oneS3AttemptWhenUnanswered } from '../helpers/one-s3-attempt.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { runCommand } from '../restore/fixtures.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { dirBackdate, listKeys, seedBackups } from '../retention/fixtures.ts';

// The commands with two destinations (an S3 bucket behind a proxy that can take it down, and a directory).
describe('commands with two destinations', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let dir: string;
  let env: Record<string, string>;
  let restoreS3Tuning: () => void;

  before(async () => {
    // S3 is down in most tests: one attempt per request instead of 4 with back-off (see the helper).
    restoreS3Tuning = oneS3AttemptWhenUnanswered();
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server()]);
    proxy = await startTcpProxy(s3.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dest-cmd-'));
    await pg.createDatabase('dest_cmd');
    await pg.psql('CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 500) i;', 'dest_cmd');
    env = {
      BACKUP_DATABASE_URL: pg.url('dest_cmd'),
      AWS_S3_BUCKET: s3.bucket,
      AWS_S3_ENDPOINT: proxy.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      BACKUP_DIR: dir,
      LOG_LEVEL: 'silent',
    };
  });
  after(async () => {
    restoreS3Tuning?.();
    proxy?.restore();
    await proxy?.close();
    await Promise.all([pg?.stop(), s3?.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('backup stores one copy in each destination and says so per destination; list shows each', async () => {
    const backup = await runCommand(backupCommand, [], env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /^\[s3\] Backup stored: backup-\S+\.sql\.gz in s3:\/\/test-backups/m);
    assert.match(backup.stdout, /^\[dir\] Backup stored: backup-\S+\.sql\.gz in dir:/m);
    const list = await runCommand(listCommand, [], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^\[s3\] 1 backup in s3:\/\/test-backups/m);
    assert.match(list.stdout, /^\[dir\] 1 backup in dir:/m);
    const json = JSON.parse((await runCommand(listCommand, ['--json'], env)).stdout) as { destination: string }[];
    assert.deepEqual(json.map((b) => b.destination), ['s3', 'dir']);
  });

  it('with S3 down: backup exits 1 naming s3, the directory gets its copy, and list still lists the directory', async () => {
    proxy.down();
    try {
      const backup = await runCommand(backupCommand, [], env);
      assert.equal(backup.code, 1);
      assert.match(backup.stdout, /^\[s3\] Backup failed at stage "upload"/m);
      assert.match(backup.stdout, /^\[dir\] Backup stored/m);
      assert.match(backup.stderr, /backup stored in 1 of 2 destinations \("dir"\); "s3" failed: storage s3:\/\/test-backups/);
      const list = await runCommand(listCommand, [], env);
      assert.equal(list.code, 1, 'a destination could not be listed');
      assert.match(list.stderr, /^\[s3\] cannot list s3:\/\/test-backups/m);
      assert.match(list.stdout, /^\[dir\] 2 backups in dir:/m);
    } finally {
      proxy.restore();
    }
  });

  it('restore falls back to the directory when S3 is unreachable, and says so', async () => {
    proxy.down();
    try {
      const restored = await runCommand(restoreCommand, ['--latest', '--target-url', pg.url('dest_cmd_restored'), '--create'], env);
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stderr, /Destination "s3" \(s3:\/\/test-backups.*\) cannot be read: .*; using "dir" \(dir:.*\) instead/);
      assert.match(restored.stdout, /^Restored backup-\S+ into database "dest_cmd_restored"/);
      assert.equal(await pg.psql('SELECT count(*) FROM items', 'dest_cmd_restored'), '500');
    } finally {
      proxy.restore();
    }
  });

  it('verify and restore take --destination, and refuse a name that is not a destination', async () => {
    const verified = await runCommand(verifyCommand, ['--destination', 's3'], env);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stderr, /Reading from destination "s3" \(s3:\/\/test-backups/);
    assert.match(verified.stdout, /^OK backup-/);
    const refused = await runCommand(restoreCommand, ['--latest', '--destination', 'r2', '--target-url', pg.url('never')], env);
    assert.equal(refused.code, 64, 'a usage error');
    assert.match(refused.stderr, /--destination expects one of s3, dir \(the configured destinations\); got "r2"/);
  });

  it('prune goes over each destination in turn, or the one named', async () => {
    const dry = await runCommand(pruneCommand, ['--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Prune of s3:\/\/test-backups.*\n1 backup\(s\) under the prefix/m);
    assert.match(dry.stdout, /^Prune of dir:.*\n2 backup\(s\) under the prefix/m);
    const json = JSON.parse((await runCommand(pruneCommand, ['--dry-run', '--json', '--destination', 'dir'], env)).stdout) as { destination: string; dryRun: boolean }[];
    assert.deepEqual(json.map((d) => [d.destination, d.dryRun]), [['dir', true]]);
  });

  it('check checks each destination on its own: one that cannot be read fails while the other is fine', async () => {
    const ok = await runCommand(checkCommand, [], env);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^PASS s3: 1 backup, newest backup-/m);
    assert.match(ok.stdout, /^PASS dir: 2 backups, newest backup-/m);
    assert.match(ok.stdout, /OK: all 2 destinations fresh\./);
    proxy.down();
    try {
      const down = await runCommand(checkCommand, [], env);
      assert.equal(down.code, 2, down.stdout);
      assert.match(down.stdout, /^FAIL s3: /m);
      assert.match(down.stdout, /^PASS dir: 2 backups/m);
      assert.match(down.stdout, /FAIL: s3\.$/m);
    } finally {
      proxy.restore();
    }
  });

  it('prune with S3 down still prunes the directory, names s3 with what to check, and exits 1 (text and JSON)', async () => {
    const pruneEnv = { ...env, MIN_BACKUPS_KEPT: '1' };
    const { location } = loadConfig(pruneEnv);
    const store = new DirStore(dir);
    const now = new Date();
    const old = await seedBackups(store, dirBackdate(dir), location, [40, 41], now);
    proxy.down();
    try {
      const text = await runCommand(pruneCommand, [], pruneEnv);
      assert.equal(text.code, 1, 'a destination failed');
      assert.match(text.stderr, /^\[s3\] Prune of s3:\/\/test-backups.* failed: S3 endpoint unreachable .+\n {2}What to do: check that AWS_S3_ENDPOINT .*; check that destination "s3" \(s3:\/\/test-backups.*\) is reachable/m);
      assert.match(text.stderr, /Prune failed in 1 of 2 destination\(s\): "s3"; the others were pruned\./);
      assert.match(text.stdout, /^Prune of dir:.*\n.*\nDeleted 2 backup\(s\) and 2 manifest\(s\)/m);
      const left = await listKeys(store, '');
      for (const s of old) assert.ok(!left.includes(s.key), `${s.key} pruned from the directory`);

      const older = await seedBackups(store, dirBackdate(dir), location, [50], now);
      const json = await runCommand(pruneCommand, ['--json'], pruneEnv);
      assert.equal(json.code, 1);
      const docs = JSON.parse(json.stdout) as { destination: string; error?: string; hint?: string; deleted?: string[] }[];
      assert.deepEqual(docs.map((d) => d.destination), ['s3', 'dir']);
      assert.match(docs[0]?.error ?? '', /s3:\/\/test-backups/);
      assert.match(docs[0]?.hint ?? '', /check that destination "s3"/);
      assert.deepEqual(docs[1]?.deleted, [older[0]?.key, older[0]?.manifest]);
    } finally {
      proxy.restore();
    }
  });

  it('restore --latest --all reads the newest run from the directory when S3 is unreachable, and says so', async () => {
    await pg.psql('DROP DATABASE dest_cmd');
    proxy.down();
    try {
      const restored = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', pg.url('postgres')], env);
      assert.equal(restored.code, 0, restored.stdout + restored.stderr);
      assert.match(restored.stderr, /Destination "s3" \(s3:\/\/test-backups.*\) cannot be read: .*; using "dir" \(dir:.*\) instead/);
      assert.match(restored.stderr, /^Reading from destination "dir" \(dir:/m);
      assert.match(restored.stdout, /^ {2}dest_cmd: restored, 1 tables, 500 rows/m);
      assert.equal(await pg.psql('SELECT count(*) FROM items', 'dest_cmd'), '500');
    } finally {
      proxy.restore();
    }
  });
});
