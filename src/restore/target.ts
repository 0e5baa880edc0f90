import pg from 'pg';
import type { Secret } from '../config/secret.ts';
import { RestoreError } from '../errors.ts';
import { pgClientConfig } from '../util/pg-client-config.ts';
import { parsePgUrl, PG_URL_EXAMPLE, withPgDatabase, type PgUrlParts } from '../util/pg-url.ts';

// A database to restore into, split like BACKUP_DATABASE_URL is (util/pg-url.ts): the connection
// parameters every client gets as explicit fields, what may be shown (URL without password: logs) and
// the password, which stays in this process or travels through a child's environment.
export interface RestoreTarget extends PgUrlParts {
  // Which setting or flag named it, for messages (e.g. "--target-url", "VERIFY_RESTORE_URL").
  source: string;
}

// Parses a postgres:// URL; RestoreError naming `source` when it is not one (never quoting it: a
// malformed URL may hold the password anywhere).
// fallbackPassword (e.g. PGPASSWORD) is used when the URL has none, so people need not type one.
export function parseTargetUrl(url: Secret, source: string, fallbackPassword?: string): RestoreTarget {
  const result = parsePgUrl(url.reveal());
  if (!result.ok) {
    throw new RestoreError(`${source} is not a valid URL: expected ${result.problem}`, {
      hint: `use ${PG_URL_EXAMPLE}; percent-encode special characters in the password (@ as %40)`,
    });
  }
  const password = result.parts.password ?? (fallbackPassword || undefined);
  return { source, ...result.parts, password };
}

// The same server and credentials, another database.
export function withDatabase(target: RestoreTarget, database: string): RestoreTarget {
  return withPgDatabase(target, database);
}

export function describeTarget(target: RestoreTarget): string {
  return `database "${target.database}" at ${target.host}:${target.port}${target.user ? ` as user "${target.user}"` : ''}`;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

// Runs fn with one connection to the target; errors become RestoreErrors naming the target.
export async function withClient<T>(target: RestoreTarget, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(pgClientConfig(target, target.password, { connectionTimeoutMillis: 15_000, application_name: 'backup-sentinel-restore' }));
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw connectError(error, target);
  }
  try {
    return await fn(client);
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`query on ${describeTarget(target)} failed: ${safeReason(error, target)}`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

function safeReason(error: unknown, target: RestoreTarget): string {
  const reason = ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
  return target.password ? reason.replaceAll(target.password, '***') : reason;
}

function connectError(error: unknown, target: RestoreTarget): RestoreError {
  const code = (error as { code?: string }).code;
  let hint = `check ${target.source} and that the server is reachable from here`;
  if (code === '28P01' || code === '28000') hint = `check the user and password in ${target.source} (percent-encode special characters)`;
  else if (code === '3D000') hint = `the database does not exist: create it, or pass --create to the restore command`;
  return new RestoreError(`cannot connect to ${describeTarget(target)}: ${safeReason(error, target)}`, { hint, cause: error });
}

const USER_RELATIONS = `
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

// The database to connect to for CREATE/DROP DATABASE: the one given (e.g. VERIFY_RESTORE_URL's own),
// else "postgres" ("template1" when the target itself is "postgres").
function maintenanceOf(target: RestoreTarget, database: string | undefined): RestoreTarget {
  return withDatabase(target, database ?? (target.database === 'postgres' ? 'template1' : 'postgres'));
}

// Whether the target database exists: connecting to it tells (no other database needed for that).
export async function databaseExists(target: RestoreTarget): Promise<boolean> {
  try {
    await withClient(target, async () => undefined);
    return true;
  } catch (error) {
    if (error instanceof RestoreError && (error.cause as { code?: string } | undefined)?.code === '3D000') return false;
    throw error;
  }
}

export async function createDatabase(target: RestoreTarget, maintenanceDatabase?: string): Promise<void> {
  await withClient(maintenanceOf(target, maintenanceDatabase), async (client) => {
    await client.query(`CREATE DATABASE ${quoteIdent(target.database)}`);
  });
}

// Drops the database even while sessions are connected (PostgreSQL 13+: WITH (FORCE)).
export async function dropDatabase(target: RestoreTarget, maintenanceDatabase?: string): Promise<void> {
  await withClient(maintenanceOf(target, maintenanceDatabase), async (client) => {
    const num = Number((await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n")).rows[0]?.n ?? 0);
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)}${num >= 130000 ? ' WITH (FORCE)' : ''}`);
  });
}

// Tables, views, sequences etc. in user schemas: what makes a database "not empty".
export async function listUserRelations(client: pg.Client, limit = 5): Promise<{ count: number; sample: string[] }> {
  const count = await client.query<{ n: string }>(`SELECT count(*) AS n ${USER_RELATIONS} AND c.relkind IN ('r','p','v','m','S','f')`);
  const sample = await client.query<{ name: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name ${USER_RELATIONS} AND c.relkind IN ('r','p','v','m','S','f') ORDER BY 1 LIMIT ${limit}`,
  );
  return { count: Number(count.rows[0]?.n ?? 0), sample: sample.rows.map((r) => r.name) };
}

// Exact row counts of every ordinary table (FROM ONLY: partitions are counted once, on their own).
export async function countRows(client: pg.Client): Promise<Map<string, number>> {
  const tables = await client.query<{ name: string }>(`SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name ${USER_RELATIONS} AND c.relkind = 'r' ORDER BY 1`);
  const counts = new Map<string, number>();
  for (const { name } of tables.rows) {
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${name}`);
    counts.set(name, Number(r.rows[0]?.n ?? 0));
  }
  return counts;
}

// The planner's row estimates of every ordinary table: pg_class.reltuples (set by ANALYZE and VACUUM)
// when the table was analyzed, else the statistics' live tuples (which can drift: pending insert counts
// are added after an ANALYZE in the same session); undefined when neither is known.
export async function estimateRows(client: pg.Client): Promise<Map<string, number | undefined>> {
  const r = await client.query<{ name: string; reltuples: string; live: string | null }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.reltuples::bigint::text AS reltuples, s.n_live_tup::text AS live
     ${USER_RELATIONS.replace('WHERE', 'LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid WHERE')} AND c.relkind = 'r'`,
  );
  const estimates = new Map<string, number | undefined>();
  for (const row of r.rows) {
    const reltuples = Number(row.reltuples);
    const live = row.live === null ? undefined : Number(row.live);
    let estimate: number | undefined;
    if (reltuples > 0 || (reltuples === 0 && !live)) estimate = reltuples;
    else if (live !== undefined) estimate = live;
    estimates.set(row.name, estimate);
  }
  return estimates;
}

// SQL that empties the database's user schemas, run in the restore's own transaction (so a failed
// restore also undoes it). public is recreated with PostgreSQL 15's default owner and privileges.
export async function buildCleanSql(client: pg.Client): Promise<string> {
  const schemas = await client.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_catalog.pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
  );
  const num = Number((await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n")).rows[0]?.n ?? 0);
  const lines = schemas.rows.map((s) => `DROP SCHEMA IF EXISTS ${quoteIdent(s.name)} CASCADE;`);
  lines.push('CREATE SCHEMA public;');
  if (num >= 140000) lines.push('ALTER SCHEMA public OWNER TO pg_database_owner;');
  lines.push('GRANT USAGE ON SCHEMA public TO PUBLIC;');
  if (num < 150000) lines.push('GRANT CREATE ON SCHEMA public TO PUBLIC;');
  return `${lines.join('\n')}\n`;
}
