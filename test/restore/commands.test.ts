import assert from 'node:assert/strict';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { after, before, describe, it } from 'node:test';
import { restoreCommand } from '../../src/commands/restore.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import type { Command } from '../../src/commands/command.ts';
import { Secret } from '../../src/config/secret.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { PsqlSink } from '../../src/restore/psql-sink.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { LOCATION, readObject, runCommand, seedDatabase, takeBackup, tempDirStore, writeObject } from './fixtures.ts';

describe('restore and verify commands', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;
  let identity: string;
  let recipient: string;
  let env: Record<string, string>;

  before(async () => {
    pg = await startPgCluster({ password: 'cmd s3cret@pw' });
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'app', 50);
    identity = await generateX25519Identity();
    recipient = await identityToRecipient(identity);
    env = {
      BACKUP_DIR: dir,
      BUCKET_SUBFOLDER: LOCATION.subfolder,
      BACKUP_FILE_PREFIX: LOCATION.prefix,
      BACKUP_DATABASE_URL: pg.url('app'),
      VERIFY_RESTORE_URL: pg.url('postgres'),
      BACKUP_ENCRYPTION_IDENTITY: identity,
      LOG_LEVEL: 'silent',
    };
  });
  after(async () => {
    await pg?.stop();
    await remove?.();
  });

  const run = (command: Command, args: string[], extraEnv: Record<string, string> = {}) => runCommand(command, args, { ...env, ...extraEnv });

  it('restores the newest backup, encrypted with age, into a new database and prints a summary', async () => {
    const settings = { recipients: [recipient], passphrase: undefined, identity: undefined };
    const key = await takeBackup(pg, 'app', store, {
      format: 'custom', compression: 'gzip', at: new Date('2026-04-01T03:00:00Z'),
      extraStage: { name: 'age', create: () => createEncryptStream(settings) },
    });
    assert.match(key, /\.dump\.gz\.age$/);
    const result = await run(restoreCommand, ['--latest', '--target-url', pg.url('restored from cli'), '--create']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Restored db\/app_2026-04-01_03-00-00\.dump\.gz\.age into database "restored from cli"/);
    assert.match(result.stdout, /4 tables, 152 rows, .* read in .*\n  sha256 verified \([0-9a-f]{64}\)/);
    assert.match(result.stderr, /restoring .*: .* of .* \(100%\)/);
    assert.equal(await pg.psql('SELECT count(*) FROM "order items"', 'restored from cli'), '100');
    assert.ok(!(result.stdout + result.stderr).includes('cmd s3cret@pw'));

    const verified = await run(verifyCommand, ['--drill']);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^OK db\/app_2026-04-01_03-00-00\.dump\.gz\.age: sha256 and size match/);
    assert.match(verified.stdout, /DRILL OK .*4 tables, 152 rows, row counts match the source within tolerance/);

    const noKey = await run(verifyCommand, [], { BACKUP_ENCRYPTION_IDENTITY: '' });
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /\[decrypt\] .*no decryption key is configured[\s\S]*What to do: set BACKUP_ENCRYPTION_IDENTITY/);
  });

  it('refuses a non-empty target with exit code 1 and says how to proceed', async () => {
    const result = await run(restoreCommand, ['--latest', '--target-url', pg.url('app')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Restore failed: refusing to restore into database "app" .*: it is not empty[\s\S]*What to do: .*--clean/);
  });

  it('exits non-zero from verify naming a damaged backup, and 64 on bad arguments', async () => {
    const key = await takeBackup(pg, 'app', store, { format: 'plain', compression: 'zstd', at: new Date('2026-04-02T03:00:00Z') });
    const body = await readObject(dir, key);
    body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 0xff;
    await writeObject(dir, key, body);
    const result = await run(verifyCommand, ['--key', key]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /FAILED db\/app_2026-04-02_03-00-00\.sql\.zst: \d problems?\n  - \[sha256\] .* fails its sha256 check/);
    assert.equal((await run(restoreCommand, ['--latest', '--key', key, '--target-url', 'postgres://x@y/z'])).code, 64);
    assert.equal((await run(restoreCommand, ['--latest'])).code, 64);
    assert.equal((await run(restoreCommand, ['--jobs', 'many', '--target-url', 'postgres://x@y/z'])).code, 64);
    assert.equal((await run(verifyCommand, ['--bogus'])).code, 64);
    const badKey = await run(verifyCommand, [], { BACKUP_ENCRYPTION_IDENTITY: 'not-a-key-and-no-such-file' });
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /BACKUP_ENCRYPTION_IDENTITY/);
  });

  it('never puts the target password on psql\'s command line', async () => {
    const target = parseTargetUrl(new Secret(pg.url('app', 'postgres', 'visible?')), '--target-url');
    const psql = new PsqlSink({ psqlPath: findPgTools().psql, target, commitGate: Promise.resolve() });
    psql.on('error', () => {});
    assert.ok(psql.child.spawnargs.length > 3);
    assert.ok(!psql.child.spawnargs.join(' ').includes('visible'), psql.child.spawnargs.join(' '));
    psql.destroy();
    await psql.waitForExit();
  });
});
