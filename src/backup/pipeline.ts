import type { Duplex, PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Compression } from '../config/types.ts';
import { BackupError, SentinelError, StorageError, type BackupStage, type LeftoverUpload } from '../errors.ts';
import { formatDuration } from '../util/format.ts';
import type { BackupStore, PutResult } from '../storage/store.ts';
import { compressionError, createCompressor } from './compress.ts';
import { ByteCounter, HashGate } from './hash.ts';
import type { DumpExit, RunningDump } from './pg-dump.ts';
import { watchForStall } from './stall-watch.ts';
import { Tee } from './tee.ts';

// pg_dump -> compression -> [extra stage, e.g. encryption] -> sha256 + end gate -> store.put.
// One stream, no temporary file; each stage's buffer is bounded and backpressure runs from the store
// back to pg_dump. gzip runs in this process (zlib, thread pool) and the dump flows through a byte
// counter; zstd is fed by pg_dump directly through a pipe and reports the byte counts itself. The
// object is complete only when pg_dump exited 0 with output, the compressor succeeded and the store
// finished; otherwise the upload is aborted and nothing is left under the key.

// One copy's target: several of them get the same bytes from one dump (a tee).
interface PipelineDestination {
  name: string;
  store: BackupStore;
}

export interface PipelineInput {
  store: BackupStore;
  // Several destinations (the first being `store`): each gets the same bytes; one failing aborts only its
  // own upload. Undefined or one: `store` alone, where any failure fails the run.
  destinations?: readonly PipelineDestination[] | undefined;
  key: string;
  // Starts pg_dump, writing to `output` when given (the compressor's pipe), else to its stdout.
  startDump: (output?: Writable) => RunningDump;
  compression: Compression;
  // Extra stage after compression (the key then carries `.age`); a Duplex such as an encryptor.
  extraStage?: Duplex | undefined;
  extraStageName?: BackupStage;
  metadata: Record<string, string>;
  contentType: string;
  // Expected size (e.g. the database size) so the store can pick a part size.
  sizeHint?: number | undefined;
  // Cancels the run (service stopping).
  signal?: AbortSignal | undefined;
  onProgress?: ((uploadedBytes: number) => void) | undefined;
  zstdPath?: string;
  // Fails the run when no bytes move (none read from pg_dump, none stored) for this long.
  stallTimeoutMs?: number | undefined;
  // Told once no bytes have moved for half the stall timeout (for a warning in the log), and when the
  // run is declared stalled (before the clean-up, which may itself take a while).
  onSlow?: ((info: { stage: BackupStage; idleMs: number; stallTimeoutMs: number }) => void) | undefined;
  onStalled?: ((error: BackupError) => void) | undefined;
}

// How one destination's copy ended, with several destinations.
export type DestinationPut =
  | { name: string; store: BackupStore; stored: true; parts: number; pieces?: { key: string; size: number }[] | undefined }
  | { name: string; store: BackupStore; stored: false; error: BackupError };

export interface PipelineOutput {
  // With several destinations: each one's outcome, in order (at least one stored).
  destinations?: DestinationPut[];
  size: number;
  uncompressedSize: number;
  sha256: string;
  parts: number;
  // Set when the backup was stored as several objects (store.put's PutResult.pieces).
  pieces?: { key: string; size: number }[] | undefined;
  compressor: string;
  compressionLevel: number | undefined;
}

// Which stage failed first; later errors (the ripple of destroying the other stages) are ignored.
class FirstFailure {
  stage: BackupStage | undefined;
  error: unknown;

  note(stage: BackupStage, error: unknown): void {
    if (this.stage !== undefined) return;
    this.stage = stage;
    this.error = error;
  }
}

function dumpFailure(exit: DumpExit): BackupError {
  const how = exit.exitCode !== undefined ? `exit code ${exit.exitCode}` : exit.signal ? `signal ${exit.signal}` : 'could not start';
  const firstErrorLine = exit.stderrTail.split('\n').find((l) => /error|fatal|failed/i.test(l)) ?? exit.stderrTail.split('\n')[0] ?? '';
  return new BackupError('dump', `pg_dump failed (${how})${firstErrorLine ? `: ${firstErrorLine.replace(/^pg_dump: (error: )?/, '')}` : ''}`, {
    ...(exit.stderrTail ? { details: `pg_dump stderr (last lines):\n${exit.stderrTail}` } : {}),
    hint: "read pg_dump's message above; check BACKUP_DATABASE_URL, that the database is up, and BACKUP_OPTIONS",
  });
}

function toBackupError(stage: BackupStage, error: unknown, storeDescription: string): BackupError {
  if (error instanceof BackupError) return error;
  if (stage === 'upload') {
    const short = error instanceof SentinelError ? error.shortMessage : (error as Error)?.message ?? String(error);
    const hint = error instanceof SentinelError ? error.hint : undefined;
    const code = error instanceof StorageError ? ` [${error.code}]` : '';
    return new BackupError('upload', `upload to ${storeDescription} failed${code}: ${short}`, {
      cause: error,
      hint: hint ?? 'check the storage settings (AWS_S3_* or BACKUP_DIR) and that the storage is reachable; the next run will try again',
    });
  }
  const message = (error as Error)?.message ?? String(error);
  const what = stage === 'compress' ? 'compression' : stage === 'encrypt' ? 'encryption' : stage;
  return new BackupError(stage, `${what} failed: ${message.split('\n')[0]}`, {
    cause: error,
    hint: stage === 'compress' ? 'check that the compressor is installed (zstd for BACKUP_COMPRESSION=zstd) and that the machine has memory and CPU left' : 'see the cause in the log',
  });
}

// The stage a stalled run is stuck in: the store not taking the bytes waiting for it (the last stage's
// output buffer is full), or nothing arriving from pg_dump.
function stalledStage(gate: HashGate): BackupStage {
  return gate.readableLength >= gate.readableHighWaterMark ? 'upload' : 'dump';
}

function stallError(stage: BackupStage, idleMs: number, timeoutMs: number, storeDescription: string): BackupError {
  const setting = `BACKUP_STALL_TIMEOUT_MINUTES=${Number((timeoutMs / 60_000).toFixed(4))}`;
  const idle = formatDuration(idleMs);
  if (stage === 'upload') {
    return new BackupError('upload', `upload to ${storeDescription} stalled: no bytes stored for ${idle} (${setting}); the upload was stopped`, {
      hint: 'the storage endpoint stopped accepting data: check that it is reachable and up (and not a proxy holding connections open); the next run tries again. Raise BACKUP_STALL_TIMEOUT_MINUTES only if uploads over this link legitimately pause longer',
    });
  }
  return new BackupError('dump', `pg_dump stalled: no data for ${idle} (${setting}); the backup was stopped`, {
    hint: 'pg_dump may be waiting for a lock another session holds (see pg_locks / pg_stat_activity) or the database server stopped answering; raise BACKUP_STALL_TIMEOUT_MINUTES if dumps of this database legitimately pause longer',
  });
}

function leftoverNote(leftover: LeftoverUpload): string {
  return `parts of multipart upload ${leftover.uploadId} could not be removed and stay billed until the daily sweep aborts them`;
}

// Streams one dump into the store; resolves with sizes and sha256, or rejects with a BackupError
// after aborting the upload and removing any partial object.
export async function runBackupPipeline(input: PipelineInput): Promise<PipelineOutput> {
  const { store, key } = input;
  const failure = new FirstFailure();
  const abort = new AbortController();
  const compressor = await createCompressor(input.compression, input.zstdPath);
  const counter = compressor.kind === 'stream' ? new ByteCounter({ highWaterMark: 1024 * 1024 }) : undefined;
  let dump: RunningDump;
  if (compressor.kind === 'process') {
    try {
      dump = input.startDump(compressor.input);
    } finally {
      compressor.releaseInput();
    }
  } else {
    dump = input.startDump();
  }
  let uncompressedSize = 0;
  // Fails as soon as pg_dump or zstd failed (called at once, so errors surface early).
  const checkExits = (): Promise<void> => checkExitsOf(compressor, dump);
  // Runs in the gate before the last byte is handed to the store (all data has passed by then).
  const checkSources = async (): Promise<void> => {
    await checkExits();
    let empty: boolean;
    if (compressor.kind === 'process') {
      // zstd reports its input size; should a version print none, a zstd frame of an empty input is
      // a dozen bytes, so the compressed size tells emptiness (and the uncompressed size stays 0).
      const reported = (await compressor.result).inputBytes;
      uncompressedSize = reported ?? 0;
      empty = reported === undefined ? gate.bytes < 32 : reported === 0;
    } else {
      uncompressedSize = counter?.bytes ?? 0;
      empty = uncompressedSize === 0;
    }
    if (empty) {
      const exit = await dump.exited;
      throw new BackupError('dump', 'pg_dump exited 0 but wrote nothing', {
        ...(exit.stderrTail ? { details: exit.stderrTail } : {}),
        hint: 'check BACKUP_OPTIONS (e.g. a --table pattern that matches nothing) and the permissions of the user in BACKUP_DATABASE_URL',
      });
    }
  };
  const gate = new HashGate(checkSources);

  const stages: [Readable, BackupStage][] = [];
  if (compressor.kind === 'process') {
    stages.push([compressor.output, 'compress']);
  } else {
    if (dump.stdout === undefined || counter === undefined) throw new Error('pg_dump has no stdout to read');
    stages.push([dump.stdout, 'dump'], [counter, 'dump'], [compressor.stream, 'compress']);
  }
  if (input.extraStage) stages.push([input.extraStage, input.extraStageName ?? 'encrypt']);
  stages.push([gate, 'upload']);
  for (const [stream, stage] of stages) {
    stream.on('error', (error: unknown) => failure.note(error instanceof BackupError ? error.stage : stage, error));
  }
  const killSources = () => {
    dump.kill();
    if (compressor.kind === 'process') compressor.kill();
  };

  const cancel = () => {
    failure.note('dump', new BackupError('dump', 'backup cancelled: the service is stopping', { hint: 'the next start or scheduled run takes a new backup' }));
    abort.abort();
    gate.destroy();
    killSources();
  };
  if (input.signal?.aborted) cancel();
  input.signal?.addEventListener('abort', cancel, { once: true });

  if (input.destinations !== undefined && input.destinations.length > 1) {
    try {
      return await finishToSeveral(input, input.destinations, { failure, abort, compressor, counter, dump, gate, stages, killSources, uncompressedSize: () => uncompressedSize });
    } finally {
      input.signal?.removeEventListener('abort', cancel);
    }
  }

  let uploaded = 0;
  let leftover: LeftoverUpload | undefined;
  const stallTimeoutMs = input.stallTimeoutMs;
  const watch =
    stallTimeoutMs === undefined
      ? undefined
      : watchForStall({
          timeoutMs: stallTimeoutMs,
          // Bytes read from pg_dump (gzip path), bytes handed to the store, bytes it stored.
          progress: () => (counter?.bytes ?? 0) + gate.bytes + uploaded,
          onSlow: (idleMs) => input.onSlow?.({ stage: stalledStage(gate), idleMs, stallTimeoutMs }),
          onStall: (idleMs) => {
            const error = stallError(stalledStage(gate), idleMs, stallTimeoutMs, store.description);
            failure.note(error.stage, error);
            input.onStalled?.(error);
            abort.abort();
            gate.destroy();
            killSources();
          },
        });

  const piped = pipeline(stages.map(([s]) => s) as unknown as [Readable, ...Duplex[]]);
  const put = store.put(key, gate, {
    metadata: input.metadata,
    contentType: input.contentType,
    signal: abort.signal,
    ...(input.sizeHint !== undefined ? { sizeHint: input.sizeHint } : {}),
    onProgress: (bytes) => {
      uploaded = bytes;
      input.onProgress?.(bytes);
    },
    onLeftover: (upload) => {
      leftover = upload;
    },
  });
  try {
    const [result] = await Promise.all([
      put.catch((error: unknown) => {
        failure.note('upload', error);
        throw error;
      }),
      piped,
      checkExits().catch((error: unknown) => {
        failure.note(error instanceof BackupError ? error.stage : 'dump', error);
        throw error;
      }),
    ]);
    return {
      size: gate.bytes,
      uncompressedSize,
      sha256: gate.sha256,
      parts: result.parts,
      ...(result.pieces !== undefined ? { pieces: result.pieces } : {}),
      compressor: compressor.description,
      compressionLevel: compressor.level,
    };
  } catch (error) {
    stopAll(failure, error, abort, killSources, stages);
    // Not `piped`: once its streams were destroyed from outside, stream.pipeline's promise may never settle
    // (seen on Node 22 and 24 when a stage's transform callback was still pending), and waiting for it
    // hung the run with nothing left in the event loop. The store and the children are what must end.
    const [putOutcome] = await Promise.allSettled([put, dump.exited, compressor.kind === 'process' ? compressor.result : undefined]);
    // A put that failed leaves no object (the store promises it, and cleans up within a bound). A put that
    // completed while another stage failed stored an object that must not stay: delete it. (Not after a
    // failed put: the storage that failed may not answer this either, and the run must end and release
    // its lock.)
    if (putOutcome.status === 'fulfilled') await store.delete(putOutcome.value.pieces?.map((p) => p.key) ?? [key]).catch(() => {});
    throw withLeftoverNote(toBackupError(failure.stage ?? 'upload', failure.error, store.description), leftover);
  } finally {
    watch?.stop();
    input.signal?.removeEventListener('abort', cancel);
  }
}

interface RunningStages {
  failure: FirstFailure;
  abort: AbortController;
  compressor: Awaited<ReturnType<typeof createCompressor>>;
  counter: ByteCounter | undefined;
  dump: RunningDump;
  gate: HashGate;
  stages: [Readable, BackupStage][];
  killSources: () => void;
  uncompressedSize: () => number;
}

// One destination's upload in a tee'd run.
interface Copy {
  destination: PipelineDestination;
  branch: PassThrough;
  abort: AbortController;
  put: Promise<PutResult>;
  uploaded: number;
  leftover: LeftoverUpload | undefined;
  // Set when this copy failed (its own upload, or stalled) while the run may go on.
  error: BackupError | undefined;
  // Its upload has ended (stored or failed).
  settled: boolean;
}

// A failed run: its first failure noted, every stage and child stopped. Then only the stores and the
// children are awaited, never stream.pipeline (see the single-store path).
function stopAll(failure: FirstFailure, error: unknown, abort: AbortController, killSources: () => void, stages: readonly (readonly [Readable, BackupStage])[]): void {
  failure.note('upload', error);
  abort.abort();
  killSources();
  for (const [stream] of stages) stream.destroy();
}

// The note about an upload left behind must survive into the one-line message that alerts and the result carry.
function withLeftoverNote(error: BackupError, leftover: LeftoverUpload | undefined): BackupError {
  if (leftover === undefined) return error;
  const withNote = new BackupError(error.stage, `${error.shortMessage}; ${leftoverNote(leftover)}`, { cause: error, ...(error.hint !== undefined ? { hint: error.hint } : {}) });
  withNote.leftoverUpload = leftover;
  return withNote;
}

// The tee'd end of a run with several destinations: the gate's bytes go to every destination at once,
// paced by the slowest. A destination whose upload fails or stalls is dropped (its upload aborted, so
// nothing partial stays there) and the others go on; the run fails only when the source failed or no
// destination is left. As with one store, only the stores and the children are awaited on failure.
async function finishToSeveral(input: PipelineInput, destinations: readonly PipelineDestination[], run: RunningStages): Promise<PipelineOutput> {
  const { failure, abort, compressor, counter, dump, gate, stages, killSources } = run;
  const { key } = input;
  const tee = new Tee(gate, destinations.length);
  const uploadedTotal = () => copies.reduce((sum, c) => sum + c.uploaded, 0);
  const copies: Copy[] = destinations.map((destination, i) => {
    const branch = tee.branches[i] as PassThrough;
    const copyAbort = new AbortController();
    const copy: Copy = { destination, branch, abort: copyAbort, uploaded: 0, leftover: undefined, error: undefined, settled: false, put: Promise.resolve({ key, size: 0, parts: 0 }) };
    copy.put = destination.store.put(key, branch, {
      metadata: input.metadata,
      contentType: input.contentType,
      signal: copyAbort.signal,
      ...(input.sizeHint !== undefined ? { sizeHint: input.sizeHint } : {}),
      onProgress: (bytes) => {
        copy.uploaded = bytes;
        input.onProgress?.(uploadedTotal());
      },
      onLeftover: (upload) => {
        copy.leftover = upload;
      },
    });
    return copy;
  });
  const abortAll = () => copies.forEach((c) => c.abort.abort());
  if (abort.signal.aborted) abortAll();
  else abort.signal.addEventListener('abort', abortAll, { once: true });

  // A copy that failed: dropped from the tee; when it was the last one, the run fails with every copy's error.
  const everyCopyFailed = () =>
    new BackupError('upload', `upload failed at every destination: ${copies.map((c) => `"${c.destination.name}": ${c.error?.shortMessage ?? 'failed'}`).join('; ')}`, {
      hint: 'check the storage settings of each destination (AWS_S3_* and BACKUP_DIR) and that they are reachable; the next run will try again',
    });
  const outcomes = copies.map((copy) =>
    copy.put.then(
      (result) => {
        copy.settled = true;
        return result;
      },
      (error: unknown) => {
        copy.settled = true;
        copy.error = withLeftoverNote(copy.error ?? toBackupError('upload', error, copy.destination.store.description), copy.leftover);
        tee.drop(copy.branch);
        if (tee.live === 0) {
          failure.note('upload', everyCopyFailed());
          throw copy.error;
        }
        return undefined;
      },
    ),
  );

  let watch: ReturnType<typeof watchForStall> | undefined;
  const stallTimeoutMs = input.stallTimeoutMs;
  const startWatch = (): void => {
    if (stallTimeoutMs === undefined) return;
    watch = watchForStall({
      timeoutMs: stallTimeoutMs,
      progress: () => (counter?.bytes ?? 0) + gate.bytes + uploadedTotal(),
      onSlow: (idleMs) => input.onSlow?.({ stage: stalledStage(gate), idleMs, stallTimeoutMs }),
      onStall: (idleMs) => {
        // The stalled destinations: those holding the others back, or, once the dump has ended, those
        // still not done storing it. Drop them and go on when another destination is left.
        const pending = copies.filter((c) => c.error === undefined && !c.settled);
        const stuck = gate.readableEnded ? pending : pending.filter((c) => tee.isHoldingBack(c.branch));
        const others = copies.filter((c) => c.error === undefined && !stuck.includes(c));
        if (stuck.length > 0 && others.length > 0) {
          for (const copy of stuck) {
            copy.error = stallError('upload', idleMs, stallTimeoutMs, copy.destination.store.description);
            input.onStalled?.(copy.error);
            copy.abort.abort();
            tee.drop(copy.branch);
          }
          if (others.some((c) => !c.settled)) startWatch();
          return;
        }
        const error = stallError(stalledStage(gate), idleMs, stallTimeoutMs, stuck.length === 1 ? (stuck[0] as Copy).destination.store.description : destinations.map((d) => d.store.description).join(' and '));
        failure.note(error.stage, error);
        input.onStalled?.(error);
        abort.abort();
        gate.destroy();
        killSources();
      },
    });
  };
  startWatch();

  const piped = pipeline(stages.map(([s]) => s) as unknown as [Readable, ...Duplex[]]);
  try {
    const [results] = await Promise.all([
      Promise.all(outcomes),
      piped,
      checkExitsOf(compressor, dump).catch((error: unknown) => {
        failure.note(error instanceof BackupError ? error.stage : 'dump', error);
        throw error;
      }),
    ]);
    return {
      destinations: copies.map((copy, i): DestinationPut => {
        const result = results[i];
        return result === undefined || copy.error !== undefined
          ? { name: copy.destination.name, store: copy.destination.store, stored: false, error: copy.error ?? new BackupError('upload', `upload to ${copy.destination.store.description} failed`) }
          : { name: copy.destination.name, store: copy.destination.store, stored: true, parts: result.parts, ...(result.pieces !== undefined ? { pieces: result.pieces } : {}) };
      }),
      size: gate.bytes,
      uncompressedSize: run.uncompressedSize(),
      sha256: gate.sha256,
      parts: results.find((r) => r !== undefined)?.parts ?? 0,
      compressor: compressor.description,
      compressionLevel: compressor.level,
    };
  } catch (error) {
    stopAll(failure, error, abort, killSources, stages);
    for (const copy of copies) tee.drop(copy.branch);
    // As with one store: wait on the stores and the children, never on `piped`.
    const [putOutcomes] = await Promise.all([
      Promise.allSettled(copies.map((c) => c.put)),
      Promise.allSettled([dump.exited, compressor.kind === 'process' ? compressor.result : undefined]),
    ]);
    // A copy that completed while the run failed must not stay (every piece of a split one).
    await Promise.all(
      copies.flatMap((c, i) => {
        const outcome = putOutcomes[i];
        return outcome?.status === 'fulfilled' ? [c.destination.store.delete(outcome.value.pieces?.map((p) => p.key) ?? [key]).catch(() => {})] : [];
      }),
    );
    const failed = toBackupError(failure.stage ?? 'upload', failure.error, destinations.map((d) => d.store.description).join(' and '));
    throw withLeftoverNote(failed, copies.find((c) => c.leftover !== undefined)?.leftover);
  } finally {
    watch?.stop();
    abort.signal.removeEventListener('abort', abortAll);
  }
}

// Fails when pg_dump or zstd failed.
async function checkExitsOf(compressor: RunningStages['compressor'], dump: RunningDump): Promise<void> {
  if (compressor.kind === 'process') {
    const z = await compressor.result;
    if (z.exitCode !== 0) {
      const how = z.exitCode !== null ? `exit code ${z.exitCode}` : `signal ${z.signal ?? '?'}`;
      throw compressionError(`zstd failed (${how})${z.stderrTail ? `: ${z.stderrTail.split('\n').pop() ?? ''}` : ''}`);
    }
  }
  const exit = await dump.exited;
  if (exit.exitCode !== 0) throw dumpFailure(exit);
}
