import { Transform, type TransformCallback } from 'node:stream';
import { Decrypter } from 'age-encryption';
import type { EncryptionSettings } from '../config/types.ts';
import {
  ARMOR_BEGIN,
  CHUNK_CIPHERTEXT_SIZE,
  PAYLOAD_NONCE_SIZE,
  VERSION_LINE,
  derivePayloadKey,
  openChunk,
  streamNonce,
} from './age-format.ts';
import { NativeScryptIdentity } from './age-stanzas.ts';
import { DecryptionError } from './errors.ts';
import { loadIdentities } from './load-identities.ts';

// Headers are a few hundred bytes per recipient; anything this large is not a header.
const MAX_HEADER_SIZE = 1024 * 1024;
const VERSION_PREFIX = Buffer.from(`${VERSION_LINE}\n`, 'latin1');
const MAC_LINE_START = Buffer.from('\n--- ', 'latin1');

// A Transform that decrypts an age v1 file (made by this service, `age -r/-R` or `age -p`) with
// BACKUP_ENCRYPTION_IDENTITY and/or BACKUP_ENCRYPTION_PASSPHRASE. Each 64 KiB chunk is authenticated
// before a byte of it is emitted; failures are DecryptionError (a RestoreError) saying what to do.
// Throws at once when no key is configured or the identity is unusable.
export function createDecryptStream(settings: EncryptionSettings): Transform {
  const factory = createDecryptFactory(settings);
  if (factory === undefined) {
    throw new DecryptionError('no-key', 'this backup is encrypted (.age) but no decryption key is configured', {
      hint: 'set BACKUP_ENCRYPTION_IDENTITY to the AGE-SECRET-KEY-1... private key (or its file) matching BACKUP_ENCRYPTION_RECIPIENTS, or BACKUP_ENCRYPTION_PASSPHRASE for passphrase-encrypted backups',
    });
  }
  return factory();
}

// For restore/verify wiring: undefined when no identity or passphrase is configured, otherwise a
// factory of decrypt stages (one per backup). The identity (key or key file) is read and checked
// now, so a bad BACKUP_ENCRYPTION_IDENTITY fails at start-up, not at the first restore.
export function createDecryptFactory(settings: EncryptionSettings): (() => Transform) | undefined {
  const identities = loadIdentities(settings);
  const passphrase = settings.passphrase;
  if (identities.length === 0 && passphrase === undefined) return undefined;
  const keys = { identity: identities.length > 0, passphrase: passphrase !== undefined };
  return () => {
    const decrypter = new Decrypter();
    for (const identity of identities) decrypter.addIdentity(identity);
    if (passphrase !== undefined) decrypter.addIdentity(new NativeScryptIdentity(passphrase.reveal()));
    return new AgeDecryptTransform(decrypter, keys);
  };
}

interface ConfiguredKeys {
  identity: boolean;
  passphrase: boolean;
}

class AgeDecryptTransform extends Transform {
  readonly #decrypter: Decrypter;
  readonly #keys: ConfiguredKeys;
  #header: Buffer | undefined = Buffer.alloc(0); // undefined once the header is parsed
  #fileKey: Uint8Array | undefined; // from the header until the payload nonce has arrived
  #nonce = Buffer.alloc(0);
  #payloadKey: Buffer | undefined;
  // Ciphertext of the current chunk; opened once full and more input proves it is not the last.
  readonly #chunk = Buffer.alloc(CHUNK_CIPHERTEXT_SIZE);
  #used = 0;
  #index = 0;

  constructor(decrypter: Decrypter, keys: ConfiguredKeys) {
    super();
    this.#decrypter = decrypter;
    this.#keys = keys;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let rest: Buffer | undefined;
    let failure: Error | undefined;
    try {
      if (this.#header === undefined) this.#consumePayload(data);
      else rest = this.#collectHeader(data);
    } catch (error) {
      failure = error as Error;
    }
    if (failure !== undefined || rest === undefined) return callback(failure);
    // The header is complete: open it (async: X25519 and scrypt), then go on with the bytes after it.
    const header = this.#header as Buffer;
    this.#header = undefined;
    const payload = rest;
    this.#openHeader(header).then(
      () => {
        let late: Error | undefined;
        try {
          this.#consumePayload(payload);
        } catch (error) {
          late = error as Error;
        }
        callback(late);
      },
      (error: unknown) => callback(error as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    let failure: Error | undefined;
    try {
      this.#finish();
    } catch (error) {
      failure = error as Error;
    }
    callback(failure);
  }

  // Opens the last chunk, whose nonce carries the last-chunk flag.
  #finish(): void {
    if (this.#header !== undefined) {
      if (this.#header.length === 0) throw new DecryptionError('not-age', 'the encrypted backup is empty (0 bytes)', { hint: HINT_REUPLOAD });
      throw truncated('the input ended inside the age header');
    }
    if (this.#payloadKey === undefined || this.#used === 0) throw truncated('the input ended before the encrypted payload');
    const sealed = this.#chunk.subarray(0, this.#used);
    const plaintext = openChunk(this.#payloadKey, streamNonce(this.#index, true), sealed);
    if (plaintext === null) {
      if (this.#used === CHUNK_CIPHERTEXT_SIZE && openChunk(this.#payloadKey, streamNonce(this.#index, false), sealed) !== null) {
        throw truncated(`the input ended after chunk ${this.#index + 1} at a 64 KiB boundary`);
      }
      throw tampered(this.#index);
    }
    if (plaintext.length === 0 && this.#index > 0) throw tampered(this.#index);
    if (plaintext.length > 0) this.push(plaintext);
  }

  // Appends to the header; returns the bytes after it once the "--- <mac>" line is complete.
  #collectHeader(data: Buffer): Buffer | undefined {
    const header = Buffer.concat([this.#header ?? Buffer.alloc(0), data]);
    const prefixLength = Math.min(header.length, VERSION_PREFIX.length);
    if (!header.subarray(0, prefixLength).equals(VERSION_PREFIX.subarray(0, prefixLength))) throw notAge(header);
    const macLine = header.indexOf(MAC_LINE_START);
    const end = macLine < 0 ? -1 : header.indexOf(0x0a, macLine + MAC_LINE_START.length);
    if (end < 0) {
      if (header.length > MAX_HEADER_SIZE) {
        throw new DecryptionError('tampered-header', `the age header is longer than ${MAX_HEADER_SIZE} bytes: the file is damaged`, { hint: HINT_REUPLOAD });
      }
      this.#header = header;
      return undefined;
    }
    this.#header = header.subarray(0, end + 1);
    return header.subarray(end + 1);
  }

  async #openHeader(header: Buffer): Promise<void> {
    let fileKey: Uint8Array;
    try {
      fileKey = await this.#decrypter.decryptHeader(header);
    } catch (error) {
      throw this.#describeHeaderError(header, error);
    }
    this.#fileKey = fileKey;
  }

  #consumePayload(data: Buffer): void {
    let offset = 0;
    if (this.#nonce.length < PAYLOAD_NONCE_SIZE) {
      const take = Math.min(PAYLOAD_NONCE_SIZE - this.#nonce.length, data.length);
      this.#nonce = Buffer.concat([this.#nonce, data.subarray(0, take)]);
      offset = take;
      if (this.#nonce.length < PAYLOAD_NONCE_SIZE) return;
      this.#payloadKey = derivePayloadKey(this.#fileKey as Uint8Array, this.#nonce);
      this.#fileKey = undefined;
    }
    const key = this.#payloadKey as Buffer;
    while (offset < data.length) {
      if (this.#used === CHUNK_CIPHERTEXT_SIZE) {
        const plaintext = openChunk(key, streamNonce(this.#index, false), this.#chunk);
        if (plaintext === null) throw tampered(this.#index);
        this.push(plaintext);
        this.#index += 1;
        this.#used = 0;
      }
      const n = Math.min(CHUNK_CIPHERTEXT_SIZE - this.#used, data.length - offset);
      data.copy(this.#chunk, this.#used, offset, offset + n);
      this.#used += n;
      offset += n;
    }
  }

  #describeHeaderError(header: Buffer, error: unknown): DecryptionError {
    const text = error instanceof Error ? error.message : String(error);
    if (error instanceof DecryptionError) return error;
    if (text.includes('no identity matched')) {
      const types = stanzaTypes(header);
      const byPassphrase = types.includes('scrypt');
      let hint: string;
      if (byPassphrase && !this.#keys.passphrase) {
        hint = 'this backup was encrypted with a passphrase: set BACKUP_ENCRYPTION_PASSPHRASE to it';
      } else if (!byPassphrase && !this.#keys.identity) {
        hint = 'this backup was encrypted to public keys: set BACKUP_ENCRYPTION_IDENTITY to the matching AGE-SECRET-KEY-1... key or key file';
      } else if (byPassphrase) {
        hint = 'check BACKUP_ENCRYPTION_PASSPHRASE: it is not the passphrase this backup was encrypted with';
      } else {
        hint = 'use the private key whose public key (age-keygen -y key.txt) was in BACKUP_ENCRYPTION_RECIPIENTS when this backup was made';
      }
      return new DecryptionError('wrong-key', `none of the configured keys can decrypt this backup (it is encrypted to: ${types.join(', ') || 'nothing'})`, { hint });
    }
    if (text.includes('HMAC')) {
      return new DecryptionError('tampered-header', 'the age header failed authentication: the file was modified or damaged', { hint: HINT_REUPLOAD });
    }
    return new DecryptionError('tampered-header', `the age header is malformed (${text.slice(0, 120)})`, { hint: HINT_REUPLOAD });
  }
}

const HINT_REUPLOAD = 'do not restore from this copy; compare its sha256 with the manifest and use another backup';

function truncated(what: string): DecryptionError {
  return new DecryptionError('truncated', `the encrypted backup is truncated: ${what}`, {
    hint: 'the download was cut short or the object is incomplete; retry, and compare the size and sha256 with the manifest',
  });
}

function tampered(index: number): DecryptionError {
  return new DecryptionError('tampered-payload', `chunk ${index + 1} of the encrypted backup failed authentication: the file was modified or damaged`, {
    hint: `${HINT_REUPLOAD}; nothing of the damaged chunk was passed on, but the data before it was`,
  });
}

// The recipient types of a header ("X25519", "scrypt", ...), for messages.
function stanzaTypes(header: Buffer): string[] {
  const types = header
    .toString('latin1')
    .split('\n')
    .filter((line) => line.startsWith('-> '))
    .map((line) => line.split(' ')[1] ?? '?');
  return [...new Set(types)];
}

function notAge(start: Buffer): DecryptionError {
  const text = start.subarray(0, 64).toString('latin1');
  let what = 'it does not start with "age-encryption.org/v1"';
  let hint = 'check that the object is an age-encrypted backup (.age); unencrypted backups restore without a key';
  if (start[0] === 0x1f && start[1] === 0x8b) what = 'it is a gzip file, not encrypted';
  else if (start.length >= 4 && start.readUInt32LE(0) === 0xfd2fb528) what = 'it is a zstd file, not encrypted';
  else if (text.startsWith('PGDMP')) what = 'it is a pg_dump custom-format file, not encrypted';
  else if (text.startsWith(ARMOR_BEGIN.slice(0, Math.min(text.length, ARMOR_BEGIN.length)))) {
    what = 'it is an ASCII-armored age file';
    hint = 'decode it first with `age -d` (the CLI reads armor), or store backups in binary age format';
  } else if (/^(--|SET |\\)/.test(text)) what = 'it looks like a plain SQL dump, not encrypted';
  return new DecryptionError('not-age', `the input is not an age-encrypted file: ${what}`, { hint });
}
