import fs from 'node:fs';
import path from 'node:path';

// The client programs a restore runs. The newest installed version is preferred: psql and pg_restore
// read dumps of older servers, never of newer ones.
export interface PgTools {
  psql: string;
  pgRestore: string;
  zstd: string;
}

function isExecutable(file: string): boolean {
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

// Beside PG_DUMP_PATH when it is set, else Debian's /usr/lib/postgresql/<N>/bin or Alpine's
// /usr/libexec/postgresql<N> (newest first), else the bare name for PATH.
export function findPgTool(name: string, pgDumpPath?: string): string {
  if (pgDumpPath !== undefined) {
    const beside = path.join(path.dirname(pgDumpPath), name);
    if (isExecutable(beside)) return beside;
  }
  const versioned: { file: string; major: number }[] = [];
  for (const dir of readDir('/usr/lib/postgresql')) {
    const file = path.join('/usr/lib/postgresql', dir, 'bin', name);
    if (/^\d+$/.test(dir) && isExecutable(file)) versioned.push({ file, major: Number(dir) });
  }
  for (const dir of readDir('/usr/libexec')) {
    const m = /^postgresql(\d+)$/.exec(dir);
    const file = path.join('/usr/libexec', dir, name);
    if (m && isExecutable(file)) versioned.push({ file, major: Number(m[1]) });
  }
  versioned.sort((a, b) => b.major - a.major);
  return versioned[0]?.file ?? name;
}

export function findPgTools(pgDumpPath?: string): PgTools {
  return { psql: findPgTool('psql', pgDumpPath), pgRestore: findPgTool('pg_restore', pgDumpPath), zstd: 'zstd' };
}
