import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';

// The one way this service runs a child process (pg_dump, zstd, pg_restore, psql). node:child_process
// rather than execa: most children here are streaming stages (pg_dump writing straight into zstd's pipe,
// zstd -d and pg_restore as pipeline stages, psql as the sink) that need the raw pipes, back-pressure and
// kill semantics, where execa's buffering layer only adds output caps to switch off.

const DEFAULT_STDERR_TAIL_CHARS = 4096;

const MASK = '***';

// The secrets as they may appear in a child's message: as given and URL-encoded (as in a connection
// URL), longest first so a longer variant is masked before a shorter one it contains.
function maskVariants(secrets: readonly (string | undefined)[]): string[] {
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    variants.add(secret);
    variants.add(encodeURIComponent(secret));
  }
  return [...variants].sort((a, b) => b.length - a.length);
}

export function maskSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let masked = text;
  for (const secret of maskVariants(secrets)) masked = masked.replaceAll(secret, MASK);
  return masked;
}

// The end of what a child wrote to stderr: bounded (a chatty child cannot grow it), secrets masked.
interface StderrTail {
  add(chunk: string): void;
  // The last `limit` characters at most, masked and trimmed.
  text(): string;
  // The last `count` non-empty lines of text().
  lines(count: number): string[];
}

export function createStderrTail(options: { limit?: number | undefined; secrets?: readonly (string | undefined)[] } = {}): StderrTail {
  const limit = options.limit ?? DEFAULT_STDERR_TAIL_CHARS;
  const secrets = options.secrets ?? [];
  // Room for a secret that straddles the start of the kept window: it is masked or dropped, never
  // shown in part.
  const margin = Math.max(0, ...maskVariants(secrets).map((s) => s.length));
  const keep = limit + margin;
  let buffer = '';
  let truncated = false;
  const text = (): string => {
    const cut = truncated || buffer.length > keep;
    let masked = maskSecrets(buffer.slice(-keep), secrets);
    // A secret cut by the window leaves a fragment within its first `margin` characters.
    if (cut) masked = masked.slice(margin);
    return masked.slice(-limit).trim();
  };
  return {
    add(chunk) {
      buffer += chunk;
      // Trimmed in steps rather than on every chunk: amortised, and never longer than twice the window.
      if (buffer.length > 2 * keep) {
        buffer = buffer.slice(-keep);
        truncated = true;
      }
    },
    text,
    lines(count) {
      return text()
        .split('\n')
        .map((line) => line.trimEnd())
        .filter((line) => line.trim() !== '')
        .slice(-count);
    },
  };
}

interface ChildOptions {
  // The child's whole environment (see childEnv): never extended with this process's own.
  env: Record<string, string>;
  stdin?: 'pipe' | 'ignore';
  // 'pipe' to read it here; a Writable with a file descriptor (another child's stdin) to have the child
  // write straight into it, its bytes never passing through this process.
  stdout?: 'pipe' | 'ignore' | Writable;
  // Masked in the stderr tail (the password the child gets in its environment).
  secrets?: readonly (string | undefined)[];
  stderrTailChars?: number;
  // Aborting kills the child.
  signal?: AbortSignal;
  // Killed when still running after this long.
  timeoutMs?: number;
  // The signal kill(), an abort and the timeout send (default SIGTERM).
  killSignal?: NodeJS.Signals;
}

export interface ChildExit {
  // null when killed by a signal or when it could not start.
  code: number | null;
  signal: NodeJS.Signals | null;
  // Set when the program could not be started (not found, not executable).
  startError: Error | undefined;
  timedOut: boolean;
  stderr: StderrTail;
}

export interface RunningChild {
  process: ChildProcess;
  // Resolves once the program runs; rejects when it could not be started.
  started: Promise<void>;
  // Resolves (never rejects) when the child has exited and its pipes closed.
  exited: Promise<ChildExit>;
  stderr: StderrTail;
  // Sends the kill signal unless the child has already exited.
  kill(signal?: NodeJS.Signals): void;
}

// Starts a program with an argument array (no shell). Errors on its pipes (EPIPE when it exits early)
// are not thrown: the exit status tells the story.
export function startChild(file: string, args: readonly string[], options: ChildOptions): RunningChild {
  const stderr = createStderrTail({ limit: options.stderrTailChars, secrets: options.secrets ?? [] });
  const killSignal = options.killSignal ?? 'SIGTERM';
  const child = spawn(file, args, { env: options.env, stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'] });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => stderr.add(chunk));
  child.stderr?.on('error', () => {});
  child.stdin?.on('error', () => {});
  child.stdout?.on('error', () => {});
  let startError: Error | undefined;
  let timedOut = false;
  let closed = false;
  const kill = (signal: NodeJS.Signals = killSignal) => {
    if (!closed && child.exitCode === null && child.signalCode === null && startError === undefined) child.kill(signal);
  };
  const started = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (error) => {
      if (child.pid === undefined) startError = error;
      reject(error);
    });
  });
  // Observed through `exited`; a later 'error' (a failed kill) only shows in the exit status.
  started.catch(() => {});
  child.on('error', () => {});
  const onAbort = () => kill();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  // Done when the process has exited and its stderr (our tail) is drained. Not 'close', which also waits
  // for stdout: a consumer that stopped reading (a pipeline that failed elsewhere) would then keep the
  // exit from ever being seen, with nothing left in the event loop to wake it.
  const exited = new Promise<ChildExit>((resolve) => {
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let stderrDone = child.stderr === null;
    const finish = () => {
      if (closed || exit === undefined || !stderrDone) return;
      closed = true;
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code: startError ? null : exit.code, signal: exit.signal, startError, timedOut, stderr });
    };
    child.stderr?.once('close', () => {
      stderrDone = true;
      finish();
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      finish();
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      stderrDone = true;
      finish();
    });
  });
  return { process: child, started, exited, stderr, kill };
}

// "exit code 1", "killed by SIGTERM", "timed out after 15 s", "could not start: spawn x ENOENT".
export function describeExit(exit: ChildExit, timeoutMs?: number): string {
  if (exit.startError) return `could not start: ${exit.startError.message}`;
  if (exit.timedOut) return `timed out after ${timeoutMs === undefined ? 'its time limit' : `${timeoutMs / 1000} s`}`;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code}`;
}

const STDOUT_LIMIT = 1024 * 1024;

// Runs a program to its end and returns its (bounded) stdout with the exit: for short commands such
// as `pg_dump --version`.
export async function runChild(file: string, args: readonly string[], options: Omit<ChildOptions, 'stdout'>): Promise<ChildExit & { stdout: string }> {
  const child = startChild(file, args, { ...options, stdout: 'pipe' });
  let stdout = '';
  child.process.stdout?.setEncoding('utf8');
  child.process.stdout?.on('data', (chunk: string) => {
    if (stdout.length < STDOUT_LIMIT) stdout += chunk;
  });
  const exit = await child.exited;
  return { ...exit, stdout };
}
