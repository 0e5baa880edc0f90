import { randomBytes } from 'node:crypto';
import { formatTimestamp } from '../core/naming.ts';
import { shortMessageOf, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import type { DecryptFactory } from './backup-source.ts';
import { compareWithDump, compareWithEstimates, describeMismatch, DEFAULT_ROW_TOLERANCE, type RowTolerance } from './compare.ts';
import type { PgTools } from './pg-tools.ts';
import { restoreBackup, type RestoreSummary } from './restore.ts';
import { countRows, describeTarget, dropDatabase, estimateRows, withClient, withDatabase, type RestoreTarget } from './target.ts';
import { printableKey } from '../util/printable-key.ts';

export interface DrillRequest {
  store: BackupStore;
  prefix: string;
  // Default: the newest backup.
  key?: string | undefined;
  // VERIFY_RESTORE_URL: a server where the drill may create and drop a temporary database.
  scratch: RestoreTarget;
  // BACKUP_DATABASE_URL, for row estimates; undefined in monitor-only mode (no comparison then).
  source: RestoreTarget | undefined;
  tools: PgTools;
  decrypt: DecryptFactory | undefined;
  logger: Logger;
  now?: () => Date;
  tolerance?: RowTolerance;
  signal?: AbortSignal;
}

export interface DrillResult {
  key: string | undefined;
  ok: boolean;
  problems: string[];
  // The temporary database (dropped at the end).
  database: string | undefined;
  checkedAt: Date;
  restoreMs: number | undefined;
  durationMs: number;
  tables: number;
  rows: number;
  // Whether row counts were compared with the source database's estimates.
  comparedWithSource: boolean;
  // There was no backup to restore (the monitor's freshness check reports that; not a drill finding).
  noBackup: boolean;
}

// Name of a drill's temporary database: recognisable, unique, never a user's.
function drillDatabaseName(at: Date): string {
  return `backup_sentinel_drill_${formatTimestamp(at).replace(/-/g, '')}_${randomBytes(3).toString('hex')}`;
}

// Restores a backup into a new temporary database on the scratch server, checks that it holds what
// the dump loaded (exact counts) and roughly what the source holds (estimates, within a tolerance),
// then drops it. Never throws: every failure is a problem in the result.
export async function runDrill(request: DrillRequest): Promise<DrillResult> {
  const now = request.now ?? (() => new Date());
  const checkedAt = now();
  const log = request.logger.child({ component: 'drill' });
  const problems: string[] = [];
  let key = request.key;
  let database: string | undefined;
  let summary: RestoreSummary | undefined;
  let restoreMs: number | undefined;
  let rows = 0;
  let tables = 0;
  let comparedWithSource = false;
  let noBackup = false;
  try {
    key ??= (await new BackupCatalog(request.store, request.prefix).newest())?.key;
    if (key === undefined) {
      noBackup = true;
      problems.push(`no backups under "${request.prefix}" in ${request.store.description} to restore`);
    } else {
      database = drillDatabaseName(checkedAt);
      const target = withDatabase(request.scratch, database);
      log.info({ key, target: describeTarget(target) }, 'restore drill started');
      try {
        const restoreStarted = now().getTime();
        summary = await restoreBackup({
          store: request.store,
          key,
          prefix: request.prefix,
          target,
          create: true,
          maintenanceDatabase: request.scratch.database,
          // The scratch server need not have the source's roles: the drill proves the data comes back.
          noOwner: true,
          decrypt: request.decrypt,
          tools: request.tools,
          logger: request.logger,
          ...(request.signal ? { signal: request.signal } : {}),
        });
        restoreMs = now().getTime() - restoreStarted;
        const restored = await withClient(target, async (client) => {
          const count = await client.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`,
          );
          return { tables: Number(count.rows[0]?.n ?? 0), counts: await countRows(client) };
        });
        tables = restored.tables;
        rows = [...restored.counts.values()].reduce((a, b) => a + b, 0);
        if (restored.tables < summary.tables) problems.push(`the dump creates ${summary.tables} tables, the restored database has ${restored.tables}`);
        problems.push(...compareWithDump(restored.counts, summary.rowsByTable).map(describeMismatch));
        if (request.source) {
          try {
            const estimates = await withClient(request.source, estimateRows);
            comparedWithSource = true;
            problems.push(...compareWithEstimates(restored.counts, estimates, request.tolerance ?? DEFAULT_ROW_TOLERANCE).map(describeMismatch));
          } catch (error) {
            log.warn({ err: errForLog(error) }, 'cannot read row estimates from the source database: counts not compared with it');
          }
        }
      } catch (error) {
        problems.push(`restoring ${printableKey(key)} failed: ${shortMessageOf(error)}`);
      } finally {
        try {
          await dropDatabase(target, request.scratch.database);
        } catch (error) {
          problems.push(`the temporary database ${database} could not be dropped: ${shortMessageOf(error)} (drop it by hand)`);
        }
      }
    }
  } catch (error) {
    problems.push(`restore drill failed: ${shortMessageOf(error)}`);
  }
  const result: DrillResult = {
    key,
    ok: problems.length === 0,
    problems,
    database,
    checkedAt,
    restoreMs,
    durationMs: now().getTime() - checkedAt.getTime(),
    tables,
    rows,
    comparedWithSource,
    noBackup,
  };
  if (result.ok) log.info({ key, tables, rows, restoreMs, comparedWithSource }, 'restore drill passed');
  else log.error({ key, problems }, 'restore drill failed');
  return result;
}
