// Client-side encryption of backups in the age v1 format (issue 8); see docs/encryption.md.
export { createEncryptStream, isEncryptionEnabled, type EncryptOptions } from './age-encrypt.ts';
export { createDecryptFactory, createDecryptStream } from './age-decrypt.ts';
export { DecryptionError, type DecryptionFailure } from './errors.ts';
export { loadIdentities } from './load-identities.ts';
export { measureEncryptionCost, type EncryptionCost } from './measure-encryption-cost.ts';
