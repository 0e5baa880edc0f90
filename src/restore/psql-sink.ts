import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { childEnv } from '../backup/child-env.ts';
import { RestoreError } from '../errors.ts';
import { describeExit, startChild, type ChildExit, type RunningChild } from '../util/child.ts';
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

// The end of a restore pipeline: psql with ON_ERROR_STOP, reading the script from stdin inside one
// transaction that we open ourselves (BEGIN first) and close ourselves (COMMIT last, written only after
// the whole object was read and its sha256 matched). If anything fails, psql is killed before its stdin
// closes, and a psql that reaches end of input without our COMMIT ends its session with the transaction
// open, which PostgreSQL rolls back. So an interrupted, corrupted or failing restore commits nothing:
// the same guarantee as psql --single-transaction, without the COMMIT psql would send at any end of input.
export class PsqlSink extends Writable {
  readonly child: ChildProcess;
  readonly #options: PsqlSinkOptions;
  readonly #running: RunningChild;
  #exited = false;
  #committing = false;

  constructor(options: PsqlSinkOptions) {
    super({ highWaterMark: 256 * 1024 });
    this.#options = options;
    const { target } = options;
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', libpqConninfo(target), '-f', '-'];
    // SIGKILL: psql must die before it could see its input end and act on what it read.
    const running = startChild(options.psqlPath, args, {
      env: childEnv({ PGPASSWORD: target.password, PGAPPNAME: 'backup-sentinel-restore' }),
      stdin: 'pipe',
      stdout: 'ignore',
      secrets: [target.password],
      killSignal: 'SIGKILL',
    });
    this.#running = running;
    this.child = running.process;
    void running.exited.then((exit) => {
      this.#exited = true;
      if (exit.startError) {
        this.destroy(new RestoreError(`cannot run psql (${options.psqlPath}): ${exit.startError.message}`, { cause: exit.startError, hint: 'install the PostgreSQL client (psql) or put it on PATH' }));
        return;
      }
      // psql stopped on its own before we finished: an SQL error (ON_ERROR_STOP) or a lost connection.
      if (!this.#committing) this.destroy(this.#failure(exit));
    });
    this.child.stdin?.write(`BEGIN;\n${options.prelude ?? ''}`);
  }

  #failure(exit: ChildExit | undefined): RestoreError {
    const reason = this.#running.stderr.lines(3).join(' | ') || (exit ? describeExit(exit) : this.child.signalCode ? `killed by ${this.child.signalCode}` : `exit code ${this.child.exitCode}`);
    return new RestoreError(`psql stopped restoring into ${describeTarget(this.#options.target)}: ${reason}`, {
      hint: 'nothing was committed (the restore runs in one transaction); fix the cause above (missing role or extension, insufficient privileges, server version) and run the restore again',
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || this.#exited) {
      callback(this.#failure(undefined));
      return;
    }
    if (stdin.write(chunk)) callback();
    else stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#options.commitGate.then(
      async () => {
        if (this.#exited) throw this.#failure(await this.#running.exited);
        this.#committing = true;
        this.child.stdin?.end('\nCOMMIT;\n');
        const exit = await this.#running.exited;
        if (exit.code !== 0 || exit.startError) throw this.#failure(exit);
      },
    ).then(() => callback(), (error: unknown) => {
      this.#kill();
      callback(error instanceof Error ? error : new RestoreError(String(error)));
    });
  }

  // Kill first, then close stdin: psql must never see a clean end of input of a failed restore.
  #kill(): void {
    if (!this.#exited) this.#running.kill();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#kill();
    this.child.stdin?.destroy();
    callback(error);
  }

  // Resolves when psql has exited (after a failure too), so callers can report only once it is gone.
  async waitForExit(): Promise<void> {
    await this.#running.exited;
  }
}
