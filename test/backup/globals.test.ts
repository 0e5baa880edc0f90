import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { globalsLocation, runGlobalsJob, withGlobals } from '../../src/backup/globals.ts';
import { backupCommand } from '../../src/commands/backup.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ConfigError } from '../../src/errors.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import { encodeDatabaseFolder } from '../../src/core/naming.ts';
import type { BackupResult } from '../../src/backup/result.ts';
import { silentLogger } from '../../src/logger.ts';
import { classifyGlobalsStatement, splitSqlStatements, withoutSuperuserAttributes } from '../../src/restore/globals-sql.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { findPgBinDir, sharedPgCluster } from '../helpers/pg-cluster.ts';
import { runCommand } from '../restore/fixtures.ts';
import { backupSettings } from './fixtures.ts';

describe('database folders and the globals folder', () => {
  it('encodes every byte outside [A-Za-z0-9_.-] and a leading dot, so no folder escapes, hides or collides', () => {
    assert.equal(encodeDatabaseFolder('shop data'), 'shop%20data');
    assert.equal(encodeDatabaseFolder('a/b'), 'a%2Fb');
    assert.equal(encodeDatabaseFolder('.backup-sentinel'), '%2Ebackup-sentinel');
    assert.equal(encodeDatabaseFolder('@globals'), '%40globals');
    assert.equal(encodeDatabaseFolder('app_v2.x-1'), 'app_v2.x-1');
    assert.equal(encodeDatabaseFolder('café'), 'caf%C3%A9');
  });

  it('refuses at start a file prefix starting with "@" with BACKUP_GLOBALS=true (the globals would be listed as backups)', () => {
    const env = { BACKUP_DIR: '/tmp/x', BACKUP_DATABASE_URL: 'postgres://u@h/db', BACKUP_FILE_PREFIX: '@bk-' };
    assert.equal(loadConfig(env).location.prefix, '@bk-');
    assert.throws(() => loadConfig({ ...env, BACKUP_GLOBALS: 'true' }), (error: ConfigError) => {
      assert.deepEqual(error.problems, [{ variable: 'BACKUP_FILE_PREFIX', expected: 'a prefix that does not start with "@" when BACKUP_GLOBALS=true (the globals folder "@globals/" would be read as backups)', given: '"@bk-"' }]);
      return true;
    });
  });

  it('puts the globals under @globals beside the database folders', () => {
    assert.deepEqual(globalsLocation({ subfolder: 'prod', prefix: 'bk-' }), { subfolder: 'prod/@globals', prefix: 'bk-' });
    assert.deepEqual(globalsLocation({ subfolder: '', prefix: 'bk-' }), { subfolder: '@globals', prefix: 'bk-' });
  });
});

describe('reading a pg_dumpall --globals-only script', () => {
  it('splits statements, keeping quoted semicolons and newlines, dropping comments and psql meta-commands', () => {
    const sql = [
      '\\restrict abc',
      'SET standard_conforming_strings = on;',
      '--',
      '-- Roles',
      '--',
      'CREATE ROLE "we;ird""name";',
      "ALTER ROLE \"we;ird\"\"name\" WITH LOGIN PASSWORD 'SCRAM;x''y';",
      "COMMENT ON ROLE alice IS 'line one;\nline two';",
      "COMMENT ON ROLE bob IS E'back\\\\slash \\' quote;';",
      '\\unrestrict abc',
    ].join('\n');
    assert.deepEqual(splitSqlStatements(sql), [
      'SET standard_conforming_strings = on;',
      'CREATE ROLE "we;ird""name";',
      "ALTER ROLE \"we;ird\"\"name\" WITH LOGIN PASSWORD 'SCRAM;x''y';",
      "COMMENT ON ROLE alice IS 'line one;\nline two';",
      "COMMENT ON ROLE bob IS E'back\\\\slash \\' quote;';",
    ]);
  });

  it('leaves out of ALTER ROLE the attributes only a superuser may set, never touching the password', () => {
    assert.deepEqual(withoutSuperuserAttributes("ALTER ROLE a WITH NOSUPERUSER INHERIT LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:SUPERUSER';"), {
      statement: "ALTER ROLE a WITH INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:SUPERUSER';",
      dropped: ['NOSUPERUSER', 'NOREPLICATION', 'NOBYPASSRLS'],
    });
    assert.deepEqual(withoutSuperuserAttributes('ALTER ROLE a WITH SUPERUSER;'), { statement: '', dropped: ['SUPERUSER'] });
    assert.equal(withoutSuperuserAttributes('ALTER ROLE a WITH LOGIN;'), undefined);
    assert.equal(withoutSuperuserAttributes('CREATE ROLE superuser_fan;'), undefined);
  });

  it('tells which role a statement changes, and which wait for the databases', () => {
    assert.deepEqual(classifyGlobalsStatement('CREATE ROLE "we;ird""name";'), { kind: 'role', role: 'we;ird"name', create: true });
    assert.deepEqual(classifyGlobalsStatement("ALTER ROLE alice WITH LOGIN PASSWORD 'x';"), { kind: 'role', role: 'alice', create: false });
    assert.deepEqual(classifyGlobalsStatement("COMMENT ON ROLE alice IS 'x';"), { kind: 'role', role: 'alice', create: false });
    assert.deepEqual(classifyGlobalsStatement('ALTER ROLE alice IN DATABASE "shop data" SET work_mem TO \'64MB\';'), { kind: 'database-setting', role: 'alice' });
    assert.deepEqual(classifyGlobalsStatement("CREATE TABLESPACE fast OWNER alice LOCATION '/ssd';"), { kind: 'other' });
  });
});

describe('a globals failure and a database failure stay apart', () => {
  it('a failed globals dump is its own failed result; the database backup is stored', async () => {
    const pg = await sharedPgCluster();
    await pg.createDatabase('globals_apart');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'globals-apart-'));
    try {
      // A pg_dump with no pg_dumpall beside it: the globals cannot be dumped.
      const lonely = path.join(dir, 'bin');
      await fs.mkdir(lonely);
      await fs.symlink(path.join(findPgBinDir(), 'pg_dump'), path.join(lonely, 'pg_dump'));
      const store = new DirStore(path.join(dir, 'store'));
      const settings = backupSettings(pg.url('globals_apart'), { pgDumpPath: path.join(lonely, 'pg_dump') });
      const deps = { settings, location: { subfolder: '', prefix: 'bk-' }, store, logger: silentLogger() };
      const told: BackupResult[] = [];
      const result = await withGlobals((run) => runBackupJob(deps, run), deps, (g) => told.push(g))({ runId: 'r1', trigger: 'manual' });
      assert.equal(result.status, 'success', JSON.stringify(result));
      assert.equal(told.length, 1);
      const globals = told[0];
      assert.ok(globals?.status === 'failed');
      assert.match(globals.shortMessage, /^globals: no pg_dumpall beside .*bin\/pg_dump \(BACKUP_GLOBALS=true needs it\)$/);
      assert.match(globals.error.hint ?? '', /BACKUP_GLOBALS=false/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('a failed database dump does not stop the globals, which carry the same run time', async () => {
    const pg = await sharedPgCluster();
    await pg.createDatabase('globals_apart2');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'globals-apart-'));
    try {
      const store = new DirStore(dir);
      const at = new Date(Date.UTC(2026, 4, 6, 7, 8, 9));
      const settings = backupSettings(pg.url('globals_apart2'), { options: ['--table=no_such_table'] });
      const deps = { settings, location: { subfolder: '', prefix: 'bk-' }, store, logger: silentLogger(), clock: () => at };
      const told: BackupResult[] = [];
      const result = await withGlobals((run) => runBackupJob(deps, run), deps, (g) => told.push(g))({ runId: 'r2', trigger: 'manual' });
      assert.equal(result.status, 'failed');
      assert.ok(told[0]?.status === 'success', JSON.stringify(told[0]));
      assert.equal(told[0].key, '@globals/bk-2026-05-06_07-08-09.sql.gz');
      assert.equal(told[0].manifest.globals?.rolePasswords, 'included');
      assert.ok(told[0].manifest.globals?.databases.some((d) => d.name === 'globals_apart2' && d.owner === 'postgres'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('two replicas never dump the globals at once: the second is skipped', async () => {
    const pg = await sharedPgCluster();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'globals-lock-'));
    try {
      const store = new DirStore(dir);
      const deps = { settings: backupSettings(pg.url('postgres')), location: { subfolder: '', prefix: 'bk-' }, store, logger: silentLogger() };
      const [a, b] = await Promise.all([
        runGlobalsJob(deps, { runId: 'a', trigger: 'manual', startedAt: new Date(Date.UTC(2026, 0, 1)) }),
        runGlobalsJob(deps, { runId: 'b', trigger: 'manual', startedAt: new Date(Date.UTC(2026, 0, 1)) }),
      ]);
      const statuses = [a.status, b.status].sort();
      // The second is skipped while the first holds the lock; had the first ended before the second
      // asked, the second finds the object there and fails instead of overwriting it.
      assert.ok(statuses[1] === 'success' && (statuses[0] === 'skipped' || statuses[0] === 'failed'), JSON.stringify([a, b]));
      assert.equal((await store.list('@globals/')).filter((o) => !o.key.endsWith('.json')).length, 1);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('backup with BACKUP_GLOBALS=true', () => {
  it('stores the database and the globals under one timestamp and prints both; a globals failure exits 1 with the database stored', async () => {
    const pg = await sharedPgCluster();
    await pg.createDatabase('globals_cmd');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'globals-cmd-'));
    try {
      const env = { BACKUP_DATABASE_URL: pg.url('globals_cmd'), BACKUP_DIR: path.join(dir, 'ok'), BACKUP_FILE_PREFIX: 'bk-', BACKUP_GLOBALS: 'true', LOG_LEVEL: 'silent' };
      const ok = await runCommand(backupCommand, [], env);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const stamp = /^Backup stored: bk-(\S+)\.sql\.gz/.exec(ok.stdout)?.[1];
      assert.ok(stamp, ok.stdout);
      assert.match(ok.stdout, new RegExp(`\nGlobals stored: @globals/bk-${stamp}\\.sql\\.gz in dir:`));

      const lonely = path.join(dir, 'bin');
      await fs.mkdir(lonely);
      await fs.symlink(path.join(findPgBinDir(), 'pg_dump'), path.join(lonely, 'pg_dump'));
      const bad = await runCommand(backupCommand, [], { ...env, BACKUP_DIR: path.join(dir, 'bad'), PG_DUMP_PATH: path.join(lonely, 'pg_dump') });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /^Backup stored: bk-/);
      assert.match(bad.stdout, /\nGlobals failed at stage "version-check" .*: globals: no pg_dumpall beside/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
