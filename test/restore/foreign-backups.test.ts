import assert from 'node:assert/strict';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { execa } from 'execa';
import { checkCommand } from '../../src/commands/check.ts';
import type { Command } from '../../src/commands/command.ts';
import { listCommand } from '../../src/commands/list.ts';
import { restoreCommand } from '../../src/commands/restore.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { runCommand, seedDatabase } from './fixtures.ts';

// Backups that backup-sentinel did not write: the Railway postgres-s3-backups template's
// `<prefix>-<ISO time>.tar.gz` (pg_dump -Ft | gzip) and archives uploaded by hand. Every command must
// see them, agree on which one is newest, and read them.

const HOUR = 3_600_000;

// The template's key: `${prefix}${new Date().toISOString().replace(/[:.]+/g, '-')}.tar.gz`.
function templateKey(at: Date): string {
  return `backup-${at.toISOString().replace(/[:.]+/g, '-')}.tar.gz`;
}

describe('backups written by other tools', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  const now = Date.now();
  const older = templateKey(new Date(now - 26 * HOUR));
  const newer = templateKey(new Date(now - 2 * HOUR));
  let identity: string;

  before(async () => {
    pg = await sharedPgCluster();
    s3 = await startS3Server({ extraBuckets: ['by-hand'] });
    await seedDatabase(pg, 'app', 40);
    const pgDump = path.join(pg.binDir, 'pg_dump');
    const dump = async (format: string) => (await execa(pgDump, [`-F${format}`, '--no-password', pg.url('app')], { encoding: 'buffer', stripFinalNewline: false })).stdout as Buffer;
    const tar = await dump('t');
    // The older template backup lacks a table, so verify's table comparison shows which is "previous".
    await pg.psql('CREATE TABLE added_later (x int); INSERT INTO added_later VALUES (1), (2), (3);', 'app');
    const tarNewer = await dump('t');
    // The older backup was touched last (copied back in, say): only the time in the name orders them.
    await s3.seed([
      { key: newer, body: zlib.gzipSync(tarNewer), lastModified: new Date(now - 2 * HOUR) },
      { key: older, body: zlib.gzipSync(tar), lastModified: new Date(now - HOUR) },
    ]);
    identity = await generateX25519Identity();
    const encrypt = createEncryptStream({ recipients: [await identityToRecipient(identity)], passphrase: undefined, identity: undefined });
    const sealed = await buffer(Readable.from([zlib.gzipSync(await dump('c'))]).pipe(encrypt));
    await s3.seed(
      [
        // age(gzip(custom dump)) under a name that says none of it.
        { key: 'backup-from-vault', body: sealed, lastModified: new Date(now - 5 * HOUR) },
        { key: 'backup-manual.dump', body: await dump('c'), lastModified: new Date(now - 3 * HOUR) },
        // Plain SQL, zstd-compressed, named without any extension: only its bytes say what it is.
        { key: 'backup-from-laptop', body: Buffer.from((await execa('zstd', ['-q', '-c'], { input: await dump('p'), encoding: 'buffer', stripFinalNewline: false })).stdout), lastModified: new Date(now - 4 * HOUR) },
      ],
      'by-hand',
    );
  });
  after(async () => {
    await s3?.close();
    await pg?.stop();
  });

  const run = (command: Command, args: string[], extraEnv: Record<string, string> = {}) => runCommand(command, args, { ...s3.env, LOG_LEVEL: 'silent', ...extraEnv });

  it('list and check show the template backups, newest by the time in the name', async () => {
    const list = await run(listCommand, ['--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { key: string }[]).map((b) => b.key), [newer, older]);
    const check = await run(checkCommand, []);
    assert.match(check.stdout, new RegExp(`newest: ${newer.replace(/\./g, '\\.')} `));
    assert.equal(check.code, 0, check.stdout);
  });

  it('verify reads the newest template backup and compares its tables with the previous one', async () => {
    const result = await run(verifyCommand, []);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^OK ${newer.replace(/\./g, '\\.')}: no manifest to check its sha256 against .* 5 tables, .*no table missing compared with ${older.replace(/\./g, '\\.')}`));
  });

  it('verify --key reads a named template backup', async () => {
    const result = await run(verifyCommand, ['--key', older]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^OK ${older.replace(/\./g, '\\.')}: .* 4 tables, `));
  });

  it('restore --latest restores the newest template backup into a real database (in one stream, even with --jobs)', async () => {
    const result = await run(restoreCommand, ['--latest', '--target-url', pg.url('from_template'), '--create', '--jobs', '2']);
    assert.equal(result.code, 0, result.stderr);
    // A tar archive cannot be restored in parallel: one stream, one transaction, and the user is told.
    assert.match(result.stderr, /--jobs only applies to custom-format archives; .* is tar: restored in one stream/);
    assert.match(result.stderr, new RegExp(`Newest backup: ${newer.replace(/\./g, '\\.')}`));
    assert.match(result.stdout, /5 tables, 125 rows, .*\n  sha256 NOT verified: the backup has no manifest/);
    assert.equal(await pg.psql('SELECT count(*) FROM added_later', 'from_template'), '3');
    assert.equal(await pg.psql('SELECT count(*) FROM "order items"', 'from_template'), '80');
  });

  it('a hand-uploaded custom-format .dump is verifiable and restorable', async () => {
    const env = { AWS_S3_BUCKET: 'by-hand' };
    const verify = await run(verifyCommand, ['--key', 'backup-manual.dump'], env);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^OK backup-manual\.dump: .* 5 tables, /);
    const restore = await run(restoreCommand, ['--latest', '--target-url', pg.url('from_hand'), '--create'], env);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stderr, /Newest backup: backup-manual\.dump/);
    assert.equal(await pg.psql('SELECT count(*) FROM customers', 'from_hand'), '40');
  });

  it('an object named without any extension is read by its bytes (zstd, plain SQL)', async () => {
    const result = await run(verifyCommand, ['--key', 'backup-from-laptop'], { AWS_S3_BUCKET: 'by-hand' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^OK backup-from-laptop: .* 5 tables, /);
  });

  it('an encrypted object with no telling name is decrypted to see what it holds, and needs the key', async () => {
    const env = { AWS_S3_BUCKET: 'by-hand' };
    const withKey = await run(verifyCommand, ['--key', 'backup-from-vault'], { ...env, BACKUP_ENCRYPTION_IDENTITY: identity });
    assert.equal(withKey.code, 0, withKey.stderr);
    assert.match(withKey.stdout, /^OK backup-from-vault: .* 5 tables, /);
    const withoutKey = await run(verifyCommand, ['--key', 'backup-from-vault'], env);
    assert.equal(withoutKey.code, 1);
    assert.match(withoutKey.stderr, /backup-from-vault is encrypted \(age\) and no decryption key is configured\n    What to do: set BACKUP_ENCRYPTION_IDENTITY/);
  });
});
