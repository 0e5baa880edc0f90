import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { S3Settings } from '../../src/config/types.ts';
import { Secret } from '../../src/config/secret.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { checkCommand } from '../../src/commands/check.ts';
import type { Command } from '../../src/commands/command.ts';
import { listCommand } from '../../src/commands/list.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { restoreCommand } from '../../src/commands/restore.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { manifestKey } from '../../src/core/naming.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { readAll } from '../storage/store-contract.ts';
import { LOCATION, runCommand, seedDatabase, takeBackup } from './fixtures.ts';

// A backup larger than one object holds (10,000 parts against S3) is stored as several objects. With
// 4 KiB parts and 2 parts per object (the store's test knobs; s3rver takes parts of any size), a
// small database's plain dump needs several, and every command must treat them as one backup.

const DAY = 86_400_000;
const ENV = { BUCKET_SUBFOLDER: LOCATION.subfolder ?? '', BACKUP_FILE_PREFIX: LOCATION.prefix, LOG_LEVEL: 'silent' };

function settingsFor(s3: TestS3Server): S3Settings {
  return { kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false };
}

describe('a backup stored as several objects', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let splitting: S3Store;
  let oldKey: string;
  let newKey: string;
  const now = Date.now();

  before(async () => {
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server()]);
    await seedDatabase(pg, 'split_src', 300);
    splitting = new S3Store(settingsFor(s3), { partSize: 4 * 1024, maxParts: 2 });
    oldKey = await takeBackup(pg, 'split_src', splitting, { format: 'plain', compression: 'none', at: new Date(now - 40 * DAY) });
    newKey = await takeBackup(pg, 'split_src', splitting, { format: 'plain', compression: 'none', at: new Date(now - 60_000) });
    // A prune goes by the later of the name's time and LastModified: make the old run's objects old.
    for (const object of await splitting.list(oldKey)) await s3.backdate(object.key, new Date(now - 40 * DAY));
  });
  after(async () => {
    await s3?.close();
    await pg?.stop();
  });

  const run = (command: Command, args: string[], extraEnv: Record<string, string> = {}) => runCommand(command, args, { ...s3.env, ...ENV, ...extraEnv });

  async function manifestOf(key: string): Promise<BackupManifest> {
    return JSON.parse((await readAll(await splitting.get(manifestKey(key)))).toString()) as BackupManifest;
  }

  it('is written as <key>, <key>.002, ... with a manifest listing every piece and the sha256 of the whole', async () => {
    const manifest = await manifestOf(newKey);
    const pieces = manifest.pieces ?? [];
    assert.ok(pieces.length >= 3, `${pieces.length} pieces`);
    assert.deepEqual(pieces.map((p) => p.key), pieces.map((_, i) => (i === 0 ? newKey : `${newKey}.${String(i + 1).padStart(3, '0')}`)));
    assert.equal(pieces.reduce((sum, p) => sum + p.size, 0), manifest.size);
    const listed = await splitting.list(newKey);
    assert.deepEqual(listed.map((o) => o.key), [...pieces.map((p) => p.key), manifestKey(newKey)]);
  });

  it('list and check see one backup per run, its size the sum of its pieces', async () => {
    const list = await run(listCommand, ['--json']);
    assert.equal(list.code, 0, list.stderr);
    const backups = JSON.parse(list.stdout) as { key: string; size: number }[];
    // Newest first.
    assert.deepEqual(backups.map((b) => b.key), [newKey, oldKey]);
    assert.equal(backups[0]?.size, (await manifestOf(newKey)).size);
    const check = await run(checkCommand, []);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, new RegExp(`newest: ${newKey.replace(/\./g, '\\.')} `));
  });

  it('verify reads the pieces in order as one stream and checks its sha256', async () => {
    const result = await run(verifyCommand, []);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^OK ${newKey.replace(/\./g, '\\.')}: sha256 and size match`));
  });

  it('restore --latest restores every row', async () => {
    const result = await run(restoreCommand, ['--latest', '--target-url', pg.url('split_restored'), '--create']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await pg.psql('SELECT count(*) FROM customers', 'split_restored'), '300');
    assert.equal(await pg.psql('SELECT count(*) FROM "order items"', 'split_restored'), '600');
  });

  it('verify --key of a piece names the backup it belongs to', async () => {
    const result = await run(verifyCommand, ['--key', `${newKey}.002`]);
    assert.notEqual(result.code, 0);
    assert.match(`${result.stdout}${result.stderr}`, new RegExp(`is piece 2 of the backup ${newKey.replace(/\./g, '\\.')}, not a backup of its own`));
  });

  it('prune deletes every piece and the manifest of an expired backup', async () => {
    const oldPieces = (await manifestOf(oldKey)).pieces?.map((p) => p.key) ?? [];
    assert.ok(oldPieces.length >= 3);
    const result = await run(pruneCommand, [], { RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Deleted 1 backup\(s\), \d+ further piece\(s\) of split backups and 1 manifest\(s\)/);
    const left = (await splitting.list(`${LOCATION.subfolder ?? ''}/`)).map((o) => o.key);
    assert.deepEqual(left.filter((k) => k.startsWith(oldKey)), []);
    assert.ok(left.includes(newKey) && left.includes(`${newKey}.002`), left.join(', '));
  });

  it('a missing middle piece fails verify and restore, naming it, before the target is touched', async () => {
    const middle = `${newKey}.002`;
    const body = await readAll(await splitting.get(middle));
    await splitting.delete([middle]);
    try {
      const verify = await run(verifyCommand, []);
      assert.notEqual(verify.code, 0);
      assert.match(`${verify.stdout}${verify.stderr}`, new RegExp(`piece 2, ${middle.replace(/\./g, '\\.')}, is missing`));
      const restore = await run(restoreCommand, ['--latest', '--target-url', pg.url('split_never'), '--create']);
      assert.notEqual(restore.code, 0);
      assert.match(restore.stderr, new RegExp(`piece 2, ${middle.replace(/\./g, '\\.')}, is missing`));
      assert.equal(await pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'split_never'"), '0');
    } finally {
      await splitting.put(middle, Readable.from([body]));
    }
  });

  it('a backup that fits in one object keeps its single name and a manifest without pieces', async () => {
    const location = { subfolder: 'small', prefix: 'app_' };
    const key = await takeBackup(pg, 'split_src', new S3Store(settingsFor(s3)), { format: 'plain', compression: 'gzip', at: new Date(now), location });
    assert.match(key, /^small\/app_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.sql\.gz$/);
    assert.deepEqual((await splitting.list('small/')).map((o) => o.key), [key, manifestKey(key)]);
    assert.equal('pieces' in (await manifestOf(key)), false);
  });
});
