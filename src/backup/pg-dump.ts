import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import type { DumpFormat } from '../config/types.ts';
import { childEnv } from './child-env.ts';
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

const STDERR_TAIL_BYTES = 4096;

// Keeps the last `limit` characters of a growing text.
function tailKeeper(limit: number) {
  let text = '';
  return {
    add(chunk: string) {
      text = (text + chunk).slice(-limit * 2);
    },
    get(): string {
      return text.slice(-limit);
    },
  };
}

// Starts pg_dump with an argument array (no shell); stdout is the dump stream.
// With `output` (a pipe to the compressor), pg_dump writes straight into it and `stdout` is undefined.
export function startPgDump(invocation: PgDumpInvocation, secretToMask: string | undefined, output?: Writable): RunningDump {
  const child = execa(invocation.file, invocation.args, {
    env: invocation.env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: output ?? 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    encoding: 'buffer',
  });
  const stderr = tailKeeper(STDERR_TAIL_BYTES);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => stderr.add(chunk));
  const mask = (text: string) => (secretToMask ? text.replaceAll(secretToMask, '***') : text).trim();
  const exited: Promise<DumpExit> = child.then(
    (result) => ({ exitCode: result.exitCode, signal: result.signal, stderrTail: mask(stderr.get()) }),
    (error: unknown) => ({ exitCode: undefined, signal: undefined, stderrTail: mask(`${stderr.get()}\n${(error as Error).message}`) }),
  );
  return {
    pid: child.pid,
    stdout: output === undefined ? (child.stdout ?? undefined) : undefined,
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
