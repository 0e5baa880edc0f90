import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { generateKeyPair, keySettings, makeTempDir, type KeyPair } from './age-helpers.ts';

// The manual restore command of docs/encryption.md, run as written against a real PostgreSQL:
// pg_dump | gzip | (our encrypt stage) > file, then `age -d -i key.txt file | gunzip` into psql inside
// BEGIN ... COMMIT, where COMMIT is only sent when age and gunzip both succeeded.
describe('restoring an encrypted backup by hand with the age CLI', () => {
  let pg: PgCluster;
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let key: KeyPair;
  let other: KeyPair;
  let backup: string;
  before(async () => {
    temp = await makeTempDir();
    [pg, key, other] = await Promise.all([startPgCluster(), generateKeyPair(temp.dir, 'key'), generateKeyPair(temp.dir, 'other')]);
    await pg.createDatabase('shop');
    await pg.psql(`CREATE TABLE orders (id int PRIMARY KEY, note text);
      INSERT INTO orders SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 10000) g;`, 'shop');
    backup = path.join(temp.dir, 'shop_2026-11-28_00-00-00.sql.gz.age');
    const dump = execa(path.join(pg.binDir, 'pg_dump'), ['--no-owner', '-d', pg.url('shop')], { buffer: false });
    await Promise.all([pipeline(dump.stdout, createGzip(), createEncryptStream(keySettings([key.recipient])), createWriteStream(backup)), dump]);
  });
  after(async () => {
    await pg?.stop();
    await temp?.remove();
  });

  // Exactly the documented command; PGPASSWORD keeps the password out of `ps`.
  function restoreByHand(keyFile: string, database: string, file = backup): Promise<{ exitCode?: number; stderr: unknown }> {
    const script = `set -o pipefail
{ echo 'BEGIN;'; age -d -i "$KEY_FILE" "$BACKUP" | gunzip && echo 'COMMIT;'; } \\
  | psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres -d "$TARGET_DB"`;
    return execa('bash', ['-c', script], {
      reject: false,
      env: { KEY_FILE: keyFile, BACKUP: file, PGHOST: pg.host, PGPORT: String(pg.port), PGPASSWORD: pg.password, TARGET_DB: database },
    });
  }

  async function publicTables(database: string): Promise<string> {
    return pg.psql(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`, database);
  }

  it('restores every row with the documented `age -d -i key.txt file.sql.gz.age | gunzip` into psql', async () => {
    await pg.createDatabase('restored');
    const result = await restoreByHand(key.file, 'restored');
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(await pg.psql('SELECT count(*), sum(id) FROM orders', 'restored'), '10000|50005000');
  });

  it('fails the documented pipeline with the wrong key and leaves the target database empty', async () => {
    await pg.createDatabase('wrong key');
    const result = await restoreByHand(other.file, 'wrong key');
    assert.notEqual(result.exitCode, 0);
    assert.match(String(result.stderr), /no identity matched any of the recipients/);
    assert.equal(await publicTables('wrong key'), '0');
  });

  it('rolls back everything when a chunk in the middle of the backup was tampered with', async () => {
    const stored = await readFile(backup);
    assert.ok(stored.length > 6 * 65_552, `the dump is only ${stored.length} bytes`);
    const middle = Math.floor(stored.length / 2);
    stored[middle] = (stored[middle] ?? 0) ^ 0x40;
    const tampered = path.join(temp.dir, 'tampered.sql.gz.age');
    await writeFile(tampered, stored);
    await pg.createDatabase('tampered');
    const result = await restoreByHand(key.file, 'tampered', tampered);
    assert.notEqual(result.exitCode, 0);
    assert.match(String(result.stderr), /age: error: .*(chunk|decrypt)/i);
    assert.equal(await publicTables('tampered'), '0', 'the rows before the damaged chunk were not committed');
  });

  it('restores a custom-format dump with `age -d | gunzip > mydb.dump && pg_restore --single-transaction`', async () => {
    const customBackup = path.join(temp.dir, 'shop_2026-11-28_00-00-00.dump.gz.age');
    const dump = execa(path.join(pg.binDir, 'pg_dump'), ['-Fc', '-Z0', '--no-owner', '-d', pg.url('shop')], { buffer: false });
    await Promise.all([pipeline(dump.stdout, createGzip(), createEncryptStream(keySettings([key.recipient])), createWriteStream(customBackup)), dump]);
    await pg.createDatabase('custom');
    const script = `set -o pipefail
age -d -i "$KEY_FILE" "$BACKUP" | gunzip > "$WORK/mydb.dump" && pg_restore --single-transaction -h "$PGHOST" -p "$PGPORT" -U postgres -d "$TARGET_DB" "$WORK/mydb.dump"`;
    const result = await execa('bash', ['-c', script], {
      reject: false,
      env: {
        PATH: `${pg.binDir}:${process.env.PATH ?? ''}`,
        KEY_FILE: key.file,
        BACKUP: customBackup,
        WORK: temp.dir,
        PGHOST: pg.host,
        PGPORT: String(pg.port),
        PGPASSWORD: pg.password,
        TARGET_DB: 'custom',
      },
    });
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(await pg.psql('SELECT count(*), sum(id) FROM orders', 'custom'), '10000|50005000');
  });
});
