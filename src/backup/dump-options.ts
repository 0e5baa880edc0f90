// Which BACKUP_OPTIONS the service refuses: pg_dump options that change where or in what format
// pg_dump writes (the service reads the dump from pg_dump's stdout and chooses format and compression
// itself: with --file pg_dump writes a plaintext copy to disk while the service stores nothing), where
// it connects (BACKUP_DATABASE_URL decides that for every client), or that make it print something
// other than a dump. Pure: the caller reports.

export interface RefusedOption {
  // The option as written, its value left out (a --dbname value may hold a password).
  shown: string;
  reason: string;
}

const WHERE = 'where pg_dump writes';
const FORMAT = 'the output format (use BACKUP_FORMAT / BACKUP_COMPRESSION)';
const CONNECTION = 'where pg_dump connects (BACKUP_DATABASE_URL decides)';
const NO_DUMP = 'makes pg_dump print something other than a dump';

// Long options pg_dump refuses from us, by their full name.
const REFUSED_LONG: Readonly<Record<string, string>> = {
  file: WHERE,
  format: FORMAT,
  compress: FORMAT,
  jobs: FORMAT,
  dbname: CONNECTION,
  host: CONNECTION,
  port: CONNECTION,
  username: CONNECTION,
  password: CONNECTION,
  version: NO_DUMP,
  help: NO_DUMP,
};
const REFUSED_SHORT: Readonly<Record<string, string>> = {
  f: WHERE, F: FORMAT, Z: FORMAT, j: FORMAT, d: CONNECTION, h: CONNECTION, p: CONNECTION, U: CONNECTION, W: CONNECTION, V: NO_DUMP, '?': NO_DUMP,
};

// pg_dump's options (PostgreSQL 12-18) that take a value, so the next argument is that value.
const SHORT_WITH_VALUE = new Set('deEfFhjnNpStTUZ'.split(''));
const LONG_WITH_VALUE = new Set([
  'compress', 'dbname', 'encoding', 'exclude-extension', 'exclude-schema', 'exclude-table', 'exclude-table-and-children',
  'exclude-table-data', 'exclude-table-data-and-children', 'extension', 'extra-float-digits', 'file', 'filter', 'format',
  'host', 'include-foreign-data', 'jobs', 'lock-wait-timeout', 'port', 'restrict-key', 'role', 'rows-per-insert', 'schema',
  'section', 'snapshot', 'superuser', 'sync-method', 'table', 'table-and-children', 'username',
]);
const LONG_FLAGS = new Set([
  'binary-upgrade', 'blobs', 'clean', 'column-inserts', 'create', 'data-only', 'disable-dollar-quoting', 'disable-triggers',
  'enable-row-security', 'if-exists', 'inserts', 'large-objects', 'load-via-partition-root', 'no-acl', 'no-blobs', 'no-comments',
  'no-data', 'no-large-objects', 'no-owner', 'no-password', 'no-policies', 'no-privileges', 'no-publications', 'no-schema',
  'no-security-labels', 'no-statistics', 'no-subscriptions', 'no-sync', 'no-table-access-method', 'no-tablespaces',
  'no-toast-compression', 'no-unlogged-table-data', 'on-conflict-do-nothing', 'quote-all-identifiers', 'schema-only',
  'sequence-data', 'serializable-deferrable', 'statistics', 'statistics-only', 'strict-names', 'use-set-session-authorization',
  'verbose', 'with-data', 'with-schema', 'with-statistics',
]);

// The arguments pg_dump would read as one of the refused options, the way getopt_long reads them:
// bundled short options (-af/x.sql), values glued or separate (-f/x.sql, -f /x.sql, --file=/x.sql),
// unambiguous abbreviations of long options (--fi=, --form=), and database names given as a plain
// argument or after "--".
export function refusedDumpOptions(args: readonly string[]): RefusedOption[] {
  const refused: RefusedOption[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      if (i + 1 < args.length) refused.push({ shown: 'an argument after "--" (not shown)', reason: CONNECTION });
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      const full = resolveLong(name);
      const reason = full === undefined ? undefined : REFUSED_LONG[full];
      if (reason !== undefined) refused.push({ shown: `--${name}${eq === -1 ? '' : '=…'}`, reason });
      if (eq === -1 && full !== undefined && LONG_WITH_VALUE.has(full)) i++;
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let c = 1; c < arg.length; c++) {
        const letter = arg[c] ?? '';
        const reason = REFUSED_SHORT[letter];
        if (reason !== undefined) refused.push({ shown: `-${letter}${SHORT_WITH_VALUE.has(letter) ? '…' : ''}`, reason });
        if (SHORT_WITH_VALUE.has(letter)) {
          if (c === arg.length - 1) i++;
          break;
        }
      }
      continue;
    }
    refused.push({ shown: 'a plain argument (not shown), which pg_dump reads as the database', reason: CONNECTION });
  }
  return refused;
}

// The long option getopt_long would take `name` for: itself when exact, else the one refused option
// it abbreviates (an abbreviation of several options is refused too: pg_dump would reject it anyway).
function resolveLong(name: string): string | undefined {
  if (name in REFUSED_LONG || LONG_WITH_VALUE.has(name) || LONG_FLAGS.has(name)) return name;
  if (name === '') return undefined;
  const refused = Object.keys(REFUSED_LONG).find((full) => full.startsWith(name));
  if (refused !== undefined) return refused;
  const known = [...LONG_WITH_VALUE, ...LONG_FLAGS].filter((full) => full.startsWith(name));
  return known.length === 1 ? known[0] : undefined;
}
