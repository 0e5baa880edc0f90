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
import { globalsLocation } from '../backup/globals.ts';
import { drillGlobals } from './globals-drill.ts';
import type { CheckRecord } from './verify-findings.ts';

// Decryption with the configured key (checked now: a bad BACKUP_ENCRYPTION_IDENTITY throws here);
// undefined when none is configured, and an encrypted backup then reports what to set.
export function decryptFactoryOf(config: Config): DecryptFactory | undefined {
  return createDecryptFactory(config.encryption);
}

// A URL the drill cannot parse disables what needs it (with a log line) instead of stopping the service.
function targetOrLog(url: Secret | undefined, name: string, logger: Logger): RestoreTarget | undefined {
  if (url === undefined) return undefined;
  try {
    return parseTargetUrl(url, name);
  } catch (error) {
    logger.error({ err: errForLog(error) }, `${name} cannot be used by the restore drill`);
    return undefined;
  }
}

// The service keeps running with a key it cannot use; verifications of encrypted backups then fail, naming the problem.
function decryptOrLog(config: Config, logger: Logger): DecryptFactory | undefined {
  try {
    return decryptFactoryOf(config);
  } catch (error) {
    logger.error({ err: errForLog(error) }, 'BACKUP_ENCRYPTION_IDENTITY cannot be used: encrypted backups cannot be verified');
    return undefined;
  }
}

// The verify service as the configuration describes it (composition-root helper for main.ts and the
// verify command): verification on VERIFY_CRON, drills when VERIFY_RESTORE_URL is set.
// `database` (a backup set): the database drills compare with, instead of the one in BACKUP_DATABASE_URL.
export function buildVerifyService(config: Config, store: BackupStore, logger: Logger, database?: string): VerifyService {
  return new VerifyService({
    store,
    prefix: keyPrefix(config.location),
    cron: config.verify.cron,
    timezone: config.cronTimezone,
    scratch: targetOrLog(config.verify.restoreUrl, 'VERIFY_RESTORE_URL', logger),
    source: withDatabase(targetOrLog(config.backup?.databaseUrl, 'BACKUP_DATABASE_URL', logger), database),
    tools: findPgTools(config.backup?.pgDumpPath),
    decrypt: decryptOrLog(config, logger),
    logger,
    receiptsFolder: receiptsFolder(config.location),
  });
}

// The restore drill of the roles (BACKUP_GLOBALS with VERIFY_RESTORE_URL); undefined when either is missing.
export function buildGlobalsDrill(config: Config, store: BackupStore, logger: Logger): ((signal?: AbortSignal) => Promise<CheckRecord | undefined>) | undefined {
  if (config.backup?.globals !== true) return undefined;
  const scratch = targetOrLog(config.verify.restoreUrl, 'VERIFY_RESTORE_URL', logger);
  if (scratch === undefined) return undefined;
  const decrypt = decryptOrLog(config, logger);
  const tools = findPgTools(config.backup.pgDumpPath);
  const prefix = keyPrefix(globalsLocation(config.location));
  return (signal) => drillGlobals({ store, prefix, scratch, tools, decrypt, logger, ...(signal ? { signal } : {}) });
}

function withDatabase(target: RestoreTarget | undefined, database: string | undefined): RestoreTarget | undefined {
  return target === undefined || database === undefined ? target : { ...target, database };
}
