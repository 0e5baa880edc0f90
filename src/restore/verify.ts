import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DecryptionError } from '../crypto/errors.ts';
import { parseBackupKey } from '../core/naming.ts';
import { BackupCatalog, previousBackup, type BackupObject } from '../core/backup-catalog.ts';
import { SentinelError, shortMessageOf, errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import {
  createDecodeStages,
  describeBackup,
  destroyStages,
  findIntegrityError,
  openBackup,
  type BackupInfo,
  type DecryptFactory,
} from './backup-source.ts';
import { findVanishedTables } from './compare.ts';
import { createDumpScanStream, type DumpFacts } from './dump-scanner.ts';
import { IntegrityError } from './integrity.ts';
import type { PgTools } from './pg-tools.ts';
import { printableKey } from '../util/printable-key.ts';

type VerifyProblemKind =
  | 'no-backup'
  | 'unreadable'
  | 'no-manifest'
  | 'sha256'
  | 'size'
  | 'decrypt'
  | 'decode'
  | 'structure'
  | 'vanished-table';

interface VerifyProblem {
  kind: VerifyProblemKind;
  message: string;
  hint?: string;
}

export interface VerifyResult {
  key: string | undefined;
  ok: boolean;
  problems: VerifyProblem[];
  checkedAt: Date;
  durationMs: number;
  // Whether the stored bytes were checked against a manifest's sha256 and size (other tools' backups
  // have no manifest).
  sha256Checked: boolean;
  // The sha256 the stored bytes matched (from the manifest), when it was checked.
  sha256?: string | undefined;
  storedBytes: number;
  // SQL script bytes after decompression (and pg_restore's conversion, for custom dumps).
  scriptBytes: number;
  tables: string[];
  rows: number;
  // The backup whose table list was compared, when there was one.
  comparedWith: string | undefined;
  // Tables of that previous backup missing from this one.
  vanishedTables: string[];
}

// What a verification amounts to for metrics and alerts: 'intact' when the backup itself is sound
// (a vanished table is reported, but may be a deliberate migration), 'damaged' when it is not,
// 'nothing' when there was no backup to verify (the monitor reports that).
export function verifyVerdict(result: VerifyResult): 'intact' | 'damaged' | 'nothing' {
  if (result.problems.some((p) => p.kind === 'no-backup')) return 'nothing';
  return result.problems.every((p) => p.kind === 'vanished-table') ? 'intact' : 'damaged';
}

export interface VerifyRequest {
  store: BackupStore;
  prefix: string;
  // Default: the newest backup.
  key?: string | undefined;
  tools: PgTools;
  decrypt: DecryptFactory | undefined;
  logger: Logger;
  now?: () => Date;
  // Table lists of backups already read (key -> tables), so a schedule reads each backup once.
  tableCache?: Map<string, string[]>;
  // Aborting stops every storage call at once (the service is stopping); the result then only says
  // the verification was cut short, and the caller discards it.
  signal?: AbortSignal | undefined;
}

interface Analysis {
  facts: DumpFacts | undefined;
  storedBytes: number;
  problems: VerifyProblem[];
}

// Reads one backup end to end in bounded memory: sha256 and size against the manifest, decryption,
// full decompression, pg_dump's header and trailer (custom dumps are converted by pg_restore, which
// reads every block), and its tables compared with the previous backup's. Never throws.
export async function verifyBackup(request: VerifyRequest): Promise<VerifyResult> {
  const now = request.now ?? (() => new Date());
  const checkedAt = now();
  const log = request.logger.child({ component: 'verify' });
  const result = (partial: Partial<VerifyResult> & { problems: VerifyProblem[] }): VerifyResult => ({
    key: undefined,
    sha256Checked: false,
    storedBytes: 0,
    scriptBytes: 0,
    tables: [],
    rows: 0,
    comparedWith: undefined,
    vanishedTables: [],
    ...partial,
    ok: partial.problems.length === 0,
    checkedAt,
    durationMs: now().getTime() - checkedAt.getTime(),
  });
  let backups: BackupObject[];
  try {
    ({ backups } = await new BackupCatalog(request.store, request.prefix).list(request.signal ? { signal: request.signal } : {}));
  } catch (error) {
    return result({ problems: [problemOf('unreadable', error, `cannot list backups in ${request.store.description}`)] });
  }
  const key = request.key ?? backups.at(-1)?.key;
  if (key === undefined) {
    return result({ problems: [{ kind: 'no-backup', message: `no backups under "${request.prefix}" in ${request.store.description}`, hint: 'take one with `backup-sentinel backup`, or check BUCKET_SUBFOLDER and BACKUP_FILE_PREFIX' }] });
  }
  let info: BackupInfo;
  try {
    info = await describeBackup(request.store, key, request.prefix, probeOptions(request), request.signal);
  } catch (error) {
    return result({ key, problems: [problemOf('unreadable', error, `cannot read ${printableKey(key)}`)] });
  }
  const problems: VerifyProblem[] = [];
  // Only our own backups are expected to have a manifest; other tools' (the Railway template's, a
  // hand-uploaded dump) never do, and are still read end to end.
  if (!info.manifest && parseBackupKey(key, request.prefix).ours) {
    problems.push({
      kind: 'no-manifest',
      message: `${printableKey(key)} has no manifest (${printableKey(key)}.manifest.json), so its sha256 cannot be checked`,
      hint: 'backups written by backup-sentinel always get one once the upload completed: look for a failed manifest upload in the backup logs',
    });
  }
  const analysis = await analyze(request, info);
  problems.push(...analysis.problems);
  const tables = analysis.facts?.tables ?? [];
  let comparedWith: string | undefined;
  let vanishedTables: string[] = [];
  if (analysis.problems.length === 0 && analysis.facts) {
    request.tableCache?.set(key, tables);
    const previous = previousBackup(backups, key)?.key;
    if (previous !== undefined) {
      const previousTables = await tablesOf(request, previous, log);
      if (previousTables !== undefined) {
        comparedWith = previous;
        const vanished = findVanishedTables(previousTables, tables);
        vanishedTables = vanished;
        if (vanished.length > 0) {
          problems.push({
            kind: 'vanished-table',
            message: `${vanished.length === 1 ? 'table' : `${vanished.length} tables`} in the previous backup ${printableKey(previous)} but not in ${printableKey(key)}: ${vanished.slice(0, 10).join(', ')}${vanished.length > 10 ? ', ...' : ''}`,
            hint: 'if the tables were dropped on purpose (a migration), nothing to do; otherwise check the source database before the backups that still have them expire',
          });
        }
      }
    }
  }
  const rows = [...(analysis.facts?.rows.values() ?? [])].reduce((a, b) => a + b, 0);
  const sha256Checked = info.manifest !== undefined && analysis.problems.length === 0;
  const outcome = result({ key, problems, sha256Checked, ...(sha256Checked ? { sha256: info.manifest?.sha256 } : {}), storedBytes: analysis.storedBytes, scriptBytes: analysis.facts?.bytes ?? 0, tables, rows, comparedWith, vanishedTables });
  if (request.signal?.aborted) log.info({ key }, 'backup verification cancelled (the service is stopping)');
  else if (outcome.ok) log.info({ key, tables: tables.length, rows, comparedWith, durationMs: outcome.durationMs }, 'backup verified');
  else log.warn({ key, problems: problems.map((p) => p.message) }, 'backup verification found problems');
  return outcome;
}

async function analyze(request: VerifyRequest, info: BackupInfo): Promise<Analysis> {
  let storedBytes = 0;
  let body;
  try {
    body = await openBackup(request.store, info, request.signal);
  } catch (error) {
    return { facts: undefined, storedBytes, problems: [problemOf('unreadable', error, `cannot read ${printableKey(info.key)}`)] };
  }
  // Stages (and their child processes) are made only now, and handed to pipeline() at once.
  let decode;
  try {
    decode = createDecodeStages(info, { tools: request.tools, decrypt: request.decrypt, onBytes: (b) => (storedBytes = b) });
  } catch (error) {
    body.destroy();
    return { facts: undefined, storedBytes, problems: [problemOf('decrypt', error, `cannot decrypt ${printableKey(info.key)}`)] };
  }
  const scan = createDumpScanStream({ requireTrailer: false, label: info.key });
  const discard = new Writable({ highWaterMark: 1024 * 1024, write: (_chunk, _encoding, callback) => callback() });
  try {
    await pipeline([body, ...decode.stages, scan.stream, discard]);
  } catch (error) {
    destroyStages([body, ...decode.stages, scan.stream, discard]);
    const problems: VerifyProblem[] = [];
    // Cancelled: nothing is known about the backup, and reading it again would wait on the outage.
    if (request.signal?.aborted) return { facts: undefined, storedBytes, problems: [problemOf('unreadable', error, `reading ${printableKey(info.key)} was cancelled`)] };
    const damaged = error instanceof IntegrityError ? error : await findIntegrityError(request.store, info, request.signal).catch(() => undefined);
    if (damaged) problems.push(problemOf(damaged.kind, damaged, ''));
    if (!(error instanceof IntegrityError)) {
      const kind = error instanceof DecryptionError ? 'decrypt' : 'decode';
      problems.push(problemOf(kind, error, `${printableKey(info.key)} cannot be ${kind === 'decrypt' ? 'decrypted' : 'decompressed and read as a dump'}`));
    }
    return { facts: undefined, storedBytes, problems };
  }
  const facts = scan.scanner.facts;
  const problems: VerifyProblem[] = [];
  if (!facts.headerSeen) {
    problems.push({ kind: 'structure', message: `${printableKey(info.key)} does not start with pg_dump's "-- PostgreSQL database dump" header: it is not a pg_dump ${info.parts.format} dump`, hint: 'check what wrote this object' });
  } else if (!facts.trailerSeen) {
    problems.push({
      kind: 'structure',
      message: `${printableKey(info.key)} ends without pg_dump's "-- PostgreSQL database dump complete" trailer: the dump was cut short`,
      hint: 'pg_dump stopped before the end (killed, out of disk or memory?): check the backup logs of that run; use an older backup until a new one verifies',
    });
  }
  return { facts, storedBytes, problems };
}

// The previous backup's tables, from the cache or by reading it; undefined when it cannot be read
// (its own verification reports that; the comparison is then skipped).
async function tablesOf(request: VerifyRequest, key: string, log: Logger): Promise<string[] | undefined> {
  const cached = request.tableCache?.get(key);
  if (cached) return cached;
  try {
    const info = await describeBackup(request.store, key, request.prefix, probeOptions(request), request.signal);
    const analysis = await analyze(request, info);
    if (analysis.problems.length > 0 || !analysis.facts) {
      // Cancelled by a stop: nothing is wrong with that backup.
      if (request.signal?.aborted !== true) log.warn({ key, problems: analysis.problems.map((p) => p.message) }, 'the previous backup cannot be read: table lists not compared');
      return undefined;
    }
    request.tableCache?.set(key, analysis.facts.tables);
    return analysis.facts.tables;
  } catch (error) {
    if (request.signal?.aborted !== true) log.warn({ key, err: errForLog(error) }, 'the previous backup cannot be read: table lists not compared');
    return undefined;
  }
}

function probeOptions(request: VerifyRequest): { decrypt: DecryptFactory | undefined; zstdPath: string } {
  return { decrypt: request.decrypt, zstdPath: request.tools.zstd };
}

function problemOf(kind: VerifyProblemKind, error: unknown, prefix: string): VerifyProblem {
  const message = shortMessageOf(error);
  const hint = error instanceof SentinelError ? error.hint : undefined;
  return { kind, message: prefix ? `${prefix}: ${message}` : message, ...(hint ? { hint } : {}) };
}
