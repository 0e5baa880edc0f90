import { BackupError } from '../errors.ts';
import type { Secret } from '../config/secret.ts';
import { parsePgUrl, type PgUrlParts } from '../util/pg-url.ts';

// BACKUP_DATABASE_URL split into the connection parameters every client gets as explicit fields (see
// util/pg-url.ts), what may be shown (the URL without password, for logs) and the password, which
// only travels through a child's environment.
export type DatabaseTarget = PgUrlParts;

// Splits the connection string; BackupError stage 'config' when it is not a URL we can use. The
// message never quotes the value: it may hold the password.
export function parseDatabaseUrl(databaseUrl: Secret): DatabaseTarget {
  const result = parsePgUrl(databaseUrl.reveal());
  if (!result.ok) {
    throw new BackupError('config', `BACKUP_DATABASE_URL is not a valid URL: expected ${result.problem}`, {
      hint: 'use postgres://user:password@host:5432/database; percent-encode special characters in the password (e.g. @ as %40, space as %20)',
    });
  }
  return result.parts;
}
