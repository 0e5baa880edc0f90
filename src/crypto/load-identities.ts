import { readFileSync } from 'node:fs';
import { Decrypter } from 'age-encryption';
import type { EncryptionSettings } from '../config/types.ts';
import { DecryptionError } from './errors.ts';

const VARIABLE = 'BACKUP_ENCRYPTION_IDENTITY';
const KEYGEN_HINT = 'set it to an AGE-SECRET-KEY-1... private key, or to the path of a key file made by `age-keygen -o key.txt`';

// The private keys in BACKUP_ENCRYPTION_IDENTITY: the value itself when it is a key, otherwise the
// keys of the file it names (age-keygen format: `#` comments, one key per line). Throws a
// DecryptionError('bad-identity') that never contains key material.
export function loadIdentities(settings: EncryptionSettings): string[] {
  if (settings.identity === undefined) return [];
  const value = settings.identity.reveal().trim();
  if (/^AGE-SECRET-KEY-/i.test(value)) return [validateIdentity(value, `the value of ${VARIABLE}`)];
  if (/^age1/.test(value)) {
    throw new DecryptionError('bad-identity', `${VARIABLE} holds a public key (age1...), which cannot decrypt`, {
      hint: `${KEYGEN_HINT}; the public key belongs in BACKUP_ENCRYPTION_RECIPIENTS`,
    });
  }
  if (/SECRET/i.test(value) || !/[/.]/.test(value)) {
    throw new DecryptionError('bad-identity', `${VARIABLE} is neither an AGE-SECRET-KEY-1... key nor a file path (value not shown)`, {
      hint: KEYGEN_HINT,
    });
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new DecryptionError('bad-identity', `${VARIABLE}: cannot read the key file ${JSON.stringify(value)} (${code})`, {
      cause: error,
      hint: `check the path and that the service user may read it; ${KEYGEN_HINT}`,
    });
  }
  const keys: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${index + 1} of the key file ${JSON.stringify(value)} (${VARIABLE})`;
    if (!/^AGE-SECRET-KEY-/i.test(line)) {
      throw new DecryptionError('bad-identity', `${where} is not an AGE-SECRET-KEY-1... key (content not shown)`, {
        hint: `${KEYGEN_HINT}; armored or plugin identities are not supported`,
      });
    }
    keys.push(validateIdentity(line, where));
  });
  if (keys.length === 0) {
    throw new DecryptionError('bad-identity', `the key file ${JSON.stringify(value)} (${VARIABLE}) holds no AGE-SECRET-KEY-1... key`, {
      hint: KEYGEN_HINT,
    });
  }
  return keys;
}

// Checks the bech32 checksum and length through age-encryption's own parser.
function validateIdentity(key: string, where: string): string {
  const upper = key.toUpperCase();
  try {
    new Decrypter().addIdentity(upper);
  } catch {
    // No `cause`: the parser's message quotes the key.
    throw new DecryptionError('bad-identity', `${where} is not a valid age private key (checksum or length wrong; value not shown)`, {
      hint: `${KEYGEN_HINT}; copy the whole AGE-SECRET-KEY-1... line`,
    });
  }
  return upper;
}
