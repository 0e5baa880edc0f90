import type { ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import { RestoreError } from '../errors.ts';
import { describeExit, startChild, type RunningChild } from '../util/child.ts';

// A child process (zstd -d, pg_restore -f -) as one Duplex stage of a pipeline. Its readable side ends
// only after the child exited 0, so a later stage never sees a clean end from a failed child; the
// error carries the tail of its stderr. Destroying the stage kills the child.
export class ChildFilter extends Duplex {
  readonly child: ChildProcess;
  readonly #running: RunningChild;
  #exited = false;

  constructor(label: string, command: string, args: readonly string[], env: Record<string, string>) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    const running = startChild(command, args, { env, stdin: 'pipe', stdout: 'pipe', killSignal: 'SIGKILL' });
    this.#running = running;
    const child = running.process;
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout?.pause();
    });
    // `exited` is seen before stdout is drained: a child that wrote its last bytes and exited while
    // this stage's reader was slow leaves them in the pipe, so the end waits for stdout's end too.
    const stdout = child.stdout;
    const stdoutDone = new Promise<void>((resolve) => {
      if (stdout === null) resolve();
      else {
        stdout.once('end', resolve);
        stdout.once('close', resolve);
      }
    });
    void running.exited.then((exit) => {
      this.#exited = true;
      if (exit.startError) {
        this.destroy(new RestoreError(`cannot run ${label} (${command}): ${exit.startError.message}`, { cause: exit.startError, hint: `install ${label} or put it on PATH` }));
        return;
      }
      if (exit.code === 0) {
        void stdoutDone.then(() => {
          if (!this.destroyed) this.push(null);
        });
        return;
      }
      const tail = exit.stderr.lines(3).join(' | ');
      this.destroy(new RestoreError(`${label} failed (${describeExit(exit)})${tail ? `: ${tail}` : ''}`));
    });
  }

  override _read(): void {
    this.child.stdout?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed) {
      callback();
      return;
    }
    if (stdin.write(chunk)) {
      callback();
      return;
    }
    // A child that exits 0 without reading all its input (pg_restore after the last block) closes the
    // pipe: then the rest is dropped instead of waiting for a 'drain' that never comes.
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      callback();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin?.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#exited) this.#running.kill();
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    callback(error);
  }
}
