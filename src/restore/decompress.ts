import { PassThrough, type Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { childEnv } from '../backup/child-env.ts';
import type { CompressionAlgorithm } from '../config/types.ts';
import { ChildFilter } from './child-filter.ts';

// The decompression stage: gzip in Node's zlib, zstd through the `zstd` binary (Node 20 has none).
// Both fail on a truncated or damaged stream (zlib "unexpected end of file", zstd's exit code).
export function createDecompressStream(algorithm: CompressionAlgorithm, zstdPath = 'zstd'): Duplex {
  switch (algorithm) {
    case 'gzip':
      return zlib.createGunzip({ chunkSize: 256 * 1024 });
    case 'zstd':
      return new ChildFilter('zstd -d', zstdPath, ['-d', '-q', '-c'], childEnv());
    case 'none':
      return new PassThrough({ highWaterMark: 256 * 1024 });
  }
}
