import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Decrypter, Encrypter } from 'age-encryption';
import { createDecryptStream } from '../../src/crypto/age-decrypt.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import {
  generateKeyPair,
  keySettings,
  makeTempDir,
  passphraseSettings,
  patternBytes,
  runAge,
  runAgeWithPassphrase,
  runStageOk,
  unevenPieces,
  type KeyPair,
} from './age-helpers.ts';

// Interoperability with two independent implementations: the reference `age` CLI (Go, Debian's
// package) and age-encryption (typage). Sizes cross several 64 KiB chunks and end off a boundary.
describe('age format compatibility', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let key: KeyPair;
  const plaintext = patternBytes(3 * 64 * 1024 + 4321, 42);
  before(async () => {
    temp = await makeTempDir();
    key = await generateKeyPair(temp.dir, 'key');
  });
  after(() => temp.remove());

  it('writes files that the age CLI decrypts with `age -d -i key.txt`', async () => {
    const encrypted = await runStageOk(createEncryptStream(keySettings([key.recipient])), unevenPieces(plaintext));
    const result = await runAge(['-d', '-i', key.file], encrypted);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.equals(plaintext));
  });

  it('writes an empty backup and an exact 64 KiB multiple that the age CLI decrypts', async () => {
    for (const size of [0, 4 * 64 * 1024]) {
      const data = patternBytes(size, 5);
      const encrypted = await runStageOk(createEncryptStream(keySettings([key.recipient])), [data]);
      const result = await runAge(['-d', '-i', key.file], encrypted);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.equals(data), `size ${size}`);
    }
  });

  it('decrypts files made by the age CLI with `age -r`', async () => {
    const made = await runAge(['-r', key.recipient], plaintext);
    assert.equal(made.code, 0, made.stderr);
    const decrypted = await runStageOk(createDecryptStream(keySettings([], key.identity)), unevenPieces(made.stdout));
    assert.ok(decrypted.equals(plaintext));
  });

  it('writes passphrase files that the age CLI decrypts at its terminal prompt', async () => {
    const encrypted = await runStageOk(createEncryptStream(passphraseSettings('tty horse'), { scryptWorkFactor: 12 }), [plaintext]);
    await writeFile(path.join(temp.dir, 'mine.age'), encrypted);
    const result = await runAgeWithPassphrase(['-d', '-o', 'mine.out', 'mine.age'], 'tty horse', temp.dir);
    assert.equal(result.code, 0, result.transcript);
    assert.ok((await readFile(path.join(temp.dir, 'mine.out'))).equals(plaintext));
  });

  it('decrypts passphrase files made by the age CLI with `age -p`', async () => {
    // Made once with `age -p` (age 1.1.1, passphrase "tty horse") from patternBytes(64 KiB + 4321, 18): the
    // CLI has no flag for its work factor, and its 2^18 scrypt at every run cost a second of CPU and two of
    // wall in the CLI alone. The file is the CLI's own output all the same, and decrypting it runs the same
    // 2^18 scrypt here: it also proves that limit is accepted. (`age -r` and the decryptions above run the
    // CLI live.)
    const encrypted = await readFile(path.join(import.meta.dirname, 'fixtures', 'age-cli-passphrase.age'));
    assert.match(encrypted.subarray(0, 100).toString('latin1'), /-> scrypt \S+ 18\n/);
    const decrypted = await runStageOk(createDecryptStream(passphraseSettings('tty horse')), unevenPieces(encrypted));
    assert.ok(decrypted.equals(patternBytes(64 * 1024 + 4321, 18)));
  });

  it('writes files that age-encryption (typage) decrypts, with a key and with a passphrase', async () => {
    const byKey = await runStageOk(createEncryptStream(keySettings([key.recipient])), [plaintext]);
    const keyDecrypter = new Decrypter();
    keyDecrypter.addIdentity(key.identity);
    assert.ok(Buffer.from(await keyDecrypter.decrypt(byKey)).equals(plaintext));

    const byPassphrase = await runStageOk(createEncryptStream(passphraseSettings('typage'), { scryptWorkFactor: 10 }), [plaintext]);
    const passDecrypter = new Decrypter();
    passDecrypter.addPassphrase('typage');
    assert.ok(Buffer.from(await passDecrypter.decrypt(byPassphrase)).equals(plaintext));
  });

  it('decrypts files made by age-encryption (typage), with a key and with a passphrase', async () => {
    const keyEncrypter = new Encrypter();
    keyEncrypter.addRecipient(key.recipient);
    const byKey = Buffer.from(await keyEncrypter.encrypt(plaintext));
    assert.ok((await runStageOk(createDecryptStream(keySettings([], key.identity)), [byKey])).equals(plaintext));

    const passEncrypter = new Encrypter();
    passEncrypter.setPassphrase('typage');
    passEncrypter.setScryptWorkFactor(10);
    const byPassphrase = Buffer.from(await passEncrypter.encrypt(plaintext));
    assert.ok((await runStageOk(createDecryptStream(passphraseSettings('typage')), [byPassphrase])).equals(plaintext));
  });
});
