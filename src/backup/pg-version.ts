import { statSync } from 'node:fs';
import { BackupError } from '../errors.ts';
import { describeExit, runChild } from '../util/child.ts';
import { childEnv } from './child-env.ts';
import { DEFAULT_PG_SEARCH_ROOTS, listPgPrograms, type PgProgram, type PgSearchRoots } from '../util/pg-client-dirs.ts';

// Finding the pg_dump that matches the server among the installed clients (src/util/pg-client-dirs.ts).

export type PgDumpCandidate = PgProgram;
export type PgDumpSearchRoots = PgSearchRoots;
export const DEFAULT_SEARCH_ROOTS: PgDumpSearchRoots = DEFAULT_PG_SEARCH_ROOTS;

export interface ResolvedPgDump {
  path: string;
  // As pg_dump prints it, e.g. "15.14".
  version: string;
  major: number;
}

// "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" -> "15.14"; "9.6.24" stays.
export function parseToolVersion(output: string): string | undefined {
  return /\(PostgreSQL\)\s+(\d+(?:\.\d+)*)/.exec(output)?.[1] ?? /(\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1];
}

// Major version of "15.14" (15) or of the pre-10 scheme "9.6.24" (9.6 counts as 9 here: only >= 10 matter).
function majorOf(version: string): number {
  return Number(version.split('.')[0]);
}

// server_version_num 150014 -> "15.14", 90624 -> "9.6.24".
export function versionFromNum(num: number): string {
  const major = Math.floor(num / 10000);
  return major >= 10 ? `${major}.${num % 10000}` : `${major}.${Math.floor(num / 100) % 100}.${num % 100}`;
}

// Every pg_dump on the machine, versioned directories first (newest first), then PATH.
export function listPgDumpCandidates(roots: PgDumpSearchRoots = DEFAULT_SEARCH_ROOTS): PgDumpCandidate[] {
  return listPgPrograms('pg_dump', roots);
}

// The candidate to use for a server of this major: the same major, else the oldest newer one, else
// the newest found, which then fails the version check with a clear message. Candidates without a
// known major (a PATH pg_dump that did not run) come last.
export function chooseCandidate(candidates: readonly PgDumpCandidate[], serverMajor: number): PgDumpCandidate | undefined {
  const known = candidates.filter((c) => c.major !== undefined);
  const exact = known.find((c) => c.major === serverMajor);
  if (exact) return exact;
  const newer = known.filter((c) => (c.major ?? 0) > serverMajor).sort((a, b) => (a.major ?? 0) - (b.major ?? 0));
  const newest = [...known].sort((a, b) => (b.major ?? 0) - (a.major ?? 0));
  return newer[0] ?? newest[0] ?? candidates[0];
}

const VERSION_TIMEOUT_MS = 15_000;

// What `--version` said, per program file as it was (path, size, mtime, inode): a run of many databases
// asks once instead of once per database, and a replaced binary (an upgrade) is asked again.
const versionCache = new Map<string, ResolvedPgDump>();

function fileIdentity(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${file}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  } catch {
    return undefined;
  }
}

// Runs `<pg_dump> --version` (once per program file; see versionCache).
export async function readPgDumpVersion(file: string): Promise<ResolvedPgDump> {
  const identity = fileIdentity(file);
  const known = identity === undefined ? undefined : versionCache.get(identity);
  if (known !== undefined) return known;
  const resolved = await askPgDumpVersion(file);
  if (identity !== undefined) versionCache.set(identity, resolved);
  return resolved;
}

async function askPgDumpVersion(file: string): Promise<ResolvedPgDump> {
  const result = await runChild(file, ['--version'], { env: childEnv(), timeoutMs: VERSION_TIMEOUT_MS });
  const version = result.code === 0 ? parseToolVersion(result.stdout) : undefined;
  if (version === undefined) {
    throw new BackupError('version-check', `cannot run ${file} --version (${describeExit(result, VERSION_TIMEOUT_MS)})`, {
      hint: 'install the PostgreSQL client matching your server (Debian: apt-get install postgresql-client-<N>; Alpine: apk add postgresql<N>-client) or set PG_DUMP_PATH to a working pg_dump',
    });
  }
  return { path: file, version, major: majorOf(version) };
}

// Picks and checks the pg_dump for a server: PG_DUMP_PATH when set, else the matching installed one.
// BackupError stage 'version-check' when pg_dump is older than the server (it would refuse or be wrong).
export async function resolvePgDump(
  serverVersion: string,
  pgDumpPath: string | undefined,
  roots: PgDumpSearchRoots = DEFAULT_SEARCH_ROOTS,
): Promise<ResolvedPgDump> {
  const serverMajor = majorOf(serverVersion);
  let file = pgDumpPath;
  if (file === undefined) {
    const candidates = await Promise.all(
      listPgDumpCandidates(roots).map(async (c) =>
        c.major !== undefined ? c : { path: c.path, major: await readPgDumpVersion(c.path).then((t) => t.major, () => undefined) },
      ),
    );
    const chosen = chooseCandidate(candidates, serverMajor);
    if (chosen === undefined) {
      throw new BackupError('version-check', `no pg_dump found for PostgreSQL ${serverVersion}`, {
        hint: `install the PostgreSQL ${serverMajor} client (Debian: apt-get install postgresql-client-${serverMajor}; Alpine: apk add postgresql${serverMajor}-client) or set PG_DUMP_PATH`,
      });
    }
    file = chosen.path;
  }
  const tool = await readPgDumpVersion(file);
  checkVersions(tool, serverVersion, pgDumpPath !== undefined);
  return tool;
}

// Throws when pg_dump's major version is older than the server's.
function checkVersions(tool: ResolvedPgDump, serverVersion: string, explicit: boolean): void {
  const serverMajor = majorOf(serverVersion);
  if (tool.major >= serverMajor) return;
  const where = explicit ? ` (PG_DUMP_PATH=${tool.path})` : ` (${tool.path})`;
  throw new BackupError('version-check', `pg_dump ${tool.version} is older than the server (PostgreSQL ${serverVersion})${where}`, {
    hint:
      `pg_dump must be version ${serverMajor} or newer: install the PostgreSQL ${serverMajor} client ` +
      `(Debian: apt-get install postgresql-client-${serverMajor}; Alpine: apk add postgresql${serverMajor}-client)` +
      (explicit ? ' and point PG_DUMP_PATH at it, or unset PG_DUMP_PATH to pick it automatically' : ', or set PG_DUMP_PATH to one'),
  });
}
