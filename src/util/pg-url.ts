// Splitting a postgres:// URL into what may be shown and the password, shared by the backup
// (BACKUP_DATABASE_URL) and the restore (--target-url, VERIFY_RESTORE_URL). Pure: callers throw their
// own errors, naming their own setting.

export interface PgUrlParts {
  // postgres://user@host:port/db?params, password removed (also a `password=` query parameter).
  urlWithoutPassword: string;
  // From the URL's user info, else its `password=` parameter; undefined when it has neither.
  password: string | undefined;
  // The path, else the user name, else "postgres" (what libpq connects to).
  database: string;
  host: string;
  port: number;
  user: string;
}

// The URL, or undefined when the text is not one (the text is never echoed: it may hold a password).
export function tryParseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

// Splits a parsed connection URL (which is left unchanged); undefined when the user, password or
// database holds a malformed percent-escape (e.g. a literal "%" that should be written %25).
export function splitPgUrl(parsed: URL): PgUrlParts | undefined {
  try {
    return splitUnchecked(parsed);
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
}

// What to tell people when splitPgUrl returns undefined.
export const MALFORMED_ESCAPE_HINT =
  'a "%" in the user, password or database must start a valid escape: write a literal % as %25 (and @ as %40, space as %20)';

function splitUnchecked(parsed: URL): PgUrlParts {
  const url = new URL(parsed.href);
  const fromQuery = url.searchParams.get('password');
  const password = url.password !== '' ? decodeURIComponent(url.password) : (fromQuery ?? undefined);
  const user = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || user || 'postgres';
  url.password = '';
  url.searchParams.delete('password');
  return {
    urlWithoutPassword: url.toString(),
    password,
    database,
    host: url.hostname || 'localhost',
    port: url.port ? Number(url.port) : 5432,
    user,
  };
}
