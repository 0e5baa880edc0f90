import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import pg from 'pg';
import { runGlobalsJob } from '../../src/backup/globals.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import type { Location } from '../../src/config/types.ts';
import { backupCommand } from '../../src/commands/backup.ts';
import { restoreCommand } from '../../src/commands/restore.ts';
import { silentLogger } from '../../src/logger.ts';
import { databaseLocation } from '../../src/core/naming.ts';
import { restoreServer } from '../../src/restore/restore-server.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import { Secret } from '../../src/config/secret.ts';
import { backupSettings } from '../backup/fixtures.ts';
import { sharedPgCluster, startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { generateKeyPair } from '../crypto/age-helpers.ts';
import { runCommand, storeRawBackup, tempDirStore } from './fixtures.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';

// A whole server backed up (globals + each database, one run = one timestamp) and restored with
// `restore --latest --all` into fresh clusters: roles, owners, grants and rows must come back, and a
// role that already exists on the target must keep its password.

const LOCATION: Location = { subfolder: 'srv', prefix: 'bk-' };
const RUN_AT = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
// A space in a name, and one name a prefix of another.
const DATABASES = ['shop data', 'app', 'app_v2'];

async function seedSource(pg: PgCluster): Promise<void> {
  await pg.psql(
    `CREATE ROLE app_owner LOGIN PASSWORD 'owner-pw';
     CREATE ROLE app_reader LOGIN PASSWORD 'reader-pw';
     CREATE ROLE reporting NOLOGIN;
     GRANT reporting TO app_reader;
     CREATE DATABASE "shop data" OWNER app_owner;
     CREATE DATABASE app OWNER app_owner;
     CREATE DATABASE app_v2 OWNER app_reader;`,
  );
  for (const [i, db] of DATABASES.entries()) {
    const owner = db === 'app_v2' ? 'app_reader' : 'app_owner';
    await pg.psql(
      `SET ROLE ${owner};
       CREATE TABLE items (id int PRIMARY KEY, name text);
       INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, ${100 * (i + 1)}) g;
       CREATE TABLE notes (id serial PRIMARY KEY, body text);
       INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, ${7 + i}) g;
       GRANT SELECT ON items TO ${owner === 'app_owner' ? 'app_reader' : 'app_owner'};
       GRANT SELECT, INSERT ON notes TO reporting;
       RESET ROLE;`,
      db,
    );
  }
}

// What must survive a restore: rows, owners and grants of every table, and the database owner.
async function describeDatabase(pg: PgCluster, db: string): Promise<string> {
  return await pg.psql(
    `SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())
       || ' | ' || (SELECT string_agg(tablename || ':' || tableowner, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public')
       || ' | ' || (SELECT string_agg(table_name || ':' || grantee || ':' || privilege_type, ',' ORDER BY table_name, grantee, privilege_type)
                    FROM information_schema.role_table_grants WHERE table_schema = 'public' AND grantee <> grantor)
       || ' | ' || (SELECT count(*) FROM items) || ' ' || (SELECT count(*) FROM notes)`,
    db,
  );
}

async function canLogin(cluster: PgCluster, user: string, password: string): Promise<boolean> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user, password, database: 'postgres' });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function backUpServer(source: PgCluster, store: DirStore): Promise<void> {
  for (const db of DATABASES) {
    const result = await runBackupJob(
      { settings: backupSettings(source.url(db)), location: databaseLocation(LOCATION, db), store, logger: silentLogger(), clock: () => RUN_AT },
      { runId: 'run-1', trigger: 'manual' },
    );
    assert.equal(result.status, 'success', `backup of ${db}: ${JSON.stringify(result)}`);
  }
  const globals = await runGlobalsJob(
    { settings: backupSettings(source.url('postgres')), location: LOCATION, store, logger: silentLogger() },
    { runId: 'run-1', trigger: 'manual', startedAt: RUN_AT },
  );
  assert.equal(globals.status, 'success', JSON.stringify(globals));
}

function env(dir: string): Record<string, string> {
  return { BACKUP_DIR: dir, BUCKET_SUBFOLDER: LOCATION.subfolder, BACKUP_FILE_PREFIX: LOCATION.prefix };
}

describe('restore --latest --all (a whole server)', () => {
  let source: PgCluster;
  // The restores' server: one for the suite, which each test empties of what the restores bring first
  // (a cluster of its own per test cost about a second of CPU and two of wall each).
  let target: PgCluster;
  let storage: Awaited<ReturnType<typeof tempDirStore>>;
  const original = new Map<string, string>();

  before(async () => {
    [source, storage] = await Promise.all([sharedPgCluster(), tempDirStore()]);
    // Started beside the seeding and the backups, and awaited even when they fail, so after() stops it.
    const started = startPgCluster();
    try {
      await seedSource(source);
      for (const db of DATABASES) original.set(db, await describeDatabase(source, db));
      await backUpServer(source, storage.store);
    } finally {
      target = await started;
    }
  });
  after(async () => {
    await target?.stop();
    await storage.remove();
  });

  // The target as a fresh cluster is: none of the source's databases and roles.
  const emptyTarget = async () => {
    for (const db of [...DATABASES, 'restored']) await target.psql(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    await target.psql('DROP ROLE IF EXISTS app_owner; DROP ROLE IF EXISTS app_reader; DROP ROLE IF EXISTS reporting');
  };

  it('stores one object per database under its own folder and the globals under @globals, all with the run time', async () => {
    const keys = (await storage.store.list('srv/')).map((o) => o.key).filter((k) => !k.endsWith('.manifest.json'));
    assert.deepEqual(keys.sort(), [
      'srv/@globals/bk-2026-01-02_03-04-05.sql.gz',
      'srv/app/bk-2026-01-02_03-04-05.sql.gz',
      'srv/app_v2/bk-2026-01-02_03-04-05.sql.gz',
      'srv/shop%20data/bk-2026-01-02_03-04-05.sql.gz',
    ]);
  });

  it('restores roles, then every database with its owner, grants and rows, into a fresh cluster', async () => {
    await emptyTarget();
    const out = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', target.url('postgres')], env(storage.dir));
    assert.equal(out.code, 0, out.stdout + out.stderr);
    for (const db of DATABASES) assert.equal(await describeDatabase(target, db), original.get(db), `database "${db}"`);
    assert.match(out.stdout, /globals: 3 roles created \(app_owner, app_reader, reporting\)/);
    assert.match(out.stdout, /shop data: restored, 2 tables, 107 rows, owner app_owner/);
    assert.match(out.stdout, /app_v2: restored, 2 tables, 309 rows, owner app_reader/);
    // Role memberships and passwords came back (the backup user was a superuser).
    assert.equal(await target.psql("SELECT pg_has_role('app_reader', 'reporting', 'MEMBER')"), 't');
    assert.equal(await canLogin(target, 'app_owner', 'owner-pw'), true);
    // The restoring superuser's own password was not replaced by the source's.
    assert.match(out.stdout, /already on the target, left unchanged \(password included\): postgres/);
  });

  it('leaves a role that already exists on the target as it is (password unchanged) and reports it', async () => {
    await emptyTarget();
    await target.psql("CREATE ROLE app_reader LOGIN PASSWORD 'target-pw' CONNECTION LIMIT 3");
    const out = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', target.url('postgres')], env(storage.dir));
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /left unchanged \(password included\): app_reader, postgres|left unchanged \(password included\): postgres, app_reader/);
    assert.equal(await canLogin(target, 'app_reader', 'target-pw'), true, 'the existing password still works');
    assert.equal(await canLogin(target, 'app_reader', 'reader-pw'), false, "the source's password was not set");
    assert.equal(await target.psql("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app_reader'"), '3');
    // Its objects and grants are restored all the same.
    assert.equal(await describeDatabase(target, 'app_v2'), original.get('app_v2'));
  });

  it('restore --set NAME restores that database only, not the one whose name it prefixes', async () => {
    await emptyTarget();
    await target.psql('CREATE ROLE app_owner; CREATE ROLE app_reader; CREATE ROLE reporting');
    const out = await runCommand(restoreCommand, ['--latest', '--set', 'app', '--target-url', target.url('restored'), '--create'], env(storage.dir));
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stderr, /Newest backup: srv\/app\/bk-2026-01-02_03-04-05\.sql\.gz/);
    assert.equal(await target.psql('SELECT count(*) FROM items', 'restored'), '200');
    const missing = await runCommand(restoreCommand, ['--set', 'ap', '--target-url', target.url('other'), '--create'], env(storage.dir));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no backups under "srv\/ap\/bk-"/);
  });
});

describe('one database with BACKUP_GLOBALS, encrypted', () => {
  it('backup stores both encrypted; restore --all brings back the role and the database with its owner', async () => {
    const source = await sharedPgCluster();
    const storage = await tempDirStore();
    try {
      await source.psql("CREATE ROLE solo_owner LOGIN PASSWORD 'solo-pw'; CREATE DATABASE solo OWNER solo_owner");
      await source.psql('SET ROLE solo_owner; CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 42) g', 'solo');
      // A key pair, not a passphrase: scrypt's work factor would make every read of an object take seconds.
      const key = await generateKeyPair(storage.dir, 'key');
      const env = {
        BACKUP_DIR: path.join(storage.dir, 'store'),
        BACKUP_FILE_PREFIX: 'solo-',
        BACKUP_DATABASE_URL: source.url('solo'),
        BACKUP_GLOBALS: 'true',
        BACKUP_ENCRYPTION_RECIPIENTS: key.recipient,
        BACKUP_ENCRYPTION_IDENTITY: key.identity,
      };
      const backup = await runCommand(backupCommand, [], env);
      assert.equal(backup.code, 0, backup.stdout + backup.stderr);
      assert.match(backup.stdout, /Globals stored: @globals\/solo-\S+\.sql\.gz\.age/);
      await source.psql('DROP DATABASE solo');
      await source.psql('DROP ROLE solo_owner');
      const out = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', source.url('postgres')], env);
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /globals: 1 role created \(solo_owner\)/);
      assert.match(out.stdout, /solo: restored, 1 tables, 42 rows, owner solo_owner/);
      assert.equal(await source.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'solo'"), 'solo_owner');
      assert.equal(await source.psql("SELECT tableowner || ' ' || (SELECT count(*) FROM t) FROM pg_tables WHERE tablename = 't'", 'solo'), 'solo_owner 42');
      assert.equal(await canLogin(source, 'solo_owner', 'solo-pw'), true);
    } finally {
      await source.psql('DROP DATABASE IF EXISTS solo WITH (FORCE)');
      await source.psql('DROP ROLE IF EXISTS solo_owner');
      await storage.remove();
    }
  });
});

describe('which run restore --all takes', () => {
  it('the newest database backups, the newest earlier globals when that run has none, and each database missing from the run reported', async () => {
    const storage = await tempDirStore();
    try {
      const t1 = new Date(Date.UTC(2026, 1, 1, 3, 0, 0));
      const t2 = new Date(Date.UTC(2026, 1, 2, 3, 0, 0));
      const sql = Buffer.from('CREATE TABLE t (x int);\n');
      await storeRawBackup(storage.store, t1, 'plain', sql, databaseLocation(LOCATION, 'app'));
      await storeRawBackup(storage.store, t2, 'plain', sql, databaseLocation(LOCATION, 'app'));
      await storeRawBackup(storage.store, t1, 'plain', sql, databaseLocation(LOCATION, 'other db'));
      await storeRawBackup(storage.store, t1, 'plain', Buffer.from('CREATE ROLE r;\n'), { subfolder: `${LOCATION.subfolder}/@globals`, prefix: LOCATION.prefix });
      // Nothing listens on port 1: every part that needs the server fails, and is reported, not thrown.
      const summary = await restoreServer({
        store: storage.store,
        location: LOCATION,
        target: parseTargetUrl(new Secret('postgres://nobody@127.0.0.1:1/postgres'), '--target-url'),
        decrypt: undefined,
        tools: findPgTools(),
        logger: silentLogger(),
      });
      assert.equal(summary.runTime.getTime(), t2.getTime());
      assert.equal(summary.globalsTime?.getTime(), t1.getTime());
      assert.match(summary.globalsError ?? '', /cannot connect/);
      assert.equal(summary.ok, false);
      assert.deepEqual(
        summary.databases.map((d) => [d.database, d.key, d.status]),
        [
          ['app', 'srv/app/bk-2026-02-02_03-00-00.sql', 'failed'],
          ['other db', undefined, 'failed'],
        ],
      );
      assert.match(summary.databases[1]?.error ?? '', /^no backup from this run \(its newest is 2026-02-01_03-00-00\)$/);
    } finally {
      await storage.remove();
    }
  });
});

describe('restore --all arguments', () => {
  for (const args of [['--all', '--key', 'x'], ['--all', '--set', 'app'], ['--all', '--clean'], ['--all', '--no-owner']]) {
    it(`refuses ${args.join(' ')} with exit 64`, async () => {
      const out = await runCommand(restoreCommand, [...args, '--target-url', 'postgres://u@127.0.0.1:1/postgres'], { BACKUP_DIR: '/nonexistent' });
      assert.equal(out.code, 64, out.stderr);
      assert.match(out.stderr, /--all/);
    });
  }
});

describe('globals backed up by a user that cannot read role passwords', () => {
  it('falls back to --no-role-passwords and says so in the log and the manifest', async () => {
    const source = await sharedPgCluster();
    const storage = await tempDirStore();
    try {
      await source.psql("CREATE ROLE plain_backup LOGIN PASSWORD 'plain-pw'; CREATE ROLE secret_holder LOGIN PASSWORD 'never-shown'");
      const logs = captureLogs('info');
      const result = await runGlobalsJob(
        { settings: backupSettings(source.url('postgres', 'plain_backup', 'plain-pw')), location: LOCATION, store: storage.store, logger: logs.logger },
        { runId: 'np', trigger: 'manual', startedAt: new Date(Date.UTC(2026, 0, 3)) },
      );
      assert.equal(result.status, 'success', JSON.stringify(result));
      assert.ok(result.status === 'success');
      assert.equal(result.manifest.globals?.rolePasswords, 'omitted');
      assert.match(logs.text(), /--no-role-passwords/);
      const { stdout: sql } = await execa('gzip', ['-dc', `${storage.dir}/${result.key}`]);
      assert.match(sql, /CREATE ROLE secret_holder;/);
      assert.doesNotMatch(sql, /PASSWORD|SCRAM-SHA-256/);

      // Restored where that role is gone: it comes back without a password, and the summary says so.
      await source.psql('DROP ROLE secret_holder');
      const out = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', source.url('postgres')], env(storage.dir));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /globals: 1 role created \(secret_holder\)/);
      assert.match(out.stdout, /the backup has no role passwords .*ALTER ROLE \.\.\. PASSWORD/);
      assert.equal(await source.psql("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'secret_holder'"), 't');
    } finally {
      await source.psql('DROP ROLE IF EXISTS plain_backup; DROP ROLE IF EXISTS secret_holder');
      await storage.remove();
    }
  });
});

describe('restoring globals as a user that is no superuser (a managed server\'s admin)', () => {
  it('creates the roles with LOGIN and password, leaving out the attributes only a superuser may set, and says so', async () => {
    const source = await sharedPgCluster();
    const storage = await tempDirStore();
    try {
      await source.psql("CREATE ROLE managed_app LOGIN PASSWORD 'm-pw'; CREATE ROLE restorer LOGIN CREATEROLE PASSWORD 'r-pw'");
      const globals = await runGlobalsJob(
        { settings: backupSettings(source.url('postgres')), location: LOCATION, store: storage.store, logger: silentLogger() },
        { runId: 'managed', trigger: 'manual', startedAt: new Date(Date.UTC(2026, 0, 4)) },
      );
      assert.equal(globals.status, 'success', JSON.stringify(globals));
      await source.psql('DROP ROLE managed_app');
      const out = await runCommand(restoreCommand, ['--latest', '--all', '--target-url', source.url('postgres', 'restorer', 'r-pw')], env(storage.dir));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /globals: managed_app was set without NOSUPERUSER, NOREPLICATION, NOBYPASSRLS \(only a superuser may set them\)/);
      assert.equal(await canLogin(source, 'managed_app', 'm-pw'), true);
    } finally {
      await source.psql('DROP ROLE IF EXISTS managed_app; DROP ROLE IF EXISTS restorer');
      await storage.remove();
    }
  });
});
