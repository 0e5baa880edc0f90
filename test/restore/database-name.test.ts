import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyPrefix } from '../../src/core/naming.ts';
import { Secret } from '../../src/config/secret.ts';
import { silentLogger } from '../../src/logger.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { restoreBackup } from '../../src/restore/restore.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { LOCATION, seedDatabase, takeBackup, tempDirStore } from './fixtures.ts';

// A database whose name needs escaping in a URL ("semi;db" is semi%3Bdb): node-pg's own URL parser
// leaves %3B undecoded while libpq (pg_dump, psql, pg_restore) decodes it, so the service's session and
// its child programs used to look for two different databases. One parser now decides for all of them.
describe('a database named "semi;db"', () => {
  let pg: PgCluster;
  let store: DirStore;
  let remove: () => Promise<void>;

  before(async () => {
    pg = await startPgCluster();
    ({ store, remove } = await tempDirStore());
    await seedDatabase(pg, 'semi;db', 30);
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  it('is backed up (plain and custom format) and restored, by psql and by a parallel pg_restore, into databases named like it', async () => {
    const plainKey = await takeBackup(pg, 'semi;db', store, { format: 'plain', compression: 'gzip', at: new Date('2026-01-01T03:00:00Z') });
    const manifest = JSON.parse((await streamText(await store.get(`${plainKey}.manifest.json`)))) as { database: string };
    assert.equal(manifest.database, 'semi;db', 'the session read the facts of the database pg_dump dumped');
    const customKey = await takeBackup(pg, 'semi;db', store, { format: 'custom', compression: 'none', at: new Date('2026-01-02T03:00:00Z') });
    const tools = findPgTools();
    for (const [key, database, jobs] of [[plainKey, 'semi;db restored', 1], [customKey, 'semi;db jobs', 2]] as const) {
      const summary = await restoreBackup({
        store,
        key,
        prefix: keyPrefix(LOCATION),
        target: parseTargetUrl(new Secret(pg.url(database)), '--target-url'),
        create: true,
        jobs,
        decrypt: undefined,
        tools,
        logger: silentLogger(),
      });
      assert.match(summary.target, /semi;db/);
      assert.equal(await pg.psql('SELECT count(*) FROM customers', database), '30', `${database} holds the restored rows`);
    }
    assert.equal(await pg.psql(`SELECT count(*) FROM pg_database WHERE datname LIKE '%\\%3B%'`), '0', 'no database was created under the undecoded name');
  });
});

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
