import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyPrefix } from '../../src/core/naming.ts';
import { Secret } from '../../src/config/secret.ts';
import type { Location } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { runDrill, type DrillRequest } from '../../src/restore/drill.ts';
import { restoreBackup } from '../../src/restore/restore.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { readObject, seedDatabase, storeRawBackup, takeBackup, tempDirStore } from './fixtures.ts';

const tools = findPgTools();
const day = (n: number) => new Date(Date.UTC(2026, 1, n, 3, 0, 0));

describe('restore drill', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;
  let folder = 0;
  const location = (): Location => ({ subfolder: `d${++folder}`, prefix: 'app_' });
  const request = (loc: Location, sourceDb: string | undefined): DrillRequest => ({
    store,
    prefix: keyPrefix(loc),
    // The scratch URL's own database is where the drill connects to create and drop its database.
    scratch: parseTargetUrl(new Secret(pg.url('scratch home')), 'VERIFY_RESTORE_URL'),
    source: sourceDb === undefined ? undefined : parseTargetUrl(new Secret(pg.url(sourceDb)), 'BACKUP_DATABASE_URL'),
    tools,
    decrypt: undefined,
    logger: silentLogger(),
  });
  const drillDatabases = () => pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'backup_sentinel_drill_%'");

  before(async () => {
    pg = await startPgCluster();
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'app', 300);
    await pg.createDatabase('scratch home');
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  it('restores the newest backup into a temporary database, checks its rows against the source, and drops it', async () => {
    const loc = location();
    await takeBackup(pg, 'app', store, { format: 'plain', compression: 'gzip', at: day(1), location: loc });
    const newest = await takeBackup(pg, 'app', store, { format: 'custom', compression: 'zstd', at: day(2), location: loc });
    const result = await runDrill(request(loc, 'app'));
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    assert.equal(result.key, newest);
    assert.equal(result.tables, 4);
    assert.equal(result.rows, 300 + 600 + 2);
    assert.equal(result.comparedWithSource, true);
    assert.match(result.database ?? '', /^backup_sentinel_drill_\d{8}_\d{6}_[0-9a-f]{6}$/);
    assert.ok(result.restoreMs !== undefined && result.restoreMs >= 0);
    assert.equal(await drillDatabases(), '0');
  });

  it('fails a drill of a broken dump, says why, and still drops the temporary database', async () => {
    const loc = location();
    const good = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'none', at: day(3), location: loc });
    const text = (await readObject(dir, good)).toString('utf8');
    const broken = text.replace('\n--\n-- PostgreSQL database dump complete', '\nSELECT * FROM table_that_is_not_there;\n--\n-- PostgreSQL database dump complete');
    assert.notEqual(broken, text);
    await storeRawBackup(store, day(4), 'plain', Buffer.from(broken), loc);
    const result = await runDrill(request(loc, 'app'));
    assert.equal(result.ok, false);
    assert.equal(result.problems.length, 1, JSON.stringify(result.problems));
    assert.match(result.problems[0] ?? '', /^restoring .*2026-02-04_03-00-00\.sql failed: psql stopped restoring into .*relation "table_that_is_not_there" does not exist/);
    assert.equal(await drillDatabases(), '0');
  });

  it('fails a drill whose restored rows are far from what the source database holds', async () => {
    const loc = location();
    await pg.createDatabase('growing');
    await pg.psql('CREATE TABLE events (id int); INSERT INTO events SELECT generate_series(1, 10);', 'growing');
    await takeBackup(pg, 'growing', store, { format: 'plain', compression: 'gzip', at: day(5), location: loc });
    await pg.psql('INSERT INTO events SELECT generate_series(1, 5000); ANALYZE events;', 'growing');
    const result = await runDrill(request(loc, 'growing'));
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems, ['public.events has 10 rows after restoring, the source database has about 5010']);
    // Without a source to compare with, the same backup passes: the dump's own rows came back.
    const alone = await runDrill(request(loc, undefined));
    assert.equal(alone.ok, true, JSON.stringify(alone.problems));
    assert.equal(alone.comparedWithSource, false);
  });

  it('passes on a scratch server that lacks the roles owning the source\'s tables, which a plain restore would not', async () => {
    const loc = location();
    await pg.psql('CREATE ROLE app_owner; CREATE ROLE reader;');
    await pg.createDatabase('owned');
    await pg.psql('CREATE TABLE t (x int); ALTER TABLE t OWNER TO app_owner; GRANT SELECT ON t TO reader; INSERT INTO t VALUES (1), (2);', 'owned');
    const key = await takeBackup(pg, 'owned', store, { format: 'plain', compression: 'gzip', at: day(6), location: loc });
    await takeBackup(pg, 'owned', store, { format: 'custom', compression: 'gzip', at: day(7), location: loc });
    await pg.psql('REASSIGN OWNED BY app_owner TO postgres; DROP OWNED BY app_owner, reader; DROP ROLE app_owner; DROP ROLE reader;', 'owned');
    const plain = await runDrill({ ...request(loc, 'owned'), key });
    assert.deepEqual(plain.problems, []);
    assert.equal(plain.rows, 2);
    const custom = await runDrill(request(loc, 'owned'));
    assert.deepEqual(custom.problems, []);
    await pg.createDatabase('with owners');
    await assert.rejects(
      restoreBackup({ store, key, prefix: keyPrefix(loc), target: parseTargetUrl(new Secret(pg.url('with owners')), 'test'), decrypt: undefined, tools, logger: silentLogger() }),
      /role "app_owner" does not exist/,
    );
  });

  it('fails a drill when there is no backup to restore', async () => {
    const result = await runDrill(request(location(), 'app'));
    assert.equal(result.ok, false);
    assert.match(result.problems[0] ?? '', /no backups under "d\d+\/app_"/);
  });
});
