import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { EncryptionSettings } from '../config/types.ts';
import { BackupError } from '../errors.ts';
import {
  CHUNK_SIZE,
  FILE_KEY_SIZE,
  PAYLOAD_NONCE_SIZE,
  computeHeaderMac,
  derivePayloadKey,
  encodeBase64NoPad,
  encodeHeaderNoMac,
  sealChunkParts,
  streamNonce,
  type StanzaData,
} from './age-format.ts';
import { DEFAULT_SCRYPT_WORK_FACTOR, decodeX25519Recipient, wrapForPassphrase, wrapForX25519 } from './age-stanzas.ts';

export interface EncryptOptions {
  // log2 of the scrypt cost for passphrase encryption; age's default 18. Tests lower it.
  scryptWorkFactor?: number;
}

// True when the settings ask for encryption (recipients or a passphrase): the backup is then named
// `.age` and its manifest says `encryption: 'age'`.
export function isEncryptionEnabled(settings: EncryptionSettings): boolean {
  return settings.recipients.length > 0 || settings.passphrase !== undefined;
}

// A Transform that encrypts its input into an age v1 file (readable by `age -d`), in 64 KiB chunks
// with bounded memory. Throws BackupError('encrypt') at once when the settings cannot encrypt.
export function createEncryptStream(settings: EncryptionSettings, options: EncryptOptions = {}): Transform {
  const makeStanzas = planStanzas(settings, options.scryptWorkFactor ?? DEFAULT_SCRYPT_WORK_FACTOR);
  return new AgeEncryptTransform(makeStanzas);
}

type StanzaMaker = (fileKey: Uint8Array) => Promise<StanzaData[]>;

function planStanzas(settings: EncryptionSettings, scryptWorkFactor: number): StanzaMaker {
  if (settings.passphrase !== undefined) {
    if (settings.recipients.length > 0) {
      throw new BackupError('encrypt', 'both BACKUP_ENCRYPTION_RECIPIENTS and BACKUP_ENCRYPTION_PASSPHRASE are set', {
        hint: 'age encrypts to public keys or to a passphrase, not both: unset one of them',
      });
    }
    const passphrase = settings.passphrase;
    return async (fileKey) => [await wrapForPassphrase(fileKey, passphrase.reveal(), scryptWorkFactor)];
  }
  if (settings.recipients.length === 0) {
    throw new BackupError('encrypt', 'encryption was requested but no key is configured', {
      hint: 'set BACKUP_ENCRYPTION_RECIPIENTS to one or more age1... public keys (age-keygen -y key.txt prints one) or BACKUP_ENCRYPTION_PASSPHRASE',
    });
  }
  const keys = settings.recipients.map((recipient) => {
    try {
      return decodeX25519Recipient(recipient);
    } catch (error) {
      throw new BackupError('encrypt', `BACKUP_ENCRYPTION_RECIPIENTS: ${JSON.stringify(recipient)} is not a valid age public key`, {
        cause: error,
        hint: 'copy the whole age1... line printed by age-keygen (or `age-keygen -y key.txt`); a typo breaks its checksum',
      });
    }
  });
  return (fileKey) => Promise.resolve(keys.map((key) => wrapForX25519(fileKey, key)));
}

class AgeEncryptTransform extends Transform {
  readonly #makeStanzas: StanzaMaker;
  #payloadKey: Buffer | undefined;
  // The plaintext chunk being filled; sealed once full and more input proves it is not the last.
  readonly #chunk = Buffer.alloc(CHUNK_SIZE);
  #used = 0;
  #index = 0;

  constructor(makeStanzas: StanzaMaker) {
    super();
    this.#makeStanzas = makeStanzas;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#withHeader(callback, () => {
      let offset = 0;
      while (offset < data.length) {
        if (this.#used === CHUNK_SIZE) this.#sealChunk(false);
        const n = Math.min(CHUNK_SIZE - this.#used, data.length - offset);
        data.copy(this.#chunk, this.#used, offset, offset + n);
        this.#used += n;
        offset += n;
      }
    });
  }

  override _flush(callback: TransformCallback): void {
    // The last chunk may be full, and is empty only when the whole input was.
    this.#withHeader(callback, () => this.#sealChunk(true));
  }

  #sealChunk(last: boolean): void {
    const key = this.#payloadKey as Buffer;
    const [body, tag] = sealChunkParts(key, streamNonce(this.#index, last), this.#chunk.subarray(0, this.#used));
    if (body.length > 0) this.push(body);
    this.push(tag);
    this.#index += 1;
    this.#used = 0;
  }

  // Writes the header and payload nonce before the first chunk, then runs `work`; the callback is
  // called exactly once, outside the try, so an exception it throws is never mistaken for ours.
  #withHeader(callback: TransformCallback, work: () => void): void {
    const run = (): void => {
      let failure: BackupError | undefined;
      try {
        work();
      } catch (error) {
        failure = wrapEncryptError(error);
      }
      callback(failure);
    };
    if (this.#payloadKey !== undefined) return run();
    this.#startPayload().then(run, (error: unknown) => callback(wrapEncryptError(error)));
  }

  async #startPayload(): Promise<void> {
    const fileKey = randomBytes(FILE_KEY_SIZE);
    const headerNoMac = encodeHeaderNoMac(await this.#makeStanzas(fileKey));
    const mac = computeHeaderMac(fileKey, headerNoMac);
    const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
    this.push(Buffer.concat([headerNoMac, Buffer.from(` ${encodeBase64NoPad(mac)}\n`, 'latin1'), nonce]));
    this.#payloadKey = derivePayloadKey(fileKey, nonce);
  }
}

function wrapEncryptError(error: unknown): BackupError {
  if (error instanceof BackupError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new BackupError('encrypt', `age encryption failed: ${text}`, {
    cause: error,
    hint: 'this is a bug or a resource problem (scrypt needs 256 MiB of memory); check the logs and report it',
  });
}
