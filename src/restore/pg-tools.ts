import path from 'node:path';
import { DEFAULT_PG_SEARCH_ROOTS, findNewestPgProgram, isExecutable, type PgSearchRoots } from '../util/pg-client-dirs.ts';

// The client programs a restore runs. The newest installed version is preferred: psql and pg_restore
// read dumps of older servers, never of newer ones.
export interface PgTools {
  psql: string;
  pgRestore: string;
  zstd: string;
}

// Beside PG_DUMP_PATH when it is set, else Debian's /usr/lib/postgresql/<N>/bin or Alpine's
// /usr/libexec/postgresql<N> (newest first), else the bare name for PATH.
function findPgTool(name: string, pgDumpPath?: string, roots: PgSearchRoots = DEFAULT_PG_SEARCH_ROOTS): string {
  if (pgDumpPath !== undefined) {
    const beside = path.join(path.dirname(pgDumpPath), name);
    if (isExecutable(beside)) return beside;
  }
  return findNewestPgProgram(name, roots) ?? name;
}

export function findPgTools(pgDumpPath?: string, roots: PgSearchRoots = DEFAULT_PG_SEARCH_ROOTS): PgTools {
  return { psql: findPgTool('psql', pgDumpPath, roots), pgRestore: findPgTool('pg_restore', pgDumpPath, roots), zstd: 'zstd' };
}
