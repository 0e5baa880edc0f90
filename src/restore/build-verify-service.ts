import { keyPrefix } from '../backup/naming.ts';
import type { Config } from '../config/types.ts';
import { createDecryptStream } from '../crypto/age-decrypt.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import type { DecryptFactory } from './backup-source.ts';
import { findPgTools } from './pg-tools.ts';
import { parseTargetUrl } from './target.ts';
import { VerifyService } from './verify-service.ts';

// Decryption with the configured key; fails with a DecryptionError saying what to set when there is none.
export function decryptFactoryOf(config: Config): DecryptFactory {
  return () => createDecryptStream(config.encryption);
}

// The verify service as the configuration describes it (composition-root helper for main.ts and the
// verify command): verification on VERIFY_CRON, drills when VERIFY_RESTORE_URL is set.
export function buildVerifyService(config: Config, store: BackupStore, logger: Logger): VerifyService {
  return new VerifyService({
    store,
    prefix: keyPrefix(config.location),
    cron: config.verify.cron,
    scratch: config.verify.restoreUrl ? parseTargetUrl(config.verify.restoreUrl, 'VERIFY_RESTORE_URL') : undefined,
    source: config.backup ? parseTargetUrl(config.backup.databaseUrl, 'BACKUP_DATABASE_URL') : undefined,
    tools: findPgTools(config.backup?.pgDumpPath),
    decrypt: decryptFactoryOf(config),
    logger,
  });
}
