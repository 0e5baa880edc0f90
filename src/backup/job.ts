import type { Duplex } from 'node:stream';
import type { BackupSettings, Location } from '../config/types.ts';
import { BackupError, StorageError, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { parseDatabaseUrl } from './connection.ts';
import { openDbSession } from './db-session.ts';
import { buildManifest, objectMetadata, putManifest, type RunFacts } from './manifest.ts';
import { backupKey } from '../core/naming.ts';
import { buildPgDumpInvocation, startPgDump } from './pg-dump.ts';
import { DEFAULT_SEARCH_ROOTS, resolvePgDump, type PgDumpSearchRoots } from './pg-version.ts';
import { runBackupPipeline } from './pipeline.ts';
import { DEFAULT_STALL_TIMEOUT_MS } from './stall-watch.ts';
import type { BackupResult, BackupTrigger } from './result.ts';

// The optional stage after compression (age encryption); the key then ends in `.age`.
export interface ExtraStage {
  name: 'age';
  create(): Duplex;
}

export interface BackupJobDeps {
  settings: BackupSettings;
  location: Location;
  store: BackupStore;
  logger: Logger;
  // With BACKUP_DATABASES: the database to back up instead of the one named in the URL.
  database?: string | undefined;
  clock?: () => Date;
  pgDumpRoots?: PgDumpSearchRoots;
  extraStage?: ExtraStage | undefined;
  // Called once the run holds the lock and really starts (BACKUP_HEARTBEAT_URL's start ping); never throws.
  onStarted?: (() => Promise<void>) | undefined;
  // Test seam: wraps pg_dump's stdout (e.g. to hold it while a test stops the server).
  onDumpStarted?: (pid: number | undefined, args: readonly string[]) => void;
}

export interface RunContext {
  runId: string;
  trigger: BackupTrigger;
  signal?: AbortSignal | undefined;
  // The run's start time, when the run covers several databases: all their keys carry it.
  startedAt?: Date | undefined;
}

const CONTENT_TYPES = { plain: 'application/sql', custom: 'application/octet-stream' } as const;

// One backup: connect, take the advisory lock, check versions, stream pg_dump into the store, write
// the manifest. Never throws: every outcome is a BackupResult (failures carry a BackupError).
export async function runBackupJob(deps: BackupJobDeps, run: RunContext): Promise<BackupResult> {
  const clock = deps.clock ?? (() => new Date());
  let startedAt = run.startedAt ?? clock();
  const log = deps.logger.child({ runId: run.runId });
  const ended = () => {
    const finishedAt = clock();
    return { runId: run.runId, trigger: run.trigger, startedAt, finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime() };
  };
  let session: Awaited<ReturnType<typeof openDbSession>> | undefined;
  try {
    const parsed = parseDatabaseUrl(deps.settings.databaseUrl);
    const target = deps.database === undefined ? parsed : { ...parsed, database: deps.database };
    session = await openDbSession(target);
    if (!(await session.tryLock())) {
      const message = 'skipped: another backup-sentinel holds the lock on this database';
      log.warn({ database: session.facts.database, trigger: run.trigger }, message);
      return { ...ended(), status: 'skipped', reason: 'locked', message };
    }
    await deps.onStarted?.();
    const { facts } = session;
    const tool = await resolvePgDump(facts.version, deps.settings.pgDumpPath, deps.pgDumpRoots ?? DEFAULT_SEARCH_ROOTS);
    const { format, compression } = deps.settings;
    const encrypted = deps.extraStage !== undefined;
    const keyParts = { format, compression: compression.algorithm, encrypted };
    let key = backupKey(deps.location, startedAt, keyParts);
    // Keys have one-second resolution: never overwrite a backup taken in the same second.
    for (let attempt = 0; attempt < 3 && (await deps.store.head(key)) !== undefined; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
      startedAt = clock();
      key = backupKey(deps.location, startedAt, keyParts);
    }
    const runFacts: RunFacts = { key, format, compression: compression.algorithm, encrypted, pgDumpVersion: tool.version, serverVersion: facts.version, database: facts.database, runId: run.runId, startedAt };
    const invocation = buildPgDumpInvocation(tool.path, target, format, deps.settings.options);
    log.info(
      {
        trigger: run.trigger,
        key,
        store: deps.store.description,
        database: facts.database,
        databaseSize: formatBytes(facts.sizeBytes),
        serverVersion: facts.version,
        pgDump: tool.path,
        pgDumpVersion: tool.version,
        format,
        compression: compression.algorithm,
      },
      'backup started',
    );
    const output = await runBackupPipeline({
      store: deps.store,
      key,
      startDump: (pipeTo) => {
        const dump = startPgDump(invocation, target.password, pipeTo);
        deps.onDumpStarted?.(dump.pid, invocation.args);
        return dump;
      },
      compression,
      extraStage: deps.extraStage?.create(),
      contentType: CONTENT_TYPES[format],
      sizeHint: facts.sizeBytes,
      signal: run.signal,
      stallTimeoutMs: deps.settings.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      onSlow: ({ stage, idleMs, stallTimeoutMs }) => {
        log.warn(
          { key, stage, idle: formatDuration(idleMs), stallTimeout: formatDuration(stallTimeoutMs) },
          `backup made no progress for ${formatDuration(idleMs)} (${stage === 'upload' ? 'the storage is not taking data' : 'pg_dump sends nothing'}); it fails at ${formatDuration(stallTimeoutMs)} (BACKUP_STALL_TIMEOUT_MINUTES)`,
        );
      },
      onStalled: (error) => {
        log.warn({ key, stage: error.stage }, `${error.shortMessage}; cleaning up`);
      },
      metadata: objectMetadata(runFacts),
    });
    const finished = ended();
    const manifest = buildManifest(runFacts, output, finished);
    try {
      await putManifest(deps.store, manifest);
    } catch (error) {
      throw new BackupError('upload', `the backup ${key} was stored but its manifest could not be written: ${(error as Error).message}`, {
        cause: error,
        hint: 'the backup itself is complete; check the storage, the next run writes a new backup and manifest',
      });
    }
    log.info(
      {
        key,
        size: formatBytes(output.size),
        sizeBytes: output.size,
        uncompressed: formatBytes(output.uncompressedSize),
        uncompressedBytes: output.uncompressedSize,
        ratio: output.size > 0 ? Number((output.uncompressedSize / output.size).toFixed(2)) : undefined,
        duration: formatDuration(finished.durationMs),
        durationMs: finished.durationMs,
        parts: output.parts,
        sha256: output.sha256,
        compressor: output.compressor,
      },
      'backup succeeded',
    );
    return { ...finished, status: 'success', key, manifest };
  } catch (caught) {
    const error =
      caught instanceof BackupError
        ? caught
        : caught instanceof StorageError
          ? new BackupError('upload', `storage ${deps.store.description} failed [${caught.code}]: ${caught.shortMessage}`, {
              cause: caught,
              hint: caught.hint ?? 'check the storage settings (AWS_S3_* or BACKUP_DIR); the next run will try again',
            })
          : new BackupError('dump', `backup failed unexpectedly: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
    const finished = ended();
    const leftover = error.leftoverUpload;
    log.error(
      { stage: error.stage, err: errForLog(error), hint: error.hint, duration: formatDuration(finished.durationMs), ...(leftover ? { leftoverUpload: leftover } : {}) },
      `backup failed: ${error.shortMessage}`,
    );
    return { ...finished, status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error, ...(leftover ? { leftoverUpload: leftover } : {}) };
  } finally {
    await session?.close();
  }
}
