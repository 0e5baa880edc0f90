import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { Secret } from '../../src/config/secret.ts';
import type { Finding } from '../../src/core/findings.ts';
import { silentLogger } from '../../src/logger.ts';
import { drillGlobals } from '../../src/restore/globals-drill.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import { SetVerify } from '../../src/sets/set-verify.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { storeRawBackup, tempDirStore } from './fixtures.ts';

// The restore drill of a whole server's roles: the newest globals script runs on the scratch server
// inside a transaction that is rolled back, so it proves the roles come back and leaves none behind.

const GLOBALS = { subfolder: 'srv/@globals', prefix: 'bk-' };

describe('restore drill of the roles (BACKUP_GLOBALS)', () => {
  let pg: PgCluster;
  let storage: { store: DirStore; dir: string; remove: () => Promise<void> };

  before(async () => {
    pg = await sharedPgCluster();
    storage = await tempDirStore();
  });
  after(async () => {
    await storage?.remove();
  });

  const roleExists = async (role: string): Promise<boolean> => (await pg.psql(`SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`)).trim() === '1';
  const drill = () =>
    drillGlobals({
      store: storage.store,
      prefix: `${GLOBALS.subfolder}/${GLOBALS.prefix}`,
      scratch: parseTargetUrl(new Secret(pg.url('postgres')), 'VERIFY_RESTORE_URL'),
      tools: findPgTools(),
      decrypt: undefined,
      logger: silentLogger(),
    });

  it('runs every statement, skips tablespaces and leaves no role behind', async () => {
    await storeRawBackup(
      storage.store,
      new Date(Date.UTC(2026, 0, 1, 3)),
      'plain',
      Buffer.from(
        `CREATE ROLE drill_owner;\nALTER ROLE drill_owner WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'pw';\n` +
          `CREATE ROLE drill_reader;\nGRANT drill_owner TO drill_reader;\nCREATE TABLESPACE drill_space OWNER drill_owner LOCATION '/nowhere';\n`,
      ),
      GLOBALS,
    );
    const record = await drill();
    assert.deepEqual(record?.problems, []);
    assert.equal(record?.ok, true);
    assert.match(record?.key ?? '', /^srv\/@globals\/bk-2026-01-01_03-00-00\.sql$/);
    assert.equal(await roleExists('drill_owner'), false, 'the rehearsal was rolled back');
    assert.equal(await roleExists('drill_reader'), false);
  });

  it('reports a statement the server refuses and still tries the ones after it', async () => {
    await storeRawBackup(
      storage.store,
      new Date(Date.UTC(2026, 0, 2, 3)),
      'plain',
      Buffer.from(`CREATE ROLE drill_a;\nGRANT drill_missing_role TO drill_a;\nCREATE ROLE drill_b;\nALTER ROLE drill_b WITH LOGIN;\n`),
      GLOBALS,
    );
    const record = await drill();
    assert.equal(record?.ok, false);
    // Without a savepoint per statement, every statement after the refused one fails too.
    assert.equal(record?.problems.length, 1, JSON.stringify(record?.problems));
    assert.match(record?.problems[0]?.message ?? '', /refused "GRANT drill_missing_role TO drill_a;": role "drill_missing_role" does not exist/);
    assert.equal(await roleExists('drill_a'), false);
  });

  it('is part of the sets verification: a drill_failed finding and alert for @globals', async () => {
    const config = loadConfig({
      BACKUP_DIR: storage.dir,
      BUCKET_SUBFOLDER: 'srv',
      BACKUP_FILE_PREFIX: 'bk-',
      BACKUP_DATABASE_URL: pg.url('postgres'),
      BACKUP_DATABASES: 'postgres',
      BACKUP_GLOBALS: 'true',
      VERIFY_RESTORE_URL: pg.url('postgres'),
    });
    const verify = new SetVerify(config, storage.store, silentLogger());
    const told: { set: string; findings: Finding[] }[] = [];
    verify.onResult((set, findings) => {
      told.push({ set, findings });
    });
    await verify.runAll();
    const globals = told.find((t) => t.set === '@globals');
    assert.equal(globals?.findings[0]?.check, 'drill_failed', JSON.stringify(told));
    assert.match(globals?.findings[0]?.summary ?? '', /^@globals: restore drill of srv\/@globals\/bk-2026-01-02_03-00-00\.sql failed: the scratch server refused/);
    assert.deepEqual(
      verify.findings().map((f) => [f.set, f.check]),
      [['@globals', 'drill_failed']],
    );
  });
});
