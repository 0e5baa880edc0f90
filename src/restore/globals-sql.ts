// Reading the script of pg_dumpall --globals-only, so that a whole-server restore can run it one
// statement at a time: a role that already exists on the target is left as it is (its password
// above all), and one failing statement (a tablespace whose directory the new server lacks) is
// reported without stopping the rest.

// Splits SQL into statements at top-level semicolons; `--` comments and psql meta-command lines
// (`\restrict`) are dropped, quoted text
// ('...', E'...' with backslash escapes, "...") is kept whole. pg_dumpall writes no dollar quoting
// in its globals section.
export function splitSqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] ?? '';
    // psql meta-commands on their own line (pg_dumpall 13.22+/17.6+ writes \restrict KEY and
    // \unrestrict KEY around its script): psql's, not the server's, so they are left out.
    if (ch === '\\' && current.trim() === '' && (i === 0 || sql[i - 1] === '\n')) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      current += '\n';
      continue;
    }
    if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]$/.test(current) && !/[A-Za-z0-9_][eE]$/.test(current);
      let j = i + 1;
      while (j < sql.length) {
        const c = sql[j];
        if (escapes && c === '\\') j += 2;
        else if (c === ch && sql[j + 1] === ch) j += 2;
        else if (c === ch) break;
        else j += 1;
      }
      current += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      const statement = current.trim();
      if (statement !== '') statements.push(`${statement};`);
      current = '';
      i += 1;
      continue;
    }
    current += ch;
    i += 1;
  }
  if (current.trim() !== '') statements.push(current.trim());
  return statements;
}

// An identifier as SQL writes it ("quoted" or bare) -> the name.
function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}

const IDENT = '("(?:[^"]|"")*"|[^\\s;"]+)';
// The role a statement creates or changes: CREATE ROLE x, ALTER ROLE x ..., COMMENT ON ROLE x,
// SECURITY LABEL ... ON ROLE x.
const ROLE_STATEMENT = new RegExp(`^(?:CREATE ROLE|ALTER ROLE|ALTER USER|COMMENT ON ROLE|SECURITY LABEL(?: FOR ${IDENT})? ON ROLE) ${IDENT}`, 'i');
// Per-database role settings name a database that exists only once the databases are restored.
const IN_DATABASE = new RegExp(`^ALTER ROLE ${IDENT} IN DATABASE `, 'i');

export type GlobalsStatementKind =
  // Creates or changes one role (skipped when that role already existed on the target).
  | { kind: 'role'; role: string; create: boolean }
  // ALTER ROLE ... IN DATABASE ... SET: run after the databases exist.
  | { kind: 'database-setting'; role: string }
  | { kind: 'other' };

export function classifyGlobalsStatement(statement: string): GlobalsStatementKind {
  const inDb = IN_DATABASE.exec(statement);
  if (inDb) return { kind: 'database-setting', role: unquote(inDb[1] ?? '') };
  const role = ROLE_STATEMENT.exec(statement);
  if (role) {
    const name = role[2] ?? role[1] ?? '';
    return { kind: 'role', role: unquote(name), create: /^CREATE ROLE/i.test(statement) };
  }
  return { kind: 'other' };
}

// Attributes only a superuser may set, even to their "NO" value (PostgreSQL refuses `ALTER ROLE x
// WITH NOSUPERUSER ...` from a CREATEROLE user): a managed server's admin user is no superuser.
const SUPERUSER_ONLY = /\b(?:NO)?(?:SUPERUSER|REPLICATION|BYPASSRLS)\b/gi;

// `ALTER ROLE x WITH <attributes> [PASSWORD '...']` without those attributes, and the ones left out;
// undefined when the statement has none (or is another statement). Only the part before PASSWORD is
// touched, so the password literal is never rewritten.
export function withoutSuperuserAttributes(statement: string): { statement: string; dropped: string[] } | undefined {
  if (!/^ALTER ROLE .* WITH /is.test(statement)) return undefined;
  const at = statement.search(/\sPASSWORD\s/i);
  const head = at === -1 ? statement : statement.slice(0, at);
  const dropped = head.match(SUPERUSER_ONLY)?.map((a) => a.toUpperCase()) ?? [];
  if (dropped.length === 0) return undefined;
  const cleaned = head.replace(SUPERUSER_ONLY, '').replace(/\s{2,}/g, ' ').trimEnd();
  const rest = at === -1 ? '' : statement.slice(at);
  let rewritten = `${cleaned}${rest}`;
  // Nothing left after WITH: no statement to run.
  if (/\sWITH\s*;?$/i.test(rewritten)) rewritten = '';
  return { statement: rewritten, dropped };
}
