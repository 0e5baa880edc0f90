import { keyPrefix } from '../core/naming.ts';
import type { Secret } from '../config/secret.ts';
import type { Config } from '../config/types.ts';
import { errForLog } from '../errors.ts';
import { createDecryptFactory } from '../crypto/age-decrypt.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import type { DecryptFactory } from './backup-source.ts';
import { findPgTools } from './pg-tools.ts';
import { parseTargetUrl, type RestoreTarget } from './target.ts';
import { receiptsFolder } from './receipts.ts';
import { VerifyService } from './verify-service.ts';

// Decryption with the configured key (checked now: a bad BACKUP_ENCRYPTION_IDENTITY throws here);
// undefined when none is configured, and an encrypted backup then reports what to set.
export function decryptFactoryOf(config: Config): DecryptFactory | undefined {
  return createDecryptFactory(config.encryption);
}

// The verify service as the configuration describes it (composition-root helper for main.ts and the
// verify command): verification on VERIFY_CRON, drills when VERIFY_RESTORE_URL is set.
// A URL the drill cannot parse disables what needs it (with a log line) instead of stopping the service.
// `database` (a backup set): the database drills compare with, instead of the one in BACKUP_DATABASE_URL.
export function buildVerifyService(config: Config, store: BackupStore, logger: Logger, database?: string): VerifyService {
  const parse = (url: Secret | undefined, name: string): RestoreTarget | undefined => {
    if (url === undefined) return undefined;
    try {
      return parseTargetUrl(url, name);
    } catch (error) {
      logger.error({ err: errForLog(error) }, `${name} cannot be used by the restore drill`);
      return undefined;
    }
  };
  let decrypt: DecryptFactory | undefined;
  try {
    decrypt = decryptFactoryOf(config);
  } catch (error) {
    // The service keeps running; verifications of encrypted backups then fail, naming the key problem.
    logger.error({ err: errForLog(error) }, 'BACKUP_ENCRYPTION_IDENTITY cannot be used: encrypted backups cannot be verified');
  }
  return new VerifyService({
    store,
    prefix: keyPrefix(config.location),
    cron: config.verify.cron,
    timezone: config.cronTimezone,
    scratch: parse(config.verify.restoreUrl, 'VERIFY_RESTORE_URL'),
    source: withDatabase(parse(config.backup?.databaseUrl, 'BACKUP_DATABASE_URL'), database),
    tools: findPgTools(config.backup?.pgDumpPath),
    decrypt,
    logger,
    receiptsFolder: receiptsFolder(config.location),
  });
}

function withDatabase(target: RestoreTarget | undefined, database: string | undefined): RestoreTarget | undefined {
  return target === undefined || database === undefined ? target : { ...target, database };
}
