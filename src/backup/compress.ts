import { Duplex, PassThrough, type Readable, type Writable } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from '../config/types.ts';
import { BackupError } from '../errors.ts';
import { startChild } from '../util/child.ts';
import { childEnv } from './child-env.ts';

export const DEFAULT_LEVELS = { gzip: 6, zstd: 3 } as const;

// Larger zlib output chunks than the 16 KiB default: fewer stream callbacks per stored byte.
const GZIP_CHUNK = 256 * 1024;

// An in-process compression stage (gzip runs in Node's zlib on the libuv thread pool, off the main
// thread; none is a pass-through). pg_dump's output flows through it.
export interface StreamCompressor {
  kind: 'stream';
  stream: Duplex;
  description: string;
  level: number | undefined;
}

export interface ZstdResult {
  exitCode: number | null;
  signal: string | null;
  // Bytes zstd read (pg_dump's output) and wrote, from its own report; undefined if it gave none.
  inputBytes: number | undefined;
  outputBytes: number | undefined;
  stderrTail: string;
}

// The zstd binary (Node 20 has no zstd), fed by pg_dump directly through a pipe: the uncompressed dump
// never passes through this process; zstd reports the byte counts (-vv) when it ends.
export interface ProcessCompressor {
  kind: 'process';
  // Give this to pg_dump as its stdout, then call releaseInput().
  input: Writable;
  // Closes this process's copy of the pipe, so pg_dump and zstd alone hold it (EOF and EPIPE then work).
  releaseInput(): void;
  output: Readable;
  result: Promise<ZstdResult>;
  kill(): void;
  description: string;
  level: number;
}

export type Compressor = StreamCompressor | ProcessCompressor;

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

// Reads "(921000000 B => 219000000 B" (zstd 1.5 with -vv) or "(921000000 => 219000000 bytes" (1.4);
// a zstd that only prints rounded sizes ("(878 MiB => 209 MiB") gives approximate counts.
export function parseZstdReport(stderr: string): { inputBytes: number; outputBytes: number; exact: boolean } | undefined {
  const exact = /\(\s*(\d+)\s*(?:B)?\s*=>\s*(\d+)\s*(?:B|bytes)\b/.exec(stderr);
  if (exact) return { inputBytes: Number(exact[1]), outputBytes: Number(exact[2]), exact: true };
  const rounded = /\(\s*([\d.]+)\s*([KMGT]i?B|B)\s*=>\s*([\d.]+)\s*([KMGT]i?B|B)\b/.exec(stderr);
  if (!rounded) return undefined;
  const bytes = (value: string | undefined, unit: string | undefined) => Math.round(Number(value) * (UNITS[unit ?? 'B'] ?? 1));
  return { inputBytes: bytes(rounded[1], rounded[2]), outputBytes: bytes(rounded[3], rounded[4]), exact: false };
}

export function compressionError(message: string, cause?: unknown): BackupError {
  return new BackupError('compress', message, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'check that the compressor is installed (the zstd package for BACKUP_COMPRESSION=zstd) and that the machine has memory and CPU left',
  });
}

async function startZstd(level: number, zstdPath: string): Promise<ProcessCompressor> {
  // -vv (without -q) makes zstd print exact byte counts at the end; --no-progress keeps stderr short.
  const child = startChild(zstdPath, ['-c', `-${level}`, '-T0', '-vv', '--no-progress'], { env: childEnv(), stdin: 'pipe', stderrTailChars: 8192 });
  const result = child.exited.then((exit): ZstdResult => {
    const stderr = exit.stderr.text();
    const report = parseZstdReport(stderr);
    return { exitCode: exit.code, signal: exit.signal, inputBytes: report?.inputBytes, outputBytes: report?.outputBytes, stderrTail: exit.stderr.lines(5).join('\n') };
  });
  try {
    await child.started;
  } catch (error) {
    throw compressionError(`cannot start ${zstdPath}: ${(error as Error).message}`, error);
  }
  const { stdin, stdout } = child.process;
  if (!stdin || !stdout) throw compressionError(`${zstdPath} started without pipes`);
  return {
    kind: 'process',
    input: stdin,
    releaseInput: () => stdin.destroy(),
    output: stdout,
    result,
    kill: () => child.kill('SIGTERM'),
    description: `zstd -${level} -T0`,
    level,
  };
}

// The compression stage for the settings.
export async function createCompressor(compression: Compression, zstdPath = 'zstd'): Promise<Compressor> {
  switch (compression.algorithm) {
    case 'gzip': {
      const level = compression.level ?? DEFAULT_LEVELS.gzip;
      return { kind: 'stream', stream: zlib.createGzip({ level, chunkSize: GZIP_CHUNK }), description: `gzip -${level} (zlib)`, level };
    }
    case 'zstd':
      return await startZstd(compression.level ?? DEFAULT_LEVELS.zstd, zstdPath);
    case 'none':
      return { kind: 'stream', stream: new PassThrough({ highWaterMark: GZIP_CHUNK }), description: 'none', level: undefined };
  }
}

// The compression stage as one Duplex (for callers without pg_dump, e.g. benchmarks): zstd's process
// pipes joined into a stream.
export async function createCompressionStream(compression: Compression, zstdPath = 'zstd'): Promise<Duplex> {
  const compressor = await createCompressor(compression, zstdPath);
  if (compressor.kind === 'stream') return compressor.stream;
  const joined = Duplex.from({ writable: compressor.input, readable: compressor.output });
  void compressor.result.then((r) => {
    if (r.exitCode !== 0) joined.destroy(compressionError(`zstd failed (exit code ${r.exitCode ?? r.signal})`));
  });
  return joined;
}
