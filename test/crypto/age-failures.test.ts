import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { RestoreError } from '../../src/errors.ts';
import { createDecryptStream } from '../../src/crypto/age-decrypt.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { DecryptionError, type DecryptionFailure } from '../../src/crypto/errors.ts';
import { generateKeyPair, keySettings, makeTempDir, passphraseSettings, patternBytes, runStage, runStageOk, unevenPieces, type KeyPair } from './age-helpers.ts';

const CHUNK = 64 * 1024;
const SEALED_CHUNK = CHUNK + 16;

function headerEnd(file: Buffer): number {
  return file.indexOf('\n', file.indexOf('\n--- ') + 1) + 1;
}

function flipped(file: Buffer, offset: number): Buffer {
  const copy = Buffer.from(file);
  copy[offset] = (copy[offset] ?? 0) ^ 0x01;
  return copy;
}

function assertFailure(error: unknown, reason: DecryptionFailure, pattern: RegExp): void {
  assert.ok(error instanceof DecryptionError, `expected a DecryptionError, got ${String(error)}`);
  assert.ok(error instanceof RestoreError);
  assert.equal(error.reason, reason, error.message);
  assert.match(error.message, pattern);
  assert.match(error.message, /What to do: /);
}

describe('age decryption failures', () => {
  let temp: Awaited<ReturnType<typeof makeTempDir>>;
  let key: KeyPair;
  let other: KeyPair;
  // Five chunks, the last one partial.
  const plaintext = patternBytes(4 * CHUNK + 1000, 11);
  let encrypted: Buffer;
  before(async () => {
    temp = await makeTempDir();
    [key, other] = await Promise.all([generateKeyPair(temp.dir, 'key'), generateKeyPair(temp.dir, 'other')]);
    encrypted = await runStageOk(createEncryptStream(keySettings([key.recipient])), [plaintext]);
  });
  after(() => temp.remove());

  it('reports a wrong private key clearly and emits nothing', async () => {
    const { output, error } = await runStage(createDecryptStream(keySettings([], other.identity)), [encrypted]);
    assertFailure(error, 'wrong-key', /none of the configured keys can decrypt this backup \(it is encrypted to: X25519\)/);
    assert.match((error as Error).message, /BACKUP_ENCRYPTION_RECIPIENTS/);
    assert.equal(output.length, 0);
  });

  it('reports a wrong passphrase clearly, without quoting it, and emits nothing', async () => {
    const byPassphrase = await runStageOk(createEncryptStream(passphraseSettings('right one'), { scryptWorkFactor: 10 }), [plaintext]);
    const { output, error } = await runStage(createDecryptStream(passphraseSettings('wrong one')), [byPassphrase]);
    assertFailure(error, 'wrong-key', /check BACKUP_ENCRYPTION_PASSPHRASE/);
    assert.doesNotMatch((error as Error).message, /wrong one|right one/);
    assert.equal(output.length, 0);
  });

  it('tells an operator with only a private key that the backup needs the passphrase', async () => {
    const byPassphrase = await runStageOk(createEncryptStream(passphraseSettings('pw'), { scryptWorkFactor: 10 }), [Buffer.from('x')]);
    const { error } = await runStage(createDecryptStream(keySettings([], key.identity)), [byPassphrase]);
    assertFailure(error, 'wrong-key', /encrypted with a passphrase: set BACKUP_ENCRYPTION_PASSPHRASE/);
  });

  it('tells an operator with only a passphrase that the backup needs the private key', async () => {
    const { error } = await runStage(createDecryptStream(passphraseSettings('pw')), [encrypted]);
    assertFailure(error, 'wrong-key', /encrypted to public keys: set BACKUP_ENCRYPTION_IDENTITY/);
  });

  it('refuses to build a decrypt stage without any key, naming both variables', () => {
    assert.throws(
      () => createDecryptStream(keySettings([key.recipient])),
      (error: unknown) => error instanceof DecryptionError && error.reason === 'no-key' && /BACKUP_ENCRYPTION_IDENTITY/.test(error.message) && /BACKUP_ENCRYPTION_PASSPHRASE/.test(error.message),
    );
  });

  it('detects a flipped payload byte and emits only the chunks before it', async () => {
    const start = headerEnd(encrypted) + 16;
    const tampered = flipped(encrypted, start + 2 * SEALED_CHUNK + 500); // inside the third chunk
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), unevenPieces(tampered));
    assertFailure(error, 'tampered-payload', /chunk 3 of the encrypted backup failed authentication/);
    assert.equal(output.length, 2 * CHUNK, 'exactly the two authenticated chunks, nothing of the third');
    assert.ok(output.equals(plaintext.subarray(0, 2 * CHUNK)));
  });

  it('detects a flipped byte in the last chunk\'s tag', async () => {
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [flipped(encrypted, encrypted.length - 1)]);
    assertFailure(error, 'tampered-payload', /chunk 5 of/);
    assert.equal(output.length, 4 * CHUNK);
  });

  it('detects a flipped byte in the payload nonce before emitting anything', async () => {
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [flipped(encrypted, headerEnd(encrypted) + 3)]);
    assertFailure(error, 'tampered-payload', /chunk 1 of/);
    assert.equal(output.length, 0);
  });

  it('detects a flipped byte in the header MAC and emits nothing', async () => {
    // Another valid base64 letter in the middle of the MAC, so the header still parses.
    const macOffset = encrypted.indexOf('\n--- ') + 8;
    const tampered = Buffer.from(encrypted);
    tampered[macOffset] = tampered[macOffset] === 0x41 ? 0x42 : 0x41;
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [tampered]);
    assertFailure(error, 'tampered-header', /the age header failed authentication/);
    assert.equal(output.length, 0);
  });

  it('detects a flipped byte in the recipient stanza and emits nothing', async () => {
    // A damaged stanza cannot be told apart from a wrong key: age's stanza unwrap just fails.
    const stanzaBody = encrypted.indexOf('\n', encrypted.indexOf('-> X25519')) + 5;
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [flipped(encrypted, stanzaBody)]);
    assert.ok(error instanceof DecryptionError && (error.reason === 'wrong-key' || error.reason === 'tampered-header'), String(error));
    assert.equal(output.length, 0);
  });

  it('detects a backup cut off at a 64 KiB chunk boundary', async () => {
    const cut = encrypted.subarray(0, headerEnd(encrypted) + 16 + 2 * SEALED_CHUNK);
    const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [cut]);
    assertFailure(error, 'truncated', /truncated: the input ended after chunk 2 at a 64 KiB boundary/);
    assert.equal(output.length, CHUNK);
  });

  it('detects a backup cut off inside a chunk, inside the nonce and inside the header', async () => {
    const end = headerEnd(encrypted);
    const inChunk = await runStage(createDecryptStream(keySettings([], key.identity)), [encrypted.subarray(0, end + 16 + 1000)]);
    assert.ok(inChunk.error instanceof DecryptionError && inChunk.error.reason === 'tampered-payload', String(inChunk.error));
    const inNonce = await runStage(createDecryptStream(keySettings([], key.identity)), [encrypted.subarray(0, end + 5)]);
    assertFailure(inNonce.error, 'truncated', /before the encrypted payload/);
    const inHeader = await runStage(createDecryptStream(keySettings([], key.identity)), [encrypted.subarray(0, 40)]);
    assertFailure(inHeader.error, 'truncated', /inside the age header/);
  });

  it('detects bytes appended after the final chunk', async () => {
    const { error } = await runStage(createDecryptStream(keySettings([], key.identity)), [Buffer.concat([encrypted, Buffer.from('junk')])]);
    assert.ok(error instanceof DecryptionError && error.reason === 'tampered-payload', String(error));
  });

  it('says what an unencrypted backup is instead of failing obscurely', async () => {
    const cases: Array<[Buffer, RegExp]> = [
      [gzipSync(Buffer.from('SELECT 1;')), /it is a gzip file, not encrypted/],
      [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), /it is a zstd file, not encrypted/],
      [Buffer.from('PGDMP\x01\x0e'), /pg_dump custom-format file/],
      [Buffer.from('--\n-- PostgreSQL database dump\n--\n'), /plain SQL dump/],
      [Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n'), /ASCII-armored age file/],
    ];
    for (const [input, pattern] of cases) {
      const { output, error } = await runStage(createDecryptStream(keySettings([], key.identity)), [input]);
      assertFailure(error, 'not-age', pattern);
      assert.equal(output.length, 0);
    }
    const empty = await runStage(createDecryptStream(keySettings([], key.identity)), [Buffer.alloc(0)]);
    assertFailure(empty.error, 'not-age', /is empty/);
  });
});
