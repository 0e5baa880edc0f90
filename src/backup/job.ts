import { nameErrorSettings, type SettingNames } from '../config/setting-names.ts';
import type { Duplex } from 'node:stream';
import type { BackupSettings, Location } from '../config/types.ts';
import { BackupError, StorageError, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { parseDatabaseUrl } from './connection.ts';
import { openDbSession } from './db-session.ts';
import { buildManifest, objectMetadata, putManifest, type GlobalsFacts, type RunFacts } from './manifest.ts';
import { backupKey } from '../core/naming.ts';
import { buildPgDumpInvocation, startPgDump } from './pg-dump.ts';
import { DEFAULT_SEARCH_ROOTS, resolvePgDump, type PgDumpSearchRoots } from './pg-version.ts';
import { runBackupPipeline, type DestinationPut, type PipelineOutput } from './pipeline.ts';
import { DEFAULT_STALL_TIMEOUT_MS } from './stall-watch.ts';
import type { BackupFailure, BackupResult, BackupSuccess, BackupTrigger, DestinationResult } from './result.ts';
import type { Destination } from '../destinations/destination.ts';

// The optional stage after compression (age encryption); the key then ends in `.age`.
export interface ExtraStage {
  name: 'age';
  create(): Duplex;
}

export interface BackupJobDeps {
  settings: BackupSettings;
  location: Location;
  store: BackupStore;
  // Several destinations (the first being `store`): one dump, a copy in each, a result per destination.
  destinations?: readonly Destination[] | undefined;
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
  // A set of SENTINEL_CONFIG: its failures' hints name the file's keys (Config.settingNames).
  settingNames?: SettingNames | undefined;
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
  // The one destination the upload goes to, by name, when the run has several to choose from.
  let uploadTo: string | undefined;
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
    const several = deps.destinations !== undefined && deps.destinations.length > 1 ? deps.destinations : undefined;
    // With several destinations, one that does not answer before the dump starts is out of this run (a
    // failure there) and the others go on; the run fails here only when none answers.
    const unreachable: DestinationPut[] = [];
    let live: readonly Destination[] = several ?? [];
    // Keys have one-second resolution: never overwrite a backup taken in the same second (in any destination).
    const taken = async (candidate: string): Promise<boolean> => {
      if (several === undefined) return (await deps.store.head(candidate)) !== undefined;
      const headed = await headInEach(candidate, live, unreachable);
      live = headed.live;
      return headed.taken;
    };
    for (let attempt = 0; attempt < 3 && (await taken(key)); attempt += 1) {
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
        store: several === undefined ? deps.store.description : live.map((d) => `${d.name}=${d.store.description}`).join(' '),
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
    uploadTo = live.length > 1 ? undefined : several === undefined ? deps.destinations?.[0]?.name : live[0]?.name;
    const output = await runBackupPipeline({
      store: several === undefined ? deps.store : (live[0] as Destination).store,
      destinations: live.length > 1 ? live : undefined,
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
    if (several !== undefined) {
      return await finishDestinations(putsInOrder(output, live, unreachable, several), { runFacts, output, finished, log });
    }
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
    const error = asBackupError(caught, deps.store.description);
    nameErrorSettings(error, deps.settingNames);
    leftIn(error, uploadTo);
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

// With several destinations, before the dump: whether `key` is taken in any destination that answers.
// One that does not answer is out of this run (its failure goes to `unreachable`, `asError` wording it)
// and the others go on; none answering fails the run.
export async function headInEach(
  key: string,
  live: readonly Destination[],
  unreachable: DestinationPut[],
  asError: (error: unknown, store: BackupStore) => BackupError = (error, store) => asBackupError(error, store.description),
): Promise<{ live: Destination[]; taken: boolean }> {
  const heads = await Promise.all(live.map((d) => d.store.head(key).then((head) => ({ d, head, error: undefined }), (error: unknown) => ({ d, head: undefined, error }))));
  for (const { d, error } of heads) {
    if (error !== undefined) unreachable.push({ name: d.name, store: d.store, stored: false, error: asError(error, d.store) });
  }
  const answered = live.filter((d) => !unreachable.some((u) => u.name === d.name));
  if (answered.length === 0) {
    throw new BackupError('upload', `no destination answered: ${unreachable.map((u) => `"${u.name}": ${u.stored ? '' : u.error.shortMessage}`).join('; ')}`, {
      hint: 'check the storage settings of each destination (AWS_S3_* and BACKUP_DIR) and that they are reachable; the next run will try again',
    });
  }
  return { live: answered, taken: heads.some((h) => h.head !== undefined) };
}

// A failed upload's leftover, marked with the destination it was left in (when known).
export function leftIn(error: BackupError, destination: string | undefined): void {
  if (error.leftoverUpload !== undefined && destination !== undefined) error.leftoverUpload = { ...error.leftoverUpload, destination };
}

type RunTimes = Pick<BackupSuccess, 'runId' | 'trigger' | 'startedAt' | 'finishedAt' | 'durationMs'>;

// Each destination's put, in the configuration's order: the pipeline's own when it teed, else the one
// store it wrote to (a lone answering destination, its pieces included), then those that did not answer.
export function putsInOrder(output: PipelineOutput, live: readonly Destination[], unreachable: readonly DestinationPut[], several: readonly Destination[]): DestinationPut[] {
  const written = output.destinations ?? live.map((d): DestinationPut => ({ name: d.name, store: d.store, stored: true, parts: output.parts, ...(output.pieces === undefined ? {} : { pieces: output.pieces }) }));
  const puts = [...written, ...unreachable];
  return several.flatMap((d) => puts.filter((p) => p.name === d.name));
}

// With several destinations: each copy's manifest (same sha256, its own part count), a result per
// destination, and the run's: a success when every destination holds the copy, else a failure naming
// the destinations that do not (the others hold it).
// globals (BACKUP_GLOBALS): the globals' manifest facts, and their words ("globals stored in …").
export async function finishDestinations(
  puts: readonly DestinationPut[],
  run: { runFacts: RunFacts; output: PipelineOutput; finished: RunTimes; log: Logger; globals?: GlobalsFacts },
): Promise<BackupSuccess | BackupFailure> {
  const { runFacts, output, finished, log } = run;
  const what = run.globals === undefined ? 'backup' : 'globals';
  const { key } = runFacts;
  const destinations = await Promise.all(
    puts.map(async (put): Promise<DestinationResult> => {
      const where = put.store.description;
      if (!put.stored) return { destination: put.name, where, result: failureOf(finished, put.error) };
      const manifest = buildManifest(runFacts, { ...output, parts: put.parts, pieces: put.pieces }, finished, run.globals);
      try {
        await putManifest(put.store, manifest);
      } catch (error) {
        const failed = new BackupError('upload', `the backup ${key} was stored in ${where} but its manifest could not be written: ${(error as Error).message}`, {
          cause: error,
          hint: 'the backup itself is complete there; check the storage, the next run writes a new backup and manifest',
        });
        return { destination: put.name, where, result: failureOf(finished, failed) };
      }
      return { destination: put.name, where, result: { ...finished, status: 'success', key, manifest } };
    }),
  );
  const stored = destinations.filter((d) => d.result.status === 'success');
  const failed = destinations.filter((d): d is DestinationResult & { result: BackupFailure } => d.result.status === 'failed');
  for (const d of failed) {
    log.error({ key, destination: d.destination, where: d.where, stage: d.result.stage, err: errForLog(d.result.error), hint: d.result.error.hint }, `backup not stored in destination "${d.destination}": ${d.result.shortMessage}`);
  }
  const first = stored[0]?.result;
  if (failed.length === 0 && first?.status === 'success') {
    log.info(
      { key, destinations: destinations.map((d) => d.destination), sizeBytes: output.size, uncompressedBytes: output.uncompressedSize, duration: formatDuration(finished.durationMs), durationMs: finished.durationMs, sha256: output.sha256, compressor: output.compressor },
      `${what} succeeded in ${destinations.length} destinations`,
    );
    return { ...first, destinations };
  }
  const names = failed.map((d) => `"${d.destination}" failed: ${d.result.shortMessage}`).join('; ');
  const firstFailure = failed[0]?.result;
  const error = new BackupError(firstFailure?.stage ?? 'upload', `${what} stored in ${stored.length} of ${destinations.length} destinations (${stored.map((d) => `"${d.destination}"`).join(', ')}); ${names}`, {
    ...(firstFailure?.error ? { cause: firstFailure.error } : {}),
    hint: `${firstFailure?.error.hint ?? 'check that destination\'s storage'}; the copy in the other destination is complete`,
  });
  log.error({ key, stored: stored.map((d) => d.destination), failed: failed.map((d) => d.destination) }, `backup failed: ${error.shortMessage}`);
  return { ...failureOf(finished, error), destinations };
}

function failureOf(finished: RunTimes, error: BackupError): BackupFailure {
  const leftover = error.leftoverUpload;
  return { ...finished, status: 'failed', stage: error.stage, shortMessage: error.shortMessage, error, ...(leftover ? { leftoverUpload: leftover } : {}) };
}

// A storage error as the backup's upload failure, anything else as an unexpected one.
export function asBackupError(caught: unknown, storeDescription: string): BackupError {
  if (caught instanceof BackupError) return caught;
  if (caught instanceof StorageError) {
    return new BackupError('upload', `storage ${storeDescription} failed [${caught.code}]: ${caught.shortMessage}`, {
      cause: caught,
      hint: caught.hint ?? 'check the storage settings (AWS_S3_* or BACKUP_DIR); the next run will try again',
    });
  }
  return new BackupError('dump', `backup failed unexpectedly: ${(caught as Error)?.message ?? String(caught)}`, { cause: caught });
}
