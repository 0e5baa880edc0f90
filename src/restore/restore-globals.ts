import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { GlobalsFacts } from '../backup/manifest.ts';
import { RestoreError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { printableKey } from '../util/printable-key.ts';
import { createDecodeStages, describeBackup, destroyStages, openBackup, type DecryptFactory } from './backup-source.ts';
import { classifyGlobalsStatement, splitSqlStatements, withoutSuperuserAttributes } from './globals-sql.ts';
import type { PgTools } from './pg-tools.ts';
import { withClient, type RestoreTarget } from './target.ts';

// Restores a globals object (pg_dumpall --globals-only) onto a server, one statement at a time on one
// connection (no transaction: CREATE TABLESPACE cannot run in one, and one failing statement must not
// undo the roles already made). A role that exists on the target before the restore is left exactly as
// it is: its CREATE ROLE, ALTER ROLE (attributes, password, settings), comment and the memberships
// granted to it are skipped and the role is reported, so restoring never changes a live password.
// A rehearsal (the restore drill) runs the same statements inside one transaction that it rolls back,
// each behind a savepoint so a refused one is reported and the rest go on: the scratch server is left
// as it was. Tablespace statements cannot run in a transaction; a rehearsal skips and reports them.

export interface GlobalsRestoreReport {
  key: string;
  // What the backup says (its manifest); 'unknown' for a globals object without one.
  rolePasswords: 'included' | 'omitted' | 'unknown';
  // Roles this restore created.
  created: string[];
  // Roles that already existed on the target and were left as they were.
  existing: string[];
  // Statements the server refused (e.g. a tablespace whose directory the new server lacks).
  failed: { statement: string; error: string }[];
  // Roles set without the attributes only a superuser may set (the restoring user is none).
  adjusted: { role: string; dropped: string[] }[];
  // ALTER ROLE ... IN DATABASE ... SET, to run once the databases exist (applyDeferred).
  deferred: string[];
  // The databases the server had when the globals were dumped, with owners (from the manifest).
  databases: GlobalsFacts['databases'] | undefined;
  // A rehearsal's statements that cannot run inside a transaction (tablespaces), not tried.
  skipped?: string[];
}

export interface GlobalsRestoreRequest {
  store: BackupStore;
  key: string;
  prefix: string;
  // Any database of the target server (its maintenance database, e.g. postgres).
  target: RestoreTarget;
  decrypt: DecryptFactory | undefined;
  tools: PgTools;
  logger: Logger;
  signal?: AbortSignal;
  // Apply inside a transaction and roll it back (see above).
  rehearse?: boolean;
}

// Statements PostgreSQL refuses inside a transaction block.
const OUTSIDE_TRANSACTION_ONLY = /^(?:CREATE|DROP)\s+TABLESPACE\b/i;

// A globals script is a few KiB per role; this bounds memory against a wrong object.
const MAX_GLOBALS_BYTES = 64 * 1024 * 1024;

// Reads the whole globals script (sha256-checked against its manifest, decrypted, decompressed).
async function readGlobalsScript(request: GlobalsRestoreRequest): Promise<{ sql: string; facts: GlobalsFacts | undefined }> {
  const info = await describeBackup(request.store, request.key, request.prefix, { decrypt: request.decrypt, zstdPath: request.tools.zstd }, request.signal);
  if (info.parts.format !== 'plain') {
    throw new RestoreError(`${printableKey(info.key)} is not a globals script (it is a ${info.parts.format} archive)`, { hint: 'the @globals folder should hold only pg_dumpall --globals-only output' });
  }
  const body = await openBackup(request.store, info, request.signal);
  let decode;
  try {
    decode = createDecodeStages(info, { tools: request.tools, decrypt: request.decrypt });
  } catch (error) {
    body.destroy();
    throw error;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      length += chunk.length;
      if (length > MAX_GLOBALS_BYTES) return callback(new RestoreError(`${printableKey(info.key)} is larger than ${MAX_GLOBALS_BYTES} bytes: not a globals script`));
      chunks.push(chunk);
      callback();
    },
  });
  try {
    await pipeline([body, ...decode.stages, collect], request.signal ? { signal: request.signal } : {});
  } catch (error) {
    destroyStages([body, ...decode.stages]);
    throw error;
  }
  // Nothing is applied before the stored bytes matched the manifest.
  await decode.integrity.verified;
  return { sql: Buffer.concat(chunks).toString('utf8'), facts: info.manifest?.globals };
}

async function existingRoles(client: pg.Client): Promise<Set<string>> {
  const r = await client.query<{ rolname: string }>('SELECT rolname FROM pg_catalog.pg_roles');
  return new Set(r.rows.map((row) => row.rolname));
}

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
}

// A membership grant (GRANT role TO member ...): the member it changes.
const MEMBERSHIP = /^GRANT\s+(?:"(?:[^"]|"")*"|[^\s;"]+)(?:\s*,\s*(?:"(?:[^"]|"")*"|[^\s;"]+))*\s+TO\s+("(?:[^"]|"")*"|[^\s;",]+)/i;

function membershipMember(statement: string): string | undefined {
  if (/\sON\s/i.test(statement.split(/\sTO\s/i)[0] ?? '')) return undefined;
  const m = MEMBERSHIP.exec(statement);
  const ident = m?.[1];
  if (ident === undefined) return undefined;
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}

// Runs the script's statements in order through `run`, leaving pre-existing roles alone; refused ones are
// reported.
async function applyStatements(sql: string, before: Set<string>, run: (statement: string) => Promise<void>, report: GlobalsRestoreReport, log: Logger, rehearse: boolean): Promise<void> {
  for (const statement of splitSqlStatements(sql)) {
    if (rehearse && OUTSIDE_TRANSACTION_ONLY.test(statement)) {
      report.skipped?.push(statement.split('\n')[0] ?? '');
      continue;
    }
    const kind = classifyGlobalsStatement(statement);
    if (kind.kind === 'database-setting') {
      if (!before.has(kind.role)) report.deferred.push(statement);
      continue;
    }
    if (kind.kind === 'role' && before.has(kind.role)) {
      if (kind.create) report.existing.push(kind.role);
      continue;
    }
    const member = membershipMember(statement);
    if (member !== undefined && before.has(member)) continue;
    try {
      try {
        await run(statement);
      } catch (error) {
        // A restoring user that is no superuser (a managed server's admin) cannot set SUPERUSER,
        // REPLICATION or BYPASSRLS, not even their NO form: set the rest (LOGIN, the password, ...).
        const reduced = kind.kind === 'role' ? withoutSuperuserAttributes(statement) : undefined;
        if (reduced === undefined || kind.kind !== 'role') throw error;
        if (reduced.statement !== '') await run(reduced.statement);
        report.adjusted.push({ role: kind.role, dropped: reduced.dropped });
        log.warn({ role: kind.role, dropped: reduced.dropped, error: firstLine(error) }, 'role attributes only a superuser may set were left out');
      }
      if (kind.kind === 'role' && kind.create) report.created.push(kind.role);
    } catch (error) {
      // Statement text is shown up to its first line: an ALTER ROLE line may hold a password hash.
      const shown = statement.replace(/PASSWORD\s+'[^']*'/gi, "PASSWORD '***'").split('\n')[0] ?? '';
      report.failed.push({ statement: shown, error: firstLine(error) });
      log.warn({ statement: shown, error: firstLine(error) }, 'a globals statement was refused; the restore goes on');
    }
  }
}

// Runs the script's statements in order, leaving pre-existing roles alone. Throws RestoreError only
// when the object cannot be read or the server cannot be reached; refused statements are reported.
export async function restoreGlobals(request: GlobalsRestoreRequest): Promise<GlobalsRestoreReport> {
  const { sql, facts } = await readGlobalsScript(request);
  const log = request.logger.child({ component: 'restore', key: request.key, globals: true });
  const report: GlobalsRestoreReport = {
    key: request.key,
    rolePasswords: facts?.rolePasswords ?? 'unknown',
    created: [],
    existing: [],
    failed: [],
    adjusted: [],
    deferred: [],
    databases: facts?.databases,
  };
  const rehearse = request.rehearse === true;
  await withClient(request.target, async (client) => {
    const before = await existingRoles(client);
    // In a rehearsal each statement runs behind a savepoint: a refused one is undone alone.
    const run = async (statement: string): Promise<void> => {
      if (!rehearse) {
        await client.query(statement);
        return;
      }
      await client.query('SAVEPOINT globals_statement');
      try {
        await client.query(statement);
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT globals_statement');
        throw error;
      }
      await client.query('RELEASE SAVEPOINT globals_statement');
    };
    if (rehearse) {
      report.skipped = [];
      await client.query('BEGIN');
    }
    try {
      await applyStatements(sql, before, run, report, log, rehearse);
    } finally {
      if (rehearse) await client.query('ROLLBACK');
    }
  });
  if (rehearse) {
    log.info({ wouldCreate: report.created.length, existing: report.existing, failed: report.failed.length, skipped: report.skipped?.length ?? 0 }, 'globals rehearsed (rolled back)');
    return report;
  }
  log.info({ created: report.created.length, existing: report.existing, failed: report.failed.length, rolePasswords: report.rolePasswords }, 'globals restored');
  return report;
}

// Runs the per-database role settings once the databases exist; refused ones join report.failed.
export async function applyDeferred(report: GlobalsRestoreReport, target: RestoreTarget): Promise<void> {
  if (report.deferred.length === 0) return;
  await withClient(target, async (client) => {
    for (const statement of report.deferred) {
      try {
        await client.query(statement);
      } catch (error) {
        report.failed.push({ statement: statement.split('\n')[0] ?? '', error: firstLine(error) });
      }
    }
  });
}
