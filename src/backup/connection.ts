import { BackupError } from '../errors.ts';
import type { Secret } from '../config/secret.ts';
import { MALFORMED_ESCAPE_HINT, splitPgUrl, tryParseUrl, type PgUrlParts } from '../util/pg-url.ts';

// BACKUP_DATABASE_URL split into what may be shown (a URL without password, for pg_dump's --dbname
// and for logs) and the password, which only travels through a child's environment.
export type DatabaseTarget = PgUrlParts;

// Splits the connection string; BackupError stage 'config' when it is not a URL we can use.
export function parseDatabaseUrl(databaseUrl: Secret): DatabaseTarget {
  const url = tryParseUrl(databaseUrl.reveal());
  if (url === undefined) {
    throw new BackupError('config', 'BACKUP_DATABASE_URL is not a valid URL', {
      hint: 'use postgres://user:password@host:5432/database; percent-encode special characters in the password (e.g. @ as %40, space as %20)',
    });
  }
  const parts = splitPgUrl(url);
  if (parts === undefined) {
    throw new BackupError('config', 'BACKUP_DATABASE_URL has a malformed percent-escape', { hint: MALFORMED_ESCAPE_HINT });
  }
  return parts;
}
