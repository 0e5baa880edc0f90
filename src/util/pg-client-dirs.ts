import fs from 'node:fs';
import path from 'node:path';

// Where PostgreSQL client programs live, shared by the backup (the pg_dump matching the server) and
// the restore (the newest psql and pg_restore): Debian keeps each version in
// /usr/lib/postgresql/<N>/bin, Alpine in /usr/libexec/postgresql<N>; PATH holds one more, unversioned.

export interface PgSearchRoots {
  debian: string;
  alpine: string;
  // Directories searched for a plain program (e.g. `pg_dump`) after the versioned ones.
  pathDirs: string[];
}

export const DEFAULT_PG_SEARCH_ROOTS: PgSearchRoots = {
  debian: '/usr/lib/postgresql',
  alpine: '/usr/libexec',
  pathDirs: (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''),
};

export interface PgClientDir {
  dir: string;
  major: number;
}

export interface PgProgram {
  path: string;
  // From the directory name; undefined for one found on PATH (ask it with --version).
  major: number | undefined;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

// The versioned client directories that exist (Debian's and Alpine's), newest major first.
export function listPgClientDirs(roots: PgSearchRoots = DEFAULT_PG_SEARCH_ROOTS): PgClientDir[] {
  const dirs: PgClientDir[] = [];
  for (const name of readDir(roots.debian)) {
    if (/^\d+$/.test(name)) dirs.push({ dir: path.join(roots.debian, name, 'bin'), major: Number(name) });
  }
  for (const name of readDir(roots.alpine)) {
    const m = /^postgresql(\d+)$/.exec(name);
    if (m) dirs.push({ dir: path.join(roots.alpine, name), major: Number(m[1]) });
  }
  return dirs.sort((a, b) => b.major - a.major);
}

// Every executable `name` (e.g. "pg_dump"): in the versioned directories newest first, then on PATH.
export function listPgPrograms(name: string, roots: PgSearchRoots = DEFAULT_PG_SEARCH_ROOTS): PgProgram[] {
  const versioned = listPgClientDirs(roots)
    .map(({ dir, major }) => ({ path: path.join(dir, name), major }))
    .filter((p) => isExecutable(p.path));
  const onPath = roots.pathDirs.map((d) => path.join(d, name)).filter(isExecutable);
  return [...versioned, ...onPath.map((p) => ({ path: p, major: undefined }))];
}

// The newest versioned `name`, or undefined when no versioned directory has it.
export function findNewestPgProgram(name: string, roots: PgSearchRoots = DEFAULT_PG_SEARCH_ROOTS): string | undefined {
  for (const { dir } of listPgClientDirs(roots)) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}
