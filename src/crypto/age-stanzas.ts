import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { bech32 } from '@scure/base';
import { deriveKey, encodeBase64NoPad, unwrapFileKey, wrapFileKey, type StanzaData } from './age-format.ts';

// The recipient stanzas this service writes: X25519 (age1... public keys) and scrypt (passphrase).

const X25519_LABEL = 'age-encryption.org/v1/X25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
// age's default passphrase work factor (2^18: about 0.8 s and 256 MiB here).
export const DEFAULT_SCRYPT_WORK_FACTOR = 18;
// The highest work factor we accept when decrypting (2^20 needs 1 GiB of memory).
export const MAX_SCRYPT_WORK_FACTOR = 20;

// The 32-byte X25519 public key of an age1... recipient; throws when the text is not one
// (bad checksum, wrong prefix or length).
export function decodeX25519Recipient(recipient: string): Uint8Array {
  if (!recipient.startsWith('age1')) throw new Error('not an age1... public key');
  const decoded = bech32.decodeToBytes(recipient);
  if (decoded.prefix !== 'age' || decoded.bytes.length !== 32) throw new Error('not an X25519 age public key');
  return decoded.bytes;
}

function importX25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function exportX25519PublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

// "-> X25519 <ephemeral share>": the file key wrapped with HKDF(ECDH(ephemeral, recipient),
// salt = share || recipient, info = "age-encryption.org/v1/X25519").
export function wrapForX25519(fileKey: Uint8Array, recipientKey: Uint8Array): StanzaData {
  const ephemeral = generateKeyPairSync('x25519');
  const share = exportX25519PublicKey(ephemeral.publicKey);
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: importX25519PublicKey(recipientKey) });
  if (secret.every((b) => b === 0)) throw new Error('X25519 recipient is a low-order point');
  const key = deriveKey(secret, Buffer.concat([share, recipientKey]), X25519_LABEL);
  return { args: ['X25519', encodeBase64NoPad(share)], body: wrapFileKey(fileKey, key) };
}

// scrypt(passphrase, salt = label || 16 random bytes, N = 2^logN, r = 8, p = 1) off the event loop.
function deriveScryptKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  const labelAndSalt = Buffer.concat([Buffer.from(SCRYPT_LABEL, 'latin1'), salt]);
  return new Promise((resolve, reject) => {
    scrypt(passphrase, labelAndSalt, 32, { N, r: 8, p: 1, maxmem: 1024 * N + 32 * 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

// "-> scrypt <salt> <logN>": the only stanza of a passphrase-encrypted file.
export async function wrapForPassphrase(fileKey: Uint8Array, passphrase: string, logN: number): Promise<StanzaData> {
  const salt = randomBytes(16);
  const key = await deriveScryptKey(passphrase, salt, logN);
  return { args: ['scrypt', encodeBase64NoPad(salt), String(logN)], body: wrapFileKey(fileKey, key) };
}

// An age-encryption (typage) Identity that unwraps scrypt stanzas with node's native scrypt, which
// runs on the thread pool instead of blocking the event loop for a second like the pure-JS one.
export class NativeScryptIdentity {
  readonly #passphrase: string;

  constructor(passphrase: string) {
    this.#passphrase = passphrase;
  }

  async unwrapFileKey(stanzas: readonly StanzaData[]): Promise<Uint8Array | null> {
    for (const stanza of stanzas) {
      if (stanza.args[0] !== 'scrypt') continue;
      if (stanzas.length !== 1) throw new Error('a scrypt stanza must be the only one in the header');
      const [, saltText, logNText] = stanza.args;
      if (stanza.args.length !== 3 || saltText === undefined || logNText === undefined || !/^[1-9][0-9]*$/.test(logNText)) {
        throw new Error('invalid scrypt stanza');
      }
      const salt = Buffer.from(saltText, 'base64');
      const logN = Number(logNText);
      if (salt.length !== 16) throw new Error('invalid scrypt stanza');
      if (logN > MAX_SCRYPT_WORK_FACTOR) throw new Error(`scrypt work factor 2^${logN} is above the limit 2^${MAX_SCRYPT_WORK_FACTOR}`);
      const key = await deriveScryptKey(this.#passphrase, salt, logN);
      return unwrapFileKey(stanza.body, key);
    }
    return null;
  }
}
