import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { childEnv } from '../backup/child-env.ts';
import { RestoreError } from '../errors.ts';
import { libpqConninfo } from '../util/pg-url.ts';
import { describeTarget, type RestoreTarget } from './target.ts';

export interface PsqlSinkOptions {
  psqlPath: string;
  target: RestoreTarget;
  // SQL run first, inside the restore's transaction (e.g. the --clean statements).
  prelude?: string;
  // The restore commits only after this resolves (the sha256 matched); a rejection aborts it.
  commitGate: Promise<unknown>;
}

const STDERR_TAIL = 4000;

// The end of a restore pipeline: psql with ON_ERROR_STOP, reading the script from stdin inside one
// transaction that we open ourselves (BEGIN first) and close ourselves (COMMIT last, written only after
// the whole object was read and its sha256 matched). If anything fails, psql is killed before its stdin
// closes, and a psql that reaches end of input without our COMMIT ends its session with the transaction
// open, which PostgreSQL rolls back. So an interrupted, corrupted or failing restore commits nothing:
// the same guarantee as psql --single-transaction, without the COMMIT psql would send at any end of input.
export class PsqlSink extends Writable {
  readonly child: ChildProcess;
  readonly #options: PsqlSinkOptions;
  #stderr = '';
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exited = false;
  #committing = false;

  constructor(options: PsqlSinkOptions) {
    super({ highWaterMark: 256 * 1024 });
    this.#options = options;
    const { target } = options;
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', libpqConninfo(target), '-f', '-'];
    const child = spawn(options.psqlPath, args, {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: childEnv({ PGPASSWORD: target.password, PGAPPNAME: 'backup-sentinel-restore' }),
    });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.stdin?.on('error', () => {});
    this.#exit = new Promise((resolve) => {
      child.on('error', (error) => {
        this.#exited = true;
        this.destroy(new RestoreError(`cannot run psql (${options.psqlPath}): ${error.message}`, { cause: error, hint: 'install the PostgreSQL client (psql) or put it on PATH' }));
        resolve({ code: -1, signal: null });
      });
      child.on('close', (code, signal) => {
        this.#exited = true;
        resolve({ code, signal });
        // psql stopped on its own before we finished: an SQL error (ON_ERROR_STOP) or a lost connection.
        if (!this.#committing) this.destroy(this.#failure(code, signal));
      });
    });
    child.stdin?.write(`BEGIN;\n${options.prelude ?? ''}`);
  }

  get stderrTail(): string {
    return this.#stderr;
  }

  #failure(code: number | null, signal: NodeJS.Signals | null): RestoreError {
    const lines = this.#stderr.trim().split('\n').filter((l) => l.trim() !== '');
    const reason = lines.slice(-3).join(' | ') || (signal ? `killed by ${signal}` : `exit code ${code}`);
    return new RestoreError(`psql stopped restoring into ${describeTarget(this.#options.target)}: ${reason}`, {
      hint: 'nothing was committed (the restore runs in one transaction); fix the cause above (missing role or extension, insufficient privileges, server version) and run the restore again',
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || this.#exited) {
      callback(this.#failure(this.child.exitCode, this.child.signalCode));
      return;
    }
    if (stdin.write(chunk)) callback();
    else stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#options.commitGate.then(
      async () => {
        if (this.#exited) throw this.#failure(this.child.exitCode, this.child.signalCode);
        this.#committing = true;
        this.child.stdin?.end('\nCOMMIT;\n');
        const { code, signal } = await this.#exit;
        if (code !== 0) throw this.#failure(code, signal);
      },
    ).then(() => callback(), (error: unknown) => {
      this.#kill();
      callback(error instanceof Error ? error : new RestoreError(String(error)));
    });
  }

  // Kill first, then close stdin: psql must never see a clean end of input of a failed restore.
  #kill(): void {
    if (!this.#exited) this.child.kill('SIGKILL');
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#kill();
    this.child.stdin?.destroy();
    callback(error);
  }

  // Resolves when psql has exited (after a failure too), so callers can report only once it is gone.
  async waitForExit(): Promise<void> {
    await this.#exit;
  }
}
