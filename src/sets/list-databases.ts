import pg from 'pg';
import type { DatabaseSelection } from '../config/types.ts';
import { BackupError } from '../errors.ts';
import { parseDatabaseUrl, type DatabaseTarget } from '../backup/connection.ts';
import type { Secret } from '../config/secret.ts';
import { pgClientConfig } from '../util/pg-client-config.ts';

// Every database the user of BACKUP_DATABASE_URL may connect to, templates and databases that refuse
// connections left out, sorted by name. Asked at each run, so a new database is picked up.
export async function listConnectableDatabases(target: DatabaseTarget, connectTimeoutMs = 15_000): Promise<string[]> {
  const client = new pg.Client(pgClientConfig(target, target.password, { connectionTimeoutMillis: connectTimeoutMs, application_name: 'backup-sentinel' }));
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT') ORDER BY datname",
    );
    return result.rows.map((row) => row.datname);
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
    const safe = target.password ? reason.replaceAll(target.password, '***') : reason;
    throw new BackupError('config', `cannot list the databases on ${target.host}:${target.port} (BACKUP_DATABASES=*): ${safe}`, {
      hint: 'check BACKUP_DATABASE_URL and that the server is reachable; or list the databases by name in BACKUP_DATABASES',
      cause: error,
    });
  } finally {
    await client.end().catch(() => {});
  }
}

// The databases one run backs up (pure): the names as configured, or every listed database minus
// BACKUP_EXCLUDE_DATABASES.
export function selectDatabases(selection: DatabaseSelection, onServer: readonly string[] | undefined): string[] {
  if (selection.kind === 'names') return [...selection.names];
  return (onServer ?? []).filter((name) => !selection.exclude.includes(name));
}

// The sets a command looks at (check, list): the configured names, or with `*` the databases on the
// server now.
export async function currentSetNames(selection: DatabaseSelection, databaseUrl: Secret | undefined): Promise<string[]> {
  if (selection.kind === 'names' || databaseUrl === undefined) return selectDatabases(selection, []);
  return selectDatabases(selection, await listConnectableDatabases(parseDatabaseUrl(databaseUrl)));
}
