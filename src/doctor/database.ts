import pg from 'pg';
import { parseDatabaseUrl, type DatabaseTarget } from '../backup/connection.ts';
import { openDbSession } from '../backup/db-session.ts';
import { resolvePgDump } from '../backup/pg-version.ts';
import type { BackupSettings } from '../config/types.ts';
import { shortMessageOf, SentinelError } from '../errors.ts';
import { pgClientConfig } from '../util/pg-client-config.ts';
import type { DoctorCheck } from './checklist.ts';

// The database checks of `doctor`: it connects (server version), finds the pg_dump a backup would
// use, and asks the server whether the role may read every table pg_dump reads, so a missing GRANT
// is found now instead of by the backup at 3 AM.

// How many unreadable tables are named (the rest are counted).
const NAMED_TABLES = 5;

interface UnreadableRelation {
  schema: string;
  name: string;
  // Without USAGE on the schema nothing in it can be read, whatever the table's own privileges.
  missing: 'schema usage' | 'select';
}

// Relations whose data pg_dump reads or locks: tables, partitioned tables, materialized views and
// sequences, outside the system schemas, except members of extensions (pg_dump leaves those to
// CREATE EXTENSION). Filters in BACKUP_OPTIONS (-n, -t, -T) are not applied: a table they exclude may
// be reported although that backup would not read it.
const UNREADABLE_SQL = `
SELECT n.nspname AS schema, c.relname AS name,
       has_schema_privilege(n.oid, 'USAGE') AS schema_ok
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm', 'S')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'))
 ORDER BY n.nspname, c.relname`;

// Every relation pg_dump would read that this connection's role may not.
async function findUnreadableRelations(target: DatabaseTarget, connectTimeoutMs = 10_000): Promise<UnreadableRelation[]> {
  const client = new pg.Client(pgClientConfig(target, target.password, { connectionTimeoutMillis: connectTimeoutMs, application_name: 'backup-sentinel doctor' }));
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ schema: string; name: string; schema_ok: boolean }>(UNREADABLE_SQL);
    return result.rows.map((r) => ({ schema: r.schema, name: r.name, missing: r.schema_ok ? 'select' : 'schema usage' }));
  } finally {
    await client.end().catch(() => {});
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

// The privilege check's result for people: the first few relations named, and the GRANTs that fix them.
function describeUnreadable(relations: readonly UnreadableRelation[], user: string): DoctorCheck {
  const name = 'database: read every table pg_dump reads';
  if (relations.length === 0) return { name, status: 'ok', summary: `user "${user}" may read every table, sequence and materialized view` };
  const shown = relations.slice(0, NAMED_TABLES).map((r) => `${r.schema}.${r.name}${r.missing === 'schema usage' ? ' (no USAGE on its schema)' : ''}`);
  const more = relations.length > NAMED_TABLES ? ` and ${relations.length - NAMED_TABLES} more` : '';
  const role = quoteIdent(user);
  const schemas = [...new Set(relations.filter((r) => r.missing === 'schema usage').map((r) => r.schema))];
  const tables = relations.filter((r) => r.missing === 'select').slice(0, NAMED_TABLES);
  const grants = [
    ...schemas.slice(0, NAMED_TABLES).map((s) => `GRANT USAGE ON SCHEMA ${quoteIdent(s)} TO ${role};`),
    ...tables.map((r) => `GRANT SELECT ON ${quoteIdent(r.schema)}.${quoteIdent(r.name)} TO ${role};`),
  ];
  return {
    name,
    status: 'fail',
    summary: `user "${user}" may not read ${relations.length} relation${relations.length === 1 ? '' : 's'} pg_dump reads, so every backup would fail: ${shown.join(', ')}${more}`,
    hint: `as the owner or a superuser run: ${grants.join(' ')}${more === '' ? '' : ' (and the same for the others)'} Or, on PostgreSQL 14 and later, for every table at once: GRANT pg_read_all_data TO ${role};`,
  };
}

// Connects and reads the server version; with `full`, also resolves pg_dump and checks privileges.
// `database`: one database of BACKUP_DATABASES (or a set's `databases`) on the URL's server instead of
// the URL's own. Never throws: each problem is a failed check.
export async function checkDatabase(settings: BackupSettings, options: { full: boolean; database?: string }): Promise<DoctorCheck[]> {
  const connection = 'database: connection';
  let target: DatabaseTarget;
  try {
    const parsed = parseDatabaseUrl(settings.databaseUrl);
    target = options.database === undefined ? parsed : { ...parsed, database: options.database };
  } catch (error) {
    return [{ name: connection, status: 'fail', summary: shortMessageOf(error), ...(error instanceof SentinelError && error.hint !== undefined ? { hint: error.hint } : {}) }];
  }
  let version: string;
  try {
    const session = await openDbSession(target, 10_000);
    version = session.facts.version;
    await session.close();
  } catch (error) {
    return [{ name: connection, status: 'fail', summary: shortMessageOf(error), hint: error instanceof SentinelError && error.hint !== undefined ? error.hint : 'check BACKUP_DATABASE_URL' }];
  }
  const checks: DoctorCheck[] = [{ name: connection, status: 'ok', summary: `database "${target.database}" at ${target.host}:${target.port} as user "${target.user}": PostgreSQL ${version}` }];
  if (!options.full) return checks;
  try {
    const tool = await resolvePgDump(version, settings.pgDumpPath);
    checks.push({ name: 'database: pg_dump', status: 'ok', summary: `pg_dump ${tool.version} (${tool.path})` });
  } catch (error) {
    checks.push({ name: 'database: pg_dump', status: 'fail', summary: shortMessageOf(error), hint: error instanceof SentinelError && error.hint !== undefined ? error.hint : 'install the PostgreSQL client matching the server or set PG_DUMP_PATH' });
  }
  try {
    checks.push(describeUnreadable(await findUnreadableRelations(target), target.user));
  } catch (error) {
    const safe = target.password ? shortMessageOf(error).replaceAll(target.password, '***') : shortMessageOf(error);
    checks.push({ name: 'database: read every table pg_dump reads', status: 'fail', summary: `could not check the privileges: ${safe}`, hint: 'check that the user in BACKUP_DATABASE_URL may read the catalog (pg_class, pg_namespace)' });
  }
  return checks;
}
