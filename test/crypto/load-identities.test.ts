import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DecryptionError } from '../../src/crypto/errors.ts';
import { loadIdentities } from '../../src/crypto/load-identities.ts';
import { generateKeyPair, keySettings, makeTempDir, type KeyPair } from './age-helpers.ts';

function assertBadIdentity(run: () => unknown, pattern: RegExp, mustNotContain: string[] = []): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DecryptionError, String(error));
    assert.equal(error.reason, 'bad-identity');
    assert.match(error.message, pattern);
    assert.match(error.message, /What to do: /);
    for (const secret of mustNotContain) assert.ok(!error.message.includes(secret), 'the message quotes key material');
    return true;
  });
}

describe('loading BACKUP_ENCRYPTION_IDENTITY', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let key: KeyPair;
  let other: KeyPair;
  before(async () => {
    temp = await makeTempDir();
    [key, other] = await Promise.all([generateKeyPair(temp.dir, 'key'), generateKeyPair(temp.dir, 'other')]);
  });
  after(() => temp.remove());

  it('accepts the private key itself as the value', () => {
    assert.deepEqual(loadIdentities(keySettings([], key.identity)), [key.identity]);
    assert.deepEqual(loadIdentities(keySettings([], `  ${key.identity}\n`)), [key.identity]);
  });

  it('reads every key of an age-keygen file, skipping its comments', async () => {
    const both = path.join(temp.dir, 'both.txt');
    await writeFile(both, `${await readFile(key.file, 'utf8')}\n${await readFile(other.file, 'utf8')}`);
    assert.deepEqual(loadIdentities(keySettings([], both)), [key.identity, other.identity]);
  });

  it('returns no keys when the variable is unset', () => {
    assert.deepEqual(loadIdentities(keySettings([])), []);
  });

  it('says that a public key cannot decrypt', () => {
    assertBadIdentity(() => loadIdentities(keySettings([], key.recipient)), /holds a public key \(age1\.\.\.\), which cannot decrypt/);
  });

  it('rejects a key with a typo without quoting it', () => {
    const typo = `${key.identity.slice(0, 30)}${key.identity[30] === 'Q' ? 'P' : 'Q'}${key.identity.slice(31)}`;
    assertBadIdentity(() => loadIdentities(keySettings([], typo)), /not a valid age private key \(checksum or length wrong; value not shown\)/, [
      typo,
      typo.slice(16, 50),
    ]);
  });

  it('names a key file that does not exist', () => {
    const missing = path.join(temp.dir, 'nope.txt');
    assertBadIdentity(() => loadIdentities(keySettings([], missing)), new RegExp(`cannot read the key file "${missing}" \\(ENOENT\\)`));
  });

  it('rejects a key file holding something other than keys, without quoting it', async () => {
    const file = path.join(temp.dir, 'public.txt');
    await writeFile(file, `# a file with the wrong content\nsomething-secret-looking\n`);
    assertBadIdentity(() => loadIdentities(keySettings([], file)), /line 2 of the key file .* is not an AGE-SECRET-KEY-1\.\.\. key \(content not shown\)/, ['something-secret-looking']);
    const empty = path.join(temp.dir, 'empty.txt');
    await writeFile(empty, '# only a comment\n');
    assertBadIdentity(() => loadIdentities(keySettings([], empty)), /holds no AGE-SECRET-KEY-1\.\.\. key/);
  });

  it('does not print a value that is neither a key nor a path', () => {
    assertBadIdentity(() => loadIdentities(keySettings([], 'hunter2hunter2')), /neither an AGE-SECRET-KEY-1\.\.\. key nor a file path \(value not shown\)/, ['hunter2']);
  });
});
