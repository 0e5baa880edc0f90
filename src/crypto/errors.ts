import { RestoreError, type SentinelErrorOptions } from '../errors.ts';

// Why a backup could not be decrypted; each reason has its own hint in the message.
export type DecryptionFailure =
  | 'no-key' // neither BACKUP_ENCRYPTION_IDENTITY nor BACKUP_ENCRYPTION_PASSPHRASE is set
  | 'bad-identity' // BACKUP_ENCRYPTION_IDENTITY is neither a key nor a readable key file
  | 'not-age' // the input does not start like an age file
  | 'wrong-key' // none of the configured keys opens the file
  | 'tampered-header' // header MAC mismatch or malformed header
  | 'tampered-payload' // a payload chunk failed authentication
  | 'truncated'; // the input ended before the final chunk

// A restore/verify failure of the decryption stage. No plaintext of an unauthenticated chunk has been
// emitted when this is raised, but earlier (authenticated) chunks may have been.
export class DecryptionError extends RestoreError {
  readonly reason: DecryptionFailure;

  constructor(reason: DecryptionFailure, shortMessage: string, options: SentinelErrorOptions = {}) {
    super(shortMessage, options);
    this.reason = reason;
  }
}
