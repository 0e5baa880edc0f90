import { BackupCatalog } from '../core/backup-catalog.ts';
import { shortMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { printableKey } from '../util/printable-key.ts';
import type { DecryptFactory } from './backup-source.ts';
import type { PgTools } from './pg-tools.ts';
import { restoreGlobals } from './restore-globals.ts';
import type { RestoreTarget } from './target.ts';
import type { CheckRecord } from './verify-findings.ts';

// The restore drill of a whole server's roles (BACKUP_GLOBALS): the newest globals object is read
// (sha256 checked against its manifest, decrypted, decompressed) and its statements run on the scratch
// server inside a transaction that is rolled back, so the drill proves the roles come back without
// leaving any behind. Roles the scratch server already has are left alone, as a real restore does.

export interface GlobalsDrillRequest {
  store: BackupStore;
  // The globals folder's key prefix (`[subfolder/]@globals/<prefix>`).
  prefix: string;
  // VERIFY_RESTORE_URL (its database is only where the statements run; roles are server-wide).
  scratch: RestoreTarget;
  tools: PgTools;
  decrypt: DecryptFactory | undefined;
  logger: Logger;
  now?: () => Date;
  // The verification run's: a stop ends the drill's storage reads (and the drill) at once.
  signal?: AbortSignal;
}

// undefined when there is no globals backup yet (the globals run's own result reports that), or when
// the drill was cancelled by a stop (nothing was learnt). Never throws.
export async function drillGlobals(request: GlobalsDrillRequest): Promise<CheckRecord | undefined> {
  const checkedAt = (request.now ?? (() => new Date()))();
  let key: string | undefined;
  try {
    const signal = request.signal;
    key = (await new BackupCatalog(request.store, request.prefix).newest(signal ? { signal } : {}))?.key;
    if (key === undefined) return undefined;
    const report = await restoreGlobals({ store: request.store, key, prefix: request.prefix, target: request.scratch, decrypt: request.decrypt, tools: request.tools, logger: request.logger, rehearse: true, ...(signal ? { signal } : {}) });
    const problems = report.failed.map((f) => ({ message: `the scratch server refused "${f.statement}": ${f.error}` }));
    request.logger.info(
      { key, wouldCreate: report.created, existing: report.existing, skipped: report.skipped ?? [], problems: problems.length },
      problems.length === 0 ? 'restore drill of the roles passed (rolled back)' : 'restore drill of the roles found statements the server refuses',
    );
    return { key, ok: problems.length === 0, checkedAt, problems };
  } catch (error) {
    if (request.signal?.aborted === true) {
      request.logger.info('restore drill of the roles cancelled (the service is stopping)');
      return undefined;
    }
    const what = key === undefined ? 'the globals backups could not be listed' : `${printableKey(key)} could not be rehearsed`;
    return { key, ok: false, checkedAt, problems: [{ message: `${what}: ${shortMessageOf(error)}` }] };
  }
}
