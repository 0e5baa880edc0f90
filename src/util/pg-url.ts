// The one parser of postgres:// URLs (BACKUP_DATABASE_URL, RESTORE_TARGET_URL, VERIFY_RESTORE_URL,
// --target-url). It decides the connection parameters for every client: node-pg gets them as explicit
// fields and pg_dump, psql and pg_restore as a libpq keyword/value string (password only through
// PGPASSWORD), so no client decodes the URL itself: node-pg's own parser leaves "%3B" undecoded in a
// database name where libpq decodes it, and the two would connect to different databases.
// Pure: callers throw their own errors, naming their own setting. A problem never quotes the text: a
// malformed URL may hold the password anywhere.

export interface PgUrlParts {
  // What may be shown: the URL as given, without the password (user info and `password=` parameter).
  urlWithoutPassword: string;
  // From the URL's user info, else its `password=` parameter; undefined when it has neither.
  password: string | undefined;
  // The path, else the user name, else "postgres" (what libpq connects to).
  database: string;
  // A host name, an IP address (IPv6 without brackets) or a Unix-socket directory (?host=/path).
  host: string;
  port: number;
  user: string;
  // The other query parameters (libpq keywords such as sslmode, connect_timeout, options), in order.
  params: ReadonlyArray<readonly [string, string]>;
}

export type PgUrlResult = { ok: true; parts: PgUrlParts } | { ok: false; problem: string };

// What to tell people when a user, password or database holds a malformed escape.
const MALFORMED_ESCAPE_HINT =
  'a "%" in the user, password or database must start a valid escape: write a literal % as %25 (and @ as %40, space as %20)';

export const PG_URL_EXAMPLE = 'postgres://user:password@host:5432/database';

const ENCODE_HINT = 'percent-encode special characters in the user, password and database (@ as %40, / as %2F, # as %23, ? as %3F, : as %3A)';

// Parameters whose values are secrets: never shown, never passed on a command line.
const SECRET_PARAMS = new Set(['password', 'sslpassword']);
// Parameters the URL's own parts stand for (libpq lets the query override them).
const PART_PARAMS = new Set(['host', 'port', 'user', 'dbname', 'password']);

// Parses a postgres:// or postgresql:// URL the way libpq reads one, stricter where libpq and node-pg
// would disagree or where a misplaced character would leak the password into a host or database name.
export function parsePgUrl(text: string): PgUrlResult {
  const fail = (problem: string): PgUrlResult => ({ ok: false, problem });
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1];
  if (scheme === undefined) return fail(`a URL starting with postgres:// or postgresql:// (${PG_URL_EXAMPLE})`);
  if (!/^postgres(ql)?$/i.test(scheme)) return fail(`a URL starting with postgres:// or postgresql://, not ${safeScheme(scheme)} (${PG_URL_EXAMPLE})`);
  if (!text.startsWith('//', scheme.length + 1)) return fail(`"${scheme}:" followed by "//" and the host (${PG_URL_EXAMPLE})`);
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return fail(`a URL without spaces or control characters (${ENCODE_HINT})`);
  if (text.includes('#')) return fail(`a URL without a literal "#" (${ENCODE_HINT})`);
  const rest = text.slice(scheme.length + 3);
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const pathAndQuery = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const queryStart = pathAndQuery.indexOf('?');
  const rawPath = queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : pathAndQuery.slice(queryStart + 1);
  if (rawPath.includes('@') || rawPath.slice(1).includes('/')) {
    return fail(`one database name after the host, without a literal "@" or "/" (${ENCODE_HINT})`);
  }
  const at = authority.lastIndexOf('@');
  const userInfo = at === -1 ? undefined : authority.slice(0, at);
  const hostPort = at === -1 ? authority : authority.slice(at + 1);
  const colon = userInfo?.indexOf(':') ?? -1;
  const rawUser = userInfo === undefined ? '' : colon === -1 ? userInfo : userInfo.slice(0, colon);
  const rawPassword = userInfo === undefined || colon === -1 ? undefined : userInfo.slice(colon + 1);
  const hostMatch = /^(?:\[([0-9a-f:.]+)\]|([A-Za-z0-9._~%-]*))(?::(\d*))?$/i.exec(hostPort);
  if (hostMatch === null) {
    return fail(`one host, optionally with a port, like db.example.com:5432 or [::1]:5432 (several hosts are not supported; ${ENCODE_HINT})`);
  }
  const query: [string, string][] = [];
  for (const pair of rawQuery === '' ? [] : rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || !/^[a-z_]+$/i.test(pair.slice(0, eq))) return fail(`query parameters of the form name=value, like ?sslmode=require (${ENCODE_HINT})`);
    const value = decode(pair.slice(eq + 1));
    if (value === undefined) return fail(`a URL whose escapes decode (${MALFORMED_ESCAPE_HINT})`);
    query.push([pair.slice(0, eq), value]);
  }
  const user = decode(rawUser);
  const password = rawPassword === undefined || rawPassword === '' ? undefined : decode(rawPassword);
  const database = decode(rawPath.slice(1));
  const hostName = decode(hostMatch[1] ?? hostMatch[2] ?? '');
  if (user === undefined || database === undefined || hostName === undefined || (rawPassword !== undefined && rawPassword !== '' && password === undefined)) {
    return fail(`a URL whose escapes decode (${MALFORMED_ESCAPE_HINT})`);
  }
  const fromQuery = (name: string): string | undefined => query.findLast(([k]) => k === name)?.[1];
  const host = fromQuery('host') ?? hostName;
  if (host === '') return fail(`a host after "//", like ${PG_URL_EXAMPLE} (for a Unix socket: postgres://user@localhost/database?host=/var/run/postgresql)`);
  const portText = fromQuery('port') ?? hostMatch[3] ?? '';
  const port = portText === '' ? 5432 : Number(portText);
  if (!/^\d{0,5}$/.test(portText) || !Number.isInteger(port) || port < 1 || port > 65535) return fail('a port from 1 to 65535 after the host');
  const finalUser = fromQuery('user') ?? user;
  const shownQuery = rawQuery === '' ? [] : rawQuery.split('&').filter((pair) => !SECRET_PARAMS.has(pair.slice(0, pair.indexOf('='))));
  const shownUserInfo = userInfo === undefined ? '' : `${rawUser}@`;
  return {
    ok: true,
    parts: {
      urlWithoutPassword: `${scheme}://${shownUserInfo}${hostPort}${rawPath}${shownQuery.length > 0 ? `?${shownQuery.join('&')}` : ''}`,
      password: fromQuery('password') ?? password,
      database: fromQuery('dbname') ?? (database || finalUser || 'postgres'),
      host,
      port,
      user: finalUser,
      params: query.filter(([k]) => !PART_PARAMS.has(k) && !SECRET_PARAMS.has(k)),
    },
  };
}

// The connection parameters as a libpq keyword/value string for pg_dump --dbname, psql -d and
// pg_restore -d: every field explicit, the password left out (it travels through PGPASSWORD).
export function libpqConninfo(parts: Pick<PgUrlParts, 'host' | 'port' | 'user' | 'database' | 'params'>): string {
  const pairs: [string, string][] = [['host', parts.host], ['port', String(parts.port)]];
  if (parts.user !== '') pairs.push(['user', parts.user]);
  pairs.push(['dbname', parts.database], ...parts.params.map(([k, v]): [string, string] => [k, v]));
  return pairs.map(([k, v]) => `${k}=${quoteConninfo(v)}`).join(' ');
}

// Same server and credentials, another database.
export function withPgDatabase<T extends PgUrlParts>(parts: T, database: string): T {
  const shown = parsePgUrl(parts.urlWithoutPassword);
  const url = shown.ok ? parts.urlWithoutPassword.replace(/^([^/]*\/\/[^/?]*)(\/[^?]*)?/, `$1/${encodeURIComponent(database)}`) : parts.urlWithoutPassword;
  return { ...parts, database, urlWithoutPassword: url };
}

function quoteConninfo(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

// Schemes people paste by mistake: shown by name. Any other text before the first ":" is not shown
// (it may be the start of a password).
const KNOWN_SCHEMES = new Set(['mysql', 'mariadb', 'mongodb', 'mongodb+srv', 'redis', 'rediss', 'http', 'https', 'jdbc', 'sqlite', 'pg', 'psql', 'postgis', 'tcp', 'file', 'smtp', 'smtps']);

function safeScheme(scheme: string): string {
  return KNOWN_SCHEMES.has(scheme.toLowerCase()) ? `"${scheme.toLowerCase()}"` : 'another scheme';
}
