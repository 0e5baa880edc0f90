import type { Readable, Writable } from 'node:stream';
import type { DumpFormat } from '../config/types.ts';
import { childEnv } from './child-env.ts';
import { maskSecrets, startChild } from '../util/child.ts';
import { libpqConninfo } from '../util/pg-url.ts';
import type { DatabaseTarget } from './connection.ts';

export interface PgDumpInvocation {
  file: string;
  // What `ps` shows: never the password (it goes through PGPASSWORD in the child's environment).
  args: string[];
  env: Record<string, string>;
}

// The pg_dump command for a backup: the connection parameters without password as --dbname (a libpq
// keyword/value string, so pg_dump connects exactly where the service's own session did), our format, no pg_dump
// compression (we compress in the pipeline), then BACKUP_OPTIONS.
export function buildPgDumpInvocation(file: string, target: DatabaseTarget, format: DumpFormat, options: readonly string[]): PgDumpInvocation {
  const formatArgs = format === 'custom' ? ['--format=custom', '--compress=0'] : ['--format=plain'];
  return {
    file,
    args: ['--dbname', libpqConninfo(target), '--no-password', ...formatArgs, ...options],
    env: childEnv({ PGPASSWORD: target.password, PGAPPNAME: 'backup-sentinel pg_dump' }),
  };
}

export interface DumpExit {
  exitCode: number | undefined;
  signal: string | undefined;
  // The last lines pg_dump wrote to stderr (bounded), password masked.
  stderrTail: string;
}

export interface RunningDump {
  pid: number | undefined;
  // undefined when pg_dump writes straight into the compressor's pipe.
  stdout: Readable | undefined;
  // Resolves (never rejects) when pg_dump has exited.
  exited: Promise<DumpExit>;
  kill(): void;
}

// Starts pg_dump with an argument array (no shell); stdout is the dump stream.
// With `output` (a pipe to the compressor), pg_dump writes straight into it and `stdout` is undefined.
export function startPgDump(invocation: PgDumpInvocation, secretToMask: string | undefined, output?: Writable): RunningDump {
  const child = startChild(invocation.file, invocation.args, { env: invocation.env, stdout: output ?? 'pipe', secrets: [secretToMask] });
  const exited: Promise<DumpExit> = child.exited.then((exit) => ({
    exitCode: exit.code ?? undefined,
    signal: exit.signal ?? undefined,
    stderrTail: exit.startError ? maskSecrets(`${exit.stderr.text()}\n${exit.startError.message}`, [secretToMask]).trim() : exit.stderr.text(),
  }));
  return {
    pid: child.process.pid,
    stdout: output === undefined ? (child.process.stdout ?? undefined) : undefined,
    exited,
    kill: () => child.kill('SIGTERM'),
  };
}
