import pg from 'pg';
import { BackupError } from '../errors.ts';
import { pgClientConfig } from '../util/pg-client-config.ts';
import type { DatabaseTarget } from './connection.ts';
import { versionFromNum } from './pg-version.ts';

// One connection to the database being backed up, held open for the whole run: it reads the server
// version and size, and holds the advisory lock that keeps two replicas from backing up at once
// (session locks go away by themselves when the connection closes, even if this process dies).

// Fixed advisory lock key: the bytes of "backups1" (all backup-sentinel replicas share it per database).
const ADVISORY_LOCK_KEY = '7089074633727472433';

interface ServerFacts {
  version: string;
  database: string;
  sizeBytes: number;
}

export interface DbSession {
  readonly facts: ServerFacts;
  // true when this session got the lock; false when another session holds it.
  tryLock(): Promise<boolean>;
  close(): Promise<void>;
}

// Turns a pg/libpq-style connection error into a BackupError that names the database and what to do.
function connectionError(error: unknown, target: DatabaseTarget): BackupError {
  const e = error as { code?: string; message?: string };
  const where = `database "${target.database}" at ${target.host}:${target.port} as user "${target.user}"`;
  const reason = (e.message ?? String(error)).split('\n')[0] ?? '';
  let hint = 'check BACKUP_DATABASE_URL and that the database server is reachable from here';
  if (e.code === '28P01' || e.code === '28000') hint = 'check the user and password in BACKUP_DATABASE_URL (percent-encode special characters)';
  else if (e.code === '3D000') hint = 'check the database name in BACKUP_DATABASE_URL (the path after the port), or create the database';
  else if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT') hint = 'check the host and port in BACKUP_DATABASE_URL and that PostgreSQL is running and accepts connections';
  const safe = target.password ? reason.replaceAll(target.password, '***') : reason;
  return new BackupError('dump', `cannot connect to ${where}: ${safe}`, { hint, cause: error });
}

// Connects with the parsed connection parameters (the password stays in this process), reads the server facts.
export async function openDbSession(target: DatabaseTarget, connectTimeoutMs = 15_000): Promise<DbSession> {
  const client = new pg.Client(pgClientConfig(target, target.password, { connectionTimeoutMillis: connectTimeoutMs, application_name: 'backup-sentinel' }));
  // A connection that drops later must not crash the process: errors surface through queries.
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ num: string; db: string; size: string }>(
      "SELECT current_setting('server_version_num') AS num, current_database() AS db, pg_database_size(current_database())::text AS size",
    );
    const row = result.rows[0];
    if (!row) throw new Error('the server returned no row for its version');
    const facts: ServerFacts = { version: versionFromNum(Number(row.num)), database: row.db, sizeBytes: Number(row.size) };
    let closed = false;
    return {
      facts,
      async tryLock() {
        try {
          const r = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${ADVISORY_LOCK_KEY}::bigint) AS locked`);
          return r.rows[0]?.locked === true;
        } catch (error) {
          throw new BackupError('lock', `cannot take the backup advisory lock: ${(error as Error).message}`, {
            hint: 'the user in BACKUP_DATABASE_URL needs to run pg_try_advisory_lock; behind a transaction-pooling proxy (PgBouncer) connect directly',
            cause: error,
          });
        }
      },
      async close() {
        if (closed) return;
        closed = true;
        await client.end().catch(() => {});
      },
    };
  } catch (error) {
    await client.end().catch(() => {});
    if (error instanceof BackupError) throw error;
    throw connectionError(error, target);
  }
}
