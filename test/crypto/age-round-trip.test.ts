import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackupError } from '../../src/errors.ts';
import { createDecryptFactory, createDecryptStream } from '../../src/crypto/age-decrypt.ts';
import { DecryptionError } from '../../src/crypto/errors.ts';
import { createEncryptStream, isEncryptionEnabled } from '../../src/crypto/age-encrypt.ts';
import { generateKeyPair, keySettings, makeTempDir, passphraseSettings, patternBytes, runStageOk, unevenPieces, type KeyPair } from './age-helpers.ts';

const CHUNK = 64 * 1024;
// age's ciphertext size: header + 16-byte nonce + 16-byte tag per 64 KiB chunk (at least one chunk).
function payloadSize(plaintext: number): number {
  return 16 + plaintext + 16 * Math.max(1, Math.ceil(plaintext / CHUNK));
}
function headerSize(file: Buffer): number {
  const mac = file.indexOf('\n--- ');
  return file.indexOf('\n', mac + 1) + 1;
}

describe('age encryption round trip', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let alice: KeyPair;
  let bob: KeyPair;
  before(async () => {
    temp = await makeTempDir();
    [alice, bob] = await Promise.all([generateKeyPair(temp.dir, 'alice'), generateKeyPair(temp.dir, 'bob')]);
  });
  after(() => temp.remove());

  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * 1024 * 1024 + 123];
  for (const size of sizes) {
    it(`restores exactly the ${size} bytes that were encrypted to a public key`, async () => {
      const plaintext = patternBytes(size, size + 1);
      const encrypted = await runStageOk(createEncryptStream(keySettings([alice.recipient])), unevenPieces(plaintext));
      assert.equal(encrypted.length - headerSize(encrypted), payloadSize(size), 'payload is the age STREAM size');
      if (size >= 32) assert.equal(encrypted.indexOf(plaintext.subarray(0, 32)), -1, 'plaintext is not visible');
      const decrypted = await runStageOk(createDecryptStream(keySettings([], alice.identity)), unevenPieces(encrypted, [3, 65551, 65553, 9000]));
      assert.equal(decrypted.length, size);
      assert.ok(decrypted.equals(plaintext));
    });
  }

  it('restores multi-megabyte data that was encrypted with a passphrase', async () => {
    const plaintext = patternBytes(3 * 1024 * 1024 + 5, 7);
    const encrypted = await runStageOk(createEncryptStream(passphraseSettings('correct horse battery staple'), { scryptWorkFactor: 10 }), unevenPieces(plaintext));
    assert.match(encrypted.subarray(0, 200).toString('latin1'), /\n-> scrypt \S{22} 10\n/);
    const decrypted = await runStageOk(createDecryptStream(passphraseSettings('correct horse battery staple')), [encrypted]);
    assert.ok(decrypted.equals(plaintext));
  });

  it('restores an empty input and an exact 64 KiB multiple encrypted with a passphrase', async () => {
    for (const size of [0, 2 * CHUNK]) {
      const plaintext = patternBytes(size, 3);
      const encrypted = await runStageOk(createEncryptStream(passphraseSettings('pw'), { scryptWorkFactor: 10 }), [plaintext]);
      assert.equal(encrypted.length - headerSize(encrypted), payloadSize(size));
      const decrypted = await runStageOk(createDecryptStream(passphraseSettings('pw')), [encrypted]);
      assert.ok(decrypted.equals(plaintext), `size ${size}`);
    }
  });

  it('uses age\'s default passphrase work factor of 2^18 unless told otherwise', async () => {
    const encrypted = await runStageOk(createEncryptStream(passphraseSettings('slow but standard')), [Buffer.from('x')]);
    assert.match(encrypted.toString('latin1'), /\n-> scrypt \S{22} 18\n/);
  });

  it('lets each of several recipients decrypt the same backup', async () => {
    const plaintext = patternBytes(200_000, 9);
    const encrypted = await runStageOk(createEncryptStream(keySettings([alice.recipient, bob.recipient])), [plaintext]);
    assert.equal(encrypted.toString('latin1').split('\n-> X25519 ').length, 3);
    for (const pair of [alice, bob]) {
      const decrypted = await runStageOk(createDecryptStream(keySettings([], pair.file)), [encrypted]);
      assert.ok(decrypted.equals(plaintext));
    }
  });

  it('writes a fresh file key and nonce for every backup', async () => {
    const plaintext = Buffer.from('same input');
    const first = await runStageOk(createEncryptStream(keySettings([alice.recipient])), [plaintext]);
    const second = await runStageOk(createEncryptStream(keySettings([alice.recipient])), [plaintext]);
    assert.notDeepEqual(first, second);
  });

  it('says encryption is enabled only when recipients or a passphrase are set', () => {
    assert.equal(isEncryptionEnabled(keySettings([])), false);
    assert.equal(isEncryptionEnabled(keySettings([], 'AGE-SECRET-KEY-1X')), false, 'an identity alone only decrypts');
    assert.equal(isEncryptionEnabled(keySettings([alice.recipient])), true);
    assert.equal(isEncryptionEnabled(passphraseSettings('pw')), true);
  });

  it('refuses to build an encrypt stage without a key, naming the variables to set', () => {
    assert.throws(
      () => createEncryptStream(keySettings([])),
      (error: unknown) => error instanceof BackupError && error.stage === 'encrypt' && /BACKUP_ENCRYPTION_RECIPIENTS/.test(error.message),
    );
  });

  it('refuses a recipient whose bech32 checksum is wrong, naming the variable', () => {
    const typo = `${alice.recipient.slice(0, -1)}${alice.recipient.endsWith('q') ? 'p' : 'q'}`;
    assert.throws(
      () => createEncryptStream(keySettings([typo])),
      (error: unknown) =>
        error instanceof BackupError && error.stage === 'encrypt' && error.message.includes('BACKUP_ENCRYPTION_RECIPIENTS') && error.message.includes(typo),
    );
  });

  it('gives restore a decrypt factory only when a key is configured, checking the identity up front', async () => {
    assert.equal(createDecryptFactory(keySettings([alice.recipient])), undefined);
    assert.throws(() => createDecryptFactory(keySettings([], '/nonexistent/key.txt')), DecryptionError);
    const factory = createDecryptFactory(keySettings([], alice.file));
    assert.ok(factory);
    const first = await runStageOk(createEncryptStream(keySettings([alice.recipient])), [Buffer.from('one')]);
    const second = await runStageOk(createEncryptStream(keySettings([alice.recipient])), [Buffer.from('two')]);
    assert.equal((await runStageOk(factory(), [first])).toString(), 'one');
    assert.equal((await runStageOk(factory(), [second])).toString(), 'two');
  });
});
