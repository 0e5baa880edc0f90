import { PassThrough, type Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { execa } from 'execa';
import type { Compression } from '../config/types.ts';
import { childEnv } from './child-env.ts';

export const DEFAULT_LEVELS = { gzip: 6, zstd: 3 } as const;

// Larger zlib output chunks than the 16 KiB default: fewer stream callbacks per stored byte.
const GZIP_CHUNK = 256 * 1024;

export interface Compressor {
  stream: Duplex;
  // "gzip -6 (zlib)", "zstd -3 -T0", "none": for logs and the manifest.
  description: string;
  level: number | undefined;
}

// The compression stage. gzip runs in Node's zlib (on the libuv thread pool, off the main thread);
// Node 20 has no zstd, so zstd is the `zstd` binary fed through pipes, using every core (-T0).
export function createCompressor(compression: Compression, zstdPath = 'zstd'): Compressor {
  switch (compression.algorithm) {
    case 'gzip': {
      const level = compression.level ?? DEFAULT_LEVELS.gzip;
      return { stream: zlib.createGzip({ level, chunkSize: GZIP_CHUNK }), description: `gzip -${level} (zlib)`, level };
    }
    case 'zstd': {
      const level = compression.level ?? DEFAULT_LEVELS.zstd;
      const child = execa(zstdPath, ['-q', '-c', `-${level}`, '-T0'], {
        env: childEnv(),
        extendEnv: false,
        stderr: 'pipe',
        encoding: 'buffer',
        // Stream only: execa would otherwise also keep the output in memory (and fail past maxBuffer).
        buffer: false,
      });
      return { stream: child.duplex(), description: `zstd -${level} -T0`, level };
    }
    case 'none':
      return { stream: new PassThrough({ highWaterMark: GZIP_CHUNK }), description: 'none', level: undefined };
  }
}
