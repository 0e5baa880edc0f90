// One measured operation in its own process, so peak RSS and CPU seconds are the service's alone:
//   backup <json settings>   a full backup-sentinel backup (pg_dump -> compress [-> age] -> sha256 -> S3);
//                            with `recipients` (age public keys) encrypted as BACKUP_ENCRYPTION_RECIPIENTS does
//                            with `dir`, to two destinations at once: the S3 store and that directory
//   upload <file>            the same bytes uploaded alone with the same S3 store
//   stream <json>            `bytes` of generated data uploaded with a size hint (the memory part:
//                            a backup planned at 1 TB), optionally with fewer parts per object
// Prints one JSON line with wall time, CPU seconds of this process (not of pg_dump or zstd), peak RSS
// and what it was made of at its peak (V8 heap, Buffers), and the RSS before and after the modules load.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { Compression, DumpFormat, S3Settings } from '../src/config/types.ts';
import { reapedChildrenCpuSeconds } from './proc-sampler.ts';

// RSS of node itself (and tsx, which compiles the TypeScript here; the production image runs the
// compiled build without it), before the service's modules load.
const rssAtStartBytes = process.memoryUsage().rss;
const { runBackupJob } = await import('../src/backup/job.ts');
const { Secret } = await import('../src/config/secret.ts');
const { createEncryptStream } = await import('../src/crypto/age-encrypt.ts');
const { silentLogger } = await import('../src/logger.ts');
const { S3Store } = await import('../src/storage/s3-store.ts');
const { DirStore } = await import('../src/storage/dir-store.ts');

interface Input {
  endpoint: string;
  bucket: string;
  databaseUrl?: string;
  compression?: Compression;
  // plain (the default) or custom (pg_dump -Fc, for the restore measurement's --jobs row).
  format?: DumpFormat;
  file?: string;
  sizeHint?: number;
  recipients?: string[];
  // A second destination (a directory) beside the S3 store: one dump, a copy in each.
  dir?: string;
  // For experiments (not used by run.ts): the store's parts in flight and part size.
  queueSize?: number;
  partSize?: number;
  // stream: how many bytes to generate, and parts per object (S3's 10,000 unless lowered, to show a split).
  bytes?: number;
  maxParts?: number;
}

const [mode, json] = process.argv.slice(2);
const input = JSON.parse(json ?? '{}') as Input;
const settings: S3Settings = {
  kind: 's3',
  bucket: input.bucket,
  endpoint: input.endpoint,
  region: 'auto',
  forcePathStyle: true,
  accessKeyId: 'S3RVER',
  secretAccessKey: new Secret('S3RVER'),
  objectLock: false,
};
const store = new S3Store(settings, {
  ...(input.queueSize !== undefined ? { queueSize: input.queueSize } : {}),
  ...(input.partSize !== undefined ? { partSize: input.partSize } : {}),
  ...(input.maxParts !== undefined ? { maxParts: input.maxParts } : {}),
});
const memory = sampleMemory(20);
// Memory of the loaded program before any work (the SDK, pg, pino...), to tell it from the pipeline's.
const rssBeforeBytes = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let out: Record<string, unknown>;
if (mode === 'upload') {
  const file = input.file ?? '';
  const r = await store.put(`upload-alone-${Date.now()}`, fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), input.sizeHint ? { sizeHint: input.sizeHint } : {});
  out = { key: r.key, size: r.size, parts: r.parts };
} else if (mode === 'stream') {
  const r = await store.put(`memory/bench_${Date.now()}.dump.zst`, generated(input.bytes ?? 0), input.sizeHint ? { sizeHint: input.sizeHint } : {});
  out = { key: r.key, size: r.size, parts: r.parts, pieces: r.pieces?.length ?? 1 };
} else {
  const recipients = input.recipients ?? [];
  const result = await runBackupJob(
    {
      settings: {
        databaseUrl: new Secret(input.databaseUrl ?? ''),
        cron: '0 3 * * *',
        runOnStartup: false,
        singleShot: false,
        format: input.format ?? 'plain',
        compression: input.compression ?? { algorithm: 'gzip', level: undefined },
        options: [],
        pgDumpPath: undefined,
      },
      location: { subfolder: '', prefix: `bench_${input.compression?.algorithm}${recipients.length > 0 ? '_age' : ''}${input.format === 'custom' ? '_custom' : ''}${input.dir === undefined ? '' : '_2dest'}_` },
      store,
      ...(input.dir === undefined ? {} : { destinations: [{ name: 's3', store }, { name: 'dir', store: new DirStore(input.dir) }] }),
      // As main.ts wires BACKUP_ENCRYPTION_RECIPIENTS: the age stage after compression.
      extraStage: recipients.length > 0 ? { name: 'age', create: () => createEncryptStream({ recipients, passphrase: undefined, identity: undefined }) } : undefined,
      logger: silentLogger(),
    },
    { runId: 'bench', trigger: 'manual' },
  );
  if (result.status !== 'success') {
    process.stderr.write(`${result.status === 'skipped' ? result.message : result.error.message}\n`);
    process.exit(1);
  }
  out = {
    key: result.key,
    encryption: result.manifest.encryption,
    size: result.manifest.size,
    uncompressedSize: result.manifest.uncompressedSize,
    parts: result.manifest.parts,
    // Several destinations: each copy's size and sha256 (from its own manifest), to compare.
    ...(result.destinations === undefined
      ? {}
      : { copies: result.destinations.map((d) => (d.result.status === 'success' ? { destination: d.destination, size: d.result.manifest.size, sha256: d.result.manifest.sha256 } : { destination: d.destination, failed: d.result.shortMessage })) }),
  };
}
const wallSeconds = (performance.now() - t0) / 1000;
const memoryAtPeak = memory.stop();
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({ ...out, wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, childCpuSeconds: reapedChildrenCpuSeconds(), rssAtStartBytes, rssBeforeBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024, memoryAtPeak })}\n`,
);


// `bytes` of incompressible data in 1 MiB chunks made as they are read (one random block, each chunk a
// fresh copy as a compressor's output would be), so only the upload holds memory.
function generated(bytes: number): Readable {
  const block = randomBytes(1024 * 1024);
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(block.length, left);
      left -= n;
      const chunk = Buffer.allocUnsafe(n);
      block.copy(chunk, 0, 0, n);
      if (n >= 8) chunk.writeDoubleLE(left, 0);
      this.push(chunk);
    },
  });
}

export interface MemoryAtPeak {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

// Samples process.memoryUsage() every `ms` and keeps the sample with the highest RSS, so the peak can
// be split into the V8 heap, Buffers (arrayBuffers) and the rest (code, native libraries, malloc).
function sampleMemory(ms: number): { stop: () => MemoryAtPeak } {
  let peak = process.memoryUsage();
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    if (now.rss > peak.rss) peak = now;
  }, ms);
  return {
    stop: () => {
      clearInterval(timer);
      return { rss: peak.rss, heapTotal: peak.heapTotal, heapUsed: peak.heapUsed, external: peak.external, arrayBuffers: peak.arrayBuffers };
    },
  };
}
