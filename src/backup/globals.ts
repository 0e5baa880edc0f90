import path from 'node:path';
import pg from 'pg';
import type { BackupSettings, Location } from '../config/types.ts';
import { BackupError, StorageError, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { isExecutable } from '../util/pg-client-dirs.ts';
import { pgClientConfig } from '../util/pg-client-config.ts';
import { libpqConninfo } from '../util/pg-url.ts';
import { childEnv } from './child-env.ts';
import { parseDatabaseUrl, type DatabaseTarget } from './connection.ts';
import { asBackupError, finishDestinations, headInEach, leftIn, putsInOrder, type ExtraStage, type RunContext } from './job.ts';
import type { Destination } from '../destinations/destination.ts';
import type { DestinationPut } from './pipeline.ts';
import { buildManifest, objectMetadata, putManifest, type GlobalsFacts, type RunFacts } from './manifest.ts';
import { backupKey } from '../core/naming.ts';
import { startPgDump, type PgDumpInvocation } from './pg-dump.ts';
import { DEFAULT_SEARCH_ROOTS, readPgDumpVersion, resolvePgDump, versionFromNum, type PgDumpSearchRoots, type ResolvedPgDump } from './pg-version.ts';
import { runBackupPipeline } from './pipeline.ts';
import type { BackupResult } from './result.ts';
import { DEFAULT_STALL_TIMEOUT_MS } from './stall-watch.ts';

// BACKUP_GLOBALS: the server's roles, role memberships and tablespaces (pg_dumpall --globals-only),
// which no pg_dump of a database holds: a database restored onto a new server without them fails on
// its first ALTER ... OWNER TO or loses its grants. One object per run, always plain SQL, through the
// same pipeline as a backup (compression, encryption, sha256, manifest), under its own folder.

// "@" is always percent-encoded in a database's folder (naming.ts encodeDatabaseFolder): no
// database's folder can be this one.
// It is also the name the globals' findings and alerts (a failed run, a failed drill) carry where a
// set's name would be.
export const GLOBALS_FOLDER = '@globals';

// Where the globals objects of a deployment live: `[subfolder/]@globals/<prefix>YYYY-MM-DD_HH-MM-SS.sql.<ext>`.
export function globalsLocation(location: Location): Location {
  return { subfolder: location.subfolder ? `${location.subfolder}/${GLOBALS_FOLDER}` : GLOBALS_FOLDER, prefix: location.prefix };
}

// Its own advisory lock key (the bytes of "globals1"): two replicas never dump globals at once, and a
// globals run never waits for, nor blocks, the database backup's lock.
const GLOBALS_LOCK_KEY = '7452453951723303729';

export interface GlobalsJobDeps {
  settings: BackupSettings;
  // The deployment's location; the object goes under its "@globals" folder.
  location: Location;
  store: BackupStore;
  // Several destinations (the first being `store`): one pg_dumpall, a copy in each, a result per destination.
  destinations?: readonly Destination[] | undefined;
  logger: Logger;
  pgDumpRoots?: PgDumpSearchRoots;
  extraStage?: ExtraStage | undefined;
}

export interface GlobalsRun extends RunContext {
  // The run's start time, which the key carries: the same as the database backups of the run.
  startedAt: Date;
  clock?: () => Date;
}

// pg_dumpall beside the pg_dump chosen for the server (PG_DUMP_PATH's directory, or the versioned
// client directory of the matching major): the two always come from the same client package.
async function resolvePgDumpall(serverVersion: string, pgDumpPath: string | undefined, roots: PgDumpSearchRoots = DEFAULT_SEARCH_ROOTS): Promise<ResolvedPgDump> {
  const pgDump = await resolvePgDump(serverVersion, pgDumpPath, roots);
  const file = path.join(path.dirname(pgDump.path), 'pg_dumpall');
  if (!isExecutable(file)) {
    throw new BackupError('version-check', `no pg_dumpall beside ${pgDump.path} (BACKUP_GLOBALS=true needs it)`, {
      hint: `install the full PostgreSQL ${pgDump.major} client package (it holds pg_dump and pg_dumpall), or set BACKUP_GLOBALS=false`,
    });
  }
  return await readPgDumpVersion(file);
}

// Whether the backup user may read role passwords: pg_authid is readable only by superusers, so
// managed servers (RDS, Cloud SQL, Azure, ...) and non-superuser roles need --no-role-passwords.
interface GlobalsSession {
  version: string;
  canReadPasswords: boolean;
  databases: GlobalsFacts['databases'];
  locked: boolean;
  close(): Promise<void>;
}

async function openGlobalsSession(target: DatabaseTarget): Promise<GlobalsSession> {
  const client = new pg.Client(pgClientConfig(target, target.password, { connectionTimeoutMillis: 15_000, application_name: 'backup-sentinel' }));
  client.on('error', () => {});
  try {
    await client.connect();
    const facts = await client.query<{ num: string; passwords: boolean }>(
      "SELECT current_setting('server_version_num') AS num, has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS passwords",
    );
    const databases = await client.query<{ name: string; owner: string; encoding: string }>(
      'SELECT datname AS name, pg_catalog.pg_get_userbyid(datdba) AS owner, pg_catalog.pg_encoding_to_char(encoding) AS encoding FROM pg_catalog.pg_database WHERE NOT datistemplate ORDER BY datname',
    );
    const lock = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${GLOBALS_LOCK_KEY}::bigint) AS locked`);
    const row = facts.rows[0];
    return {
      version: versionFromNum(Number(row?.num ?? 0)),
      canReadPasswords: row?.passwords === true,
      databases: databases.rows,
      locked: lock.rows[0]?.locked === true,
      close: () => client.end().catch(() => {}),
    };
  } catch (error) {
    await client.end().catch(() => {});
    const reason = ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
    throw new BackupError('dump', `globals: cannot connect to database "${target.database}" at ${target.host}:${target.port} as user "${target.user}": ${target.password ? reason.replaceAll(target.password, '***') : reason}`, {
      hint: 'check BACKUP_DATABASE_URL and that the database server is reachable from here',
      cause: error,
    });
  }
}

// The pg_dumpall command: the connection as --dbname (libpq keywords, no password: PGPASSWORD), globals only.
function buildPgDumpallInvocation(file: string, target: DatabaseTarget, rolePasswords: boolean): PgDumpInvocation {
  return {
    file,
    args: ['--dbname', libpqConninfo(target), '--no-password', '--globals-only', ...(rolePasswords ? [] : ['--no-role-passwords'])],
    env: childEnv({ PGPASSWORD: target.password, PGAPPNAME: 'backup-sentinel pg_dumpall' }),
  };
}

// pipeline.ts words pg_dump's failures for pg_dump; this run is pg_dumpall's.
function asGlobalsError(error: BackupError): BackupError {
  const message = error.shortMessage.startsWith('globals') ? error.shortMessage : `globals: ${error.shortMessage.replace(/^pg_dump\b/, 'pg_dumpall').replace(': pg_dumpall: error: ', ': ')}`;
  const hint =
    error.stage === 'dump' && error.shortMessage.startsWith('pg_dump')
      ? "read pg_dumpall's message above; check BACKUP_DATABASE_URL and that its user may read the role catalog (or set BACKUP_GLOBALS=false)"
      : error.hint;
  const wrapped = new BackupError(error.stage, message, { cause: error, ...(hint !== undefined ? { hint } : {}) });
  if (error.leftoverUpload) wrapped.leftoverUpload = error.leftoverUpload;
  return wrapped;
}

// One globals object. Never throws: every outcome is a BackupResult of its own (a globals failure
// never stops a database backup, and the reverse).
export async function runGlobalsJob(deps: GlobalsJobDeps, run: GlobalsRun): Promise<BackupResult> {
  const clock = run.clock ?? (() => new Date());
  const { startedAt } = run;
  const log = deps.logger.child({ runId: run.runId, globals: true });
  const ended = () => {
    const finishedAt = clock();
    return { runId: run.runId, trigger: run.trigger, startedAt, finishedAt, durationMs: Math.max(0, finishedAt.getTime() - startedAt.getTime()) };
  };
  let session: GlobalsSession | undefined;
  // The one destination the upload goes to, by name, when the run has several to choose from.
  let uploadTo: string | undefined;
  try {
    const target = parseDatabaseUrl(deps.settings.databaseUrl);
    session = await openGlobalsSession(target);
    if (!session.locked) {
      const message = 'globals skipped: another backup-sentinel is dumping the globals of this server';
      log.warn({ trigger: run.trigger }, message);
      return { ...ended(), status: 'skipped', reason: 'locked', message };
    }
    const tool = await resolvePgDumpall(session.version, deps.settings.pgDumpPath, deps.pgDumpRoots ?? DEFAULT_SEARCH_ROOTS);
    const rolePasswords = session.canReadPasswords;
    if (!rolePasswords) {
      log.warn(
        { user: target.user },
        `globals without role passwords: user "${target.user}" cannot read pg_authid (not a superuser, or a managed server), so pg_dumpall runs with --no-role-passwords; after a restore, set the roles' passwords (ALTER ROLE ... PASSWORD)`,
      );
    }
    const { compression } = deps.settings;
    const encrypted = deps.extraStage !== undefined;
    const key = backupKey(globalsLocation(deps.location), startedAt, { format: 'plain', compression: compression.algorithm, encrypted });
    // With several destinations, one that does not answer before the dump is out of this run (a failure
    // there) and the others go on; the key must be new in every one that answers.
    const several = deps.destinations !== undefined && deps.destinations.length > 1 ? deps.destinations : undefined;
    const unreachable: DestinationPut[] = [];
    const { live, taken } =
      several === undefined
        ? { live: [{ name: '', store: deps.store }], taken: (await deps.store.head(key)) !== undefined }
        : await headInEach(key, several, unreachable, (error, store) => asGlobalsError(asBackupError(error, store.description)));
    if (taken) {
      throw new BackupError('upload', `globals: ${key} already exists (a run with the same start second)`, { hint: 'the next run writes a new one' });
    }
    const runFacts: RunFacts = { key, format: 'plain', compression: compression.algorithm, encrypted, pgDumpVersion: tool.version, serverVersion: session.version, database: target.database, runId: run.runId, startedAt };
    const invocation = buildPgDumpallInvocation(tool.path, target, rolePasswords);
    log.info({ trigger: run.trigger, key, store: deps.store.description, serverVersion: session.version, pgDumpall: tool.path, rolePasswords }, 'globals backup started');
    uploadTo = several !== undefined && live.length === 1 ? live[0]?.name : undefined;
    const output = await runBackupPipeline({
      store: (live[0] as { store: BackupStore }).store,
      destinations: several !== undefined && live.length > 1 ? live : undefined,
      key,
      startDump: (pipeTo) => startPgDump(invocation, target.password, pipeTo),
      compression,
      extraStage: deps.extraStage?.create(),
      contentType: 'application/sql',
      signal: run.signal,
      stallTimeoutMs: deps.settings.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      metadata: objectMetadata(runFacts),
    });
    const finished = ended();
    const globalsFacts: GlobalsFacts = { rolePasswords: rolePasswords ? 'included' : 'omitted', databases: session.databases };
    if (several !== undefined) {
      return await finishDestinations(putsInOrder(output, live, unreachable, several), { runFacts, output, finished, log, globals: globalsFacts });
    }
    const manifest = buildManifest(runFacts, output, finished, globalsFacts);
    try {
      await putManifest(deps.store, manifest);
    } catch (error) {
      throw new BackupError('upload', `globals: ${key} was stored but its manifest could not be written: ${(error as Error).message}`, {
        cause: error,
        hint: 'check the storage; the next run writes a new globals object and manifest',
      });
    }
    log.info({ key, size: formatBytes(output.size), sizeBytes: output.size, duration: formatDuration(finished.durationMs), sha256: output.sha256, rolePasswords }, 'globals backup succeeded');
    return { ...finished, status: 'success', key, manifest };
  } catch (caught) {
    const error =
      caught instanceof BackupError
        ? asGlobalsError(caught)
        : caught instanceof StorageError
          ? new BackupError('upload', `globals: storage ${deps.store.description} failed [${caught.code}]: ${caught.shortMessage}`, { cause: caught, ...(caught.hint ? { hint: caught.hint } : {}) })
          : new BackupError('dump', `globals backup failed unexpectedly: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
    leftIn(error, uploadTo);
    const finished = ended();
    log.error({ stage: error.stage, err: errForLog(error), hint: error.hint }, `globals backup failed: ${error.shortMessage}`);
    return { ...finished, status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error, ...(error.leftoverUpload ? { leftoverUpload: error.leftoverUpload } : {}) };
  } finally {
    await session?.close();
  }
}

// A run of one database with BACKUP_GLOBALS: the database backup, then the globals object under the
// same start time (one run = one timestamp). The globals result is its own (told to onGlobals, and
// logged by the job); it never changes the database's result. A database run skipped because another
// replica holds its lock skips the globals too: that replica dumps them.
export function withGlobals(
  runDatabase: (run: RunContext) => Promise<BackupResult>,
  deps: GlobalsJobDeps,
  onGlobals: (result: BackupResult) => void = () => {},
): (run: RunContext) => Promise<BackupResult> {
  return async (run) => {
    const result = await runDatabase(run);
    if (result.status === 'skipped' || result.status === 'cancelled' || run.signal?.aborted === true) return result;
    onGlobals(await runGlobalsJob(deps, { ...run, startedAt: result.startedAt }));
    return result;
  };
}
