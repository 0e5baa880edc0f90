import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { backupCommand } from '../../src/commands/backup.ts';
import type { Command } from '../../src/commands/command.ts';
import { restoreCommand } from '../../src/commands/restore.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { oneS3AttemptWhenUnanswered } from '../helpers/one-s3-attempt.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { runCommand } from '../restore/fixtures.ts';

// A command run with a Config object as given (runCommand loads one from the environment).
async function runWith(command: Command, args: string[], config: Config): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const into = (chunks: string[]) => new Writable({ write: (c: Buffer, _e, cb) => { chunks.push(c.toString()); cb(); } });
  const code = await command.run(args, { config, logger: silentLogger(), stdout: into(out), stderr: into(err), stopSignal: new AbortController().signal });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

// restore --latest --all and verify with the sets of SENTINEL_CONFIG: a set of one database and a set
// with `databases`, backed up into a directory; then read again with a bucket in front of it.
describe('restore --all and verify with the sets of SENTINEL_CONFIG', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let dir: string;
  let env: Record<string, string>;
  const databases = ['rsa_app', 'rsa_crm_a', 'rsa_crm_b'];

  const dropSources = async () => {
    for (const db of databases) await pg.psql(`DROP DATABASE IF EXISTS ${db}`);
  };

  before(async () => {
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server()]);
    proxy = await startTcpProxy(s3.port);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-restore-all-'));
    for (const [i, db] of databases.entries()) {
      await pg.createDatabase(db);
      await pg.psql(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, ${100 * (i + 1)});`, db);
    }
    const file = path.join(dir, 'sets.yaml');
    await fs.writeFile(
      file,
      `sets:
  - name: app
    databaseUrl: \${APP_URL}
  - name: crm
    databaseUrl: \${CRM_URL}
    databases: [rsa_crm_a, rsa_crm_b]
`,
    );
    env = { SENTINEL_CONFIG: file, APP_URL: pg.url('rsa_app'), CRM_URL: pg.url('postgres'), BACKUP_DIR: path.join(dir, 'backups'), LOG_LEVEL: 'silent' };
    const backup = await runCommand(backupCommand, [], env);
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);
  });
  after(async () => {
    await dropSources();
    await proxy?.close();
    await s3?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const count = async (db: string) => await pg.psql('SELECT count(*) FROM t', db);

  it("restores each set's newest backup, database by database for a set with databases, onto one server", async () => {
    await dropSources();
    const restored = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', pg.url('postgres')], env);
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.match(restored.stdout, /^Restore of each set's newest backup \(SENTINEL_CONFIG\) onto the server of database "postgres"/);
    assert.match(restored.stdout, /roles: not restored \(BACKUP_GLOBALS is not kept per set\)/);
    assert.match(restored.stdout, /^ {2}set app: rsa_app restored from app\/backup-\S+, 1 tables, 100 rows$/m);
    assert.match(restored.stdout, /^ {2}set crm\/rsa_crm_a: rsa_crm_a restored from crm\/rsa_crm_a\/backup-\S+, 1 tables, 200 rows$/m);
    assert.match(restored.stdout, /^ {2}set crm\/rsa_crm_b: rsa_crm_b restored from crm\/rsa_crm_b\/backup-\S+, 1 tables, 300 rows$/m);
    assert.match(restored.stdout, /Everything was restored\.\n$/);
    assert.deepEqual([await count('rsa_app'), await count('rsa_crm_a'), await count('rsa_crm_b')], ['100', '200', '300']);
  });

  // The directory's backups copied into the bucket, once: the tests only read them.
  let copied: Promise<void> | undefined;
  const copyToBucket = async (): Promise<void> => {
    const copy = createStore({ storage: s3.settings() });
    const local = new DirStore(env.BACKUP_DIR ?? '');
    for (const o of await local.list('')) await copy.put(o.key, await local.get(o.key));
  };

  // Two destinations with sets come from the configuration of the sets' destinations; here the Config is
  // given as that configuration makes it (a bucket first, then the directory; app writes to the bucket only).
  const withBucket = async (): Promise<Config> => {
    const base = loadConfig(env);
    const bucket = s3.settings(proxy.endpoint);
    await (copied ??= copyToBucket());
    return {
      ...base,
      storage: bucket,
      destinations: [
        { name: 's3', storage: bucket },
        { name: 'dir', storage: base.storage },
      ],
      sets: base.sets?.map((s) => (s.name === 'app' ? { ...s, destinations: ['s3'] } : s)),
    };
  };

  it('with several destinations: each set reads from its first reachable destination and says which; a set whose only destination is down fails alone', async () => {
    const config = await withBucket();
    await dropSources();
    proxy.down();
    const restoreRetries = oneS3AttemptWhenUnanswered();
    try {
      const restored = await runWith(restoreCommand, ['--latest', '--all', '--target-url', pg.url('postgres')], config);
      assert.equal(restored.code, 1, restored.stdout + restored.stderr);
      assert.match(restored.stderr, /^set crm: Destination "s3" \(s3:\/\/test-backups.*\) cannot be read: .*; using "dir" \(dir:.*\) instead$/m);
      assert.match(restored.stderr, /^set crm: reading from destination "dir" \(dir:/m);
      assert.match(restored.stdout, /^ {2}set app: FAILED: S3 endpoint unreachable/m);
      assert.match(restored.stdout, /^ {2}set crm\/rsa_crm_a: rsa_crm_a restored/m);
      assert.match(restored.stdout, /^ {2}set crm\/rsa_crm_b: rsa_crm_b restored/m);
      assert.match(restored.stdout, /Some sets were not restored/);
      assert.deepEqual([await count('rsa_crm_a'), await count('rsa_crm_b')], ['200', '300']);
    } finally {
      restoreRetries();
      proxy.restore();
    }
    // --destination dir: app does not write there, so it is named as not restored; crm is read from dir.
    await dropSources();
    const named = await runWith(restoreCommand, ['--latest', '--all', '--destination', 'dir', '--target-url', pg.url('postgres')], config);
    assert.equal(named.code, 1, named.stdout + named.stderr);
    assert.match(named.stdout, /^ {2}set app: FAILED: set app does not write to destination "dir" \(it writes to s3\)/m);
    assert.match(named.stdout, /^ {2}set crm\/rsa_crm_a: rsa_crm_a restored/m);
  });

  it("verify and restore with --set read only the set's destinations; --set with --destination picks the set's copy there", async () => {
    const config = await withBucket();
    const refused = await runWith(verifyCommand, ['--set', 'app', '--destination', 'dir'], config);
    assert.equal(refused.code, 64, refused.stderr);
    assert.match(refused.stderr, /--destination expects one of s3 \(the destinations set app writes to\); got "dir"/);
    const restoreRefused = await runWith(restoreCommand, ['--latest', '--set', 'app', '--destination', 'dir', '--target-url', pg.url('never')], config);
    assert.equal(restoreRefused.code, 64, restoreRefused.stderr);
    const app = await runWith(verifyCommand, ['--set', 'app'], config);
    assert.equal(app.code, 0, app.stderr);
    assert.match(app.stderr, /Reading from destination "s3" \(s3:\/\/test-backups/);
    assert.match(app.stdout, /^OK app\/backup-/);
    const crm = await runWith(verifyCommand, ['--set', 'crm/rsa_crm_b', '--destination', 'dir'], config);
    assert.equal(crm.code, 0, crm.stderr);
    assert.match(crm.stderr, /Reading from destination "dir" \(dir:/);
    assert.match(crm.stdout, /^OK crm\/rsa_crm_b\/backup-\S+: .*1 tables, 300 rows/);
  });

  it('prune --set works in the destinations the set writes to only: one it does not use being down is no failure', async () => {
    const config = await withBucket();
    const dirOnly = { ...config, sets: config.sets?.map((s) => (s.name === 'crm' ? { ...s, destinations: ['dir'] } : s)) };
    proxy.down();
    const restoreRetries = oneS3AttemptWhenUnanswered();
    try {
      const pruned = await runWith(pruneCommand, ['--dry-run', '--set', 'crm/rsa_crm_a'], dirOnly);
      assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
      assert.match(pruned.stdout, /^Prune of dir:.*prefix "crm\/rsa_crm_a\/backup-"/m);
      assert.doesNotMatch(pruned.stdout + pruned.stderr, /s3:\/\//);
    } finally {
      restoreRetries();
      proxy.restore();
    }
  });
});
