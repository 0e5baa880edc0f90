import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { childEnv } from '../backup/child-env.ts';
import type { ArchiveFormat } from '../core/backup-format.ts';
import { RestoreError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { libpqConninfo } from '../util/pg-url.ts';
import { createDecodeStages, describeBackup, destroyStages, findIntegrityError, openBackup, type BackupInfo, type DecryptFactory } from './backup-source.ts';
import { createDumpScanStream } from './dump-scanner.ts';
import { IntegrityError } from './integrity.ts';
import type { PgTools } from './pg-tools.ts';
import { PsqlSink } from './psql-sink.ts';
import {
  buildCleanSql,
  createDatabase,
  databaseExists,
  describeTarget,
  dropDatabase,
  listUserRelations,
  withClient,
  type RestoreTarget,
} from './target.ts';
import { printableKey } from '../util/printable-key.ts';
import { describeExit, runChild } from '../util/child.ts';

export interface RestoreProgress {
  // Stored bytes read so far, of totalBytes when known.
  bytes: number;
  totalBytes: number | undefined;
  percent: number | undefined;
  elapsedMs: number;
}

export interface RestoreRequest {
  store: BackupStore;
  key: string;
  // keyPrefix(location): how the key's name is read.
  prefix: string;
  target: RestoreTarget;
  // Replace what the target holds (in the restore's own transaction, except with jobs > 1).
  clean?: boolean;
  // Create the target database when it does not exist.
  create?: boolean;
  // Database to connect to for CREATE DATABASE (default "postgres").
  maintenanceDatabase?: string;
  // > 1: parallel pg_restore of a custom dump (the archive is downloaded and verified first).
  jobs?: number;
  // Leave out ownership and privileges (ALTER ... OWNER TO, GRANT, REVOKE): for a server that lacks the
  // source's roles. Objects then belong to the restoring user.
  noOwner?: boolean;
  decrypt: DecryptFactory | undefined;
  tools: PgTools;
  logger: Logger;
  onProgress?: (progress: RestoreProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  now?: () => number;
  // Where a parallel restore keeps the downloaded archive (default: the OS temp directory).
  tempDir?: string;
}

export interface RestoreSummary {
  key: string;
  format: ArchiveFormat;
  target: string;
  storedBytes: number;
  sha256: string;
  // false when the backup had no manifest to check against.
  sha256Checked: boolean;
  tables: number;
  // Rows loaded; exact (COPY lines of the dump) unless rowsEstimated.
  rows: number;
  rowsEstimated: boolean;
  // Tables of the dump as it names them, and the rows COPY loaded into each.
  rowsByTable: Map<string, number>;
  durationMs: number;
}

// Restores one stored backup into the target database, streaming: object -> sha256 -> decrypt ->
// decompress -> (pg_restore -f -) -> psql, in one transaction committed only when the sha256 matched
// and the dump ended with pg_dump's trailer. Refuses a non-empty target unless clean.
export async function restoreBackup(request: RestoreRequest): Promise<RestoreSummary> {
  const now = request.now ?? Date.now;
  const started = now();
  const info = await describeBackup(request.store, request.key, request.prefix, { decrypt: request.decrypt, zstdPath: request.tools.zstd }, request.signal);
  const log = request.logger.child({ component: 'restore', key: info.key });
  if (!info.manifest) {
    log.warn({ key: info.key }, 'this backup has no manifest: its sha256 cannot be checked (the dump trailer still is)');
  }
  const { prelude, created } = await prepareTarget(request);
  const reportProgress = throttleProgress(request, info, started, now);
  const jobs = request.jobs ?? 1;
  if (info.parts.format === 'custom' && jobs > 1) {
    return await restoreInParallel(request, info, jobs, prelude, reportProgress, started, now);
  }
  log.info({ target: describeTarget(request.target), format: info.parts.format, compression: info.parts.compression, encrypted: info.parts.encrypted }, 'restore started');
  // Child processes start only once the object is readable, and the pipeline owns them at once:
  // a failure in between (a missing binary, a storage error) can then never go unheard.
  const body = await openBackup(request.store, info, request.signal);
  let decode;
  try {
    decode = createDecodeStages(info, { tools: request.tools, decrypt: request.decrypt, onBytes: reportProgress, noOwner: request.noOwner ?? false });
  } catch (error) {
    body.destroy();
    throw error;
  }
  const { stages, integrity } = decode;
  const scan = createDumpScanStream({ requireTrailer: true, label: info.key, skipOwnership: request.noOwner ?? false, skipTransactionControl: true });
  const sink = new PsqlSink({ psqlPath: request.tools.psql, target: request.target, prelude, commitGate: integrity.verified });
  try {
    await pipeline([body, ...stages, scan.stream, sink], request.signal ? { signal: request.signal } : {});
  } catch (error) {
    destroyStages([body, ...stages, scan.stream, sink]);
    await sink.waitForExit();
    // Nothing was committed: a database this restore created (--create) holds nothing, so it goes too.
    if (created) await dropDatabase(request.target, request.maintenanceDatabase).catch(() => undefined);
    throw await explainFailure(error, request, info);
  }
  const outcome = await integrity.verified;
  const facts = scan.scanner.facts;
  const rows = [...facts.rows.values()].reduce((a, b) => a + b, 0);
  const summary: RestoreSummary = {
    key: info.key,
    format: info.parts.format,
    target: describeTarget(request.target),
    storedBytes: outcome.bytes,
    sha256: outcome.sha256,
    sha256Checked: outcome.checked,
    tables: facts.tables.length,
    rows,
    rowsEstimated: false,
    rowsByTable: facts.rows,
    durationMs: now() - started,
  };
  log.info({ tables: summary.tables, rows, bytes: outcome.bytes, durationMs: summary.durationMs }, 'restore committed');
  return summary;
}

// Creates the target when asked, refuses a non-empty one without clean; returns the SQL that empties
// it, and whether this restore created the database.
async function prepareTarget(request: RestoreRequest): Promise<{ prelude: string; created: boolean }> {
  const { target } = request;
  if (!(await databaseExists(target))) {
    if (!request.create) {
      throw new RestoreError(`target ${describeTarget(target)} does not exist`, { hint: 'pass --create to create it, or create it yourself (CREATE DATABASE)' });
    }
    await createDatabase(target, request.maintenanceDatabase);
    request.logger.info({ target: describeTarget(target) }, 'created the target database');
    return { prelude: '', created: true };
  }
  const prelude = await withClient(target, async (client) => {
    const existing = await listUserRelations(client);
    if (existing.count === 0) return '';
    if (!request.clean) {
      throw new RestoreError(
        `refusing to restore into ${describeTarget(target)}: it is not empty (${existing.count} tables, views or sequences, e.g. ${existing.sample.join(', ')})`,
        { hint: 'restore into an empty or new database (--create with a new name), or pass --clean to replace everything in its schemas (done in the restore\'s transaction: a failed restore leaves it as it was)' },
      );
    }
    return await buildCleanSql(client);
  });
  return { prelude, created: false };
}

function throttleProgress(request: RestoreRequest, info: BackupInfo, started: number, now: () => number): (bytes: number) => void {
  const interval = request.progressIntervalMs ?? 5000;
  let last = started;
  return (bytes) => {
    const t = now();
    if (!request.onProgress || (t - last < interval && bytes !== info.size)) return;
    last = t;
    const total = info.size;
    request.onProgress({ bytes, totalBytes: total, percent: total ? Math.min(100, (bytes / total) * 100) : undefined, elapsedMs: t - started });
  };
}

// Names the real cause: a damaged object is reported as such even when a later stage failed first.
async function explainFailure(error: unknown, request: RestoreRequest, info: BackupInfo): Promise<unknown> {
  if (error instanceof IntegrityError) return error;
  if ((error as { name?: string }).name === 'AbortError') {
    return new RestoreError(`restore of ${printableKey(info.key)} was stopped before it finished; nothing was committed`, { cause: error });
  }
  const damaged = await findIntegrityError(request.store, info, request.signal).catch(() => undefined);
  if (damaged) {
    return new IntegrityError(damaged.kind, `${damaged.shortMessage} (the restore stopped earlier: ${(error as Error).message.split('\n')[0]}); nothing was committed`, damaged.hint ?? '');
  }
  return error;
}

// Custom format with --jobs: pg_restore runs in parallel only from a file, so the archive is
// downloaded first, and pg_restore starts only once its sha256 matched. Not one transaction: a
// pg_restore failure part-way leaves the target partly restored (said loudly in the error).
async function restoreInParallel(
  request: RestoreRequest,
  info: BackupInfo,
  jobs: number,
  prelude: string,
  reportProgress: (bytes: number) => void,
  started: number,
  now: () => number,
): Promise<RestoreSummary> {
  const dir = await fs.mkdtemp(path.join(request.tempDir ?? os.tmpdir(), 'bs-restore-'));
  const file = path.join(dir, `${randomBytes(4).toString('hex')}.dump`);
  try {
    const body = await openBackup(request.store, info, request.signal);
    let decode;
    try {
      decode = createDecodeStages(info, { tools: request.tools, decrypt: request.decrypt, onBytes: reportProgress, archiveOnly: true });
    } catch (error) {
      body.destroy();
      throw error;
    }
    const { stages, integrity } = decode;
    try {
      await pipeline([body, ...stages, createWriteStream(file, { mode: 0o600 })], request.signal ? { signal: request.signal } : {});
    } catch (error) {
      destroyStages([body, ...stages]);
      throw await explainFailure(error, request, info);
    }
    const outcome = await integrity.verified;
    if (prelude) await withClient(request.target, async (client) => client.query(`BEGIN;\n${prelude}COMMIT;`));
    const { target } = request;
    const ownership = request.noOwner ? ['--no-owner', '--no-privileges'] : [];
    const result = await runChild(request.tools.pgRestore, ['--jobs', String(jobs), '--exit-on-error', '--no-password', ...ownership, '-d', libpqConninfo(target), file], {
      env: childEnv({ PGPASSWORD: target.password, PGAPPNAME: 'backup-sentinel-restore' }),
      secrets: [target.password],
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (result.code !== 0 || result.startError) {
      const tail = result.stderr.lines(3).join(' | ') || describeExit(result);
      throw new RestoreError(`pg_restore --jobs ${jobs} failed part-way into ${describeTarget(target)}: ${tail}`, {
        hint: 'the target database is PARTLY RESTORED (parallel restores cannot run in one transaction): drop it or restore again with --clean; without --jobs the restore is all-or-nothing',
      });
    }
    const { tables, rows } = await withClient(target, async (client) => {
      await client.query('ANALYZE');
      const r = await client.query<{ tables: string; rows: string }>(
        `SELECT count(*)::text AS tables, coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint::text AS rows
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`,
      );
      return { tables: Number(r.rows[0]?.tables ?? 0), rows: Number(r.rows[0]?.rows ?? 0) };
    });
    return {
      key: info.key,
      format: 'custom',
      target: describeTarget(target),
      storedBytes: outcome.bytes,
      sha256: outcome.sha256,
      sha256Checked: outcome.checked,
      tables,
      rows,
      rowsEstimated: true,
      rowsByTable: new Map(),
      durationMs: now() - started,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
