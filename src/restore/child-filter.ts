import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import { RestoreError } from '../errors.ts';

const STDERR_TAIL = 4000;

// A child process (zstd -d, pg_restore -f -) as one Duplex stage of a pipeline. Its readable side ends
// only after the child exited 0, so a later stage never sees a clean end from a failed child; the
// error carries the tail of its stderr. Destroying the stage kills the child.
export class ChildFilter extends Duplex {
  readonly child: ChildProcess;
  #stderr = '';
  #exited = false;

  constructor(label: string, command: string, args: readonly string[], env: Record<string, string>) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout?.pause();
    });
    // EPIPE when the child exits early: its exit status tells the story.
    child.stdin?.on('error', () => {});
    child.on('error', (error) => {
      this.#exited = true;
      this.destroy(new RestoreError(`cannot run ${label} (${command}): ${error.message}`, { cause: error, hint: `install ${label} or put it on PATH` }));
    });
    child.on('close', (code, signal) => {
      this.#exited = true;
      if (code === 0) {
        this.push(null);
        return;
      }
      const tail = this.#stderr.trim();
      this.destroy(new RestoreError(`${label} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})${tail ? `: ${tail.split('\n').slice(-3).join(' | ')}` : ''}`));
    });
  }

  get stderrTail(): string {
    return this.#stderr;
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
    if (!this.#exited) this.child.kill('SIGKILL');
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    callback(error);
  }
}
