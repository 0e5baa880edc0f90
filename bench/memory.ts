// The memory part: a backup planned at 1 TB (size hint 1e12) uploaded from a few GiB of generated
// stream, with fewer parts per object than S3's 10,000 so that the stream is split into several
// objects as a 1 TB backup is (6 objects of 10,000 parts of 16 MiB). Memory does not grow with the
// number of parts (the part buffers are reused, across objects too), so a few GiB show the steady state.
import { choosePartSize, DEFAULT_QUEUE_SIZE } from '../src/storage/s3-store.ts';
import { formatBytes } from '../src/util/format.ts';

interface StreamOut {
  size: number;
  parts: number;
  pieces?: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  memoryAtPeak: { heapTotal: number; arrayBuffers: number };
}

const MiB = 1024 ** 2;
const PLANNED = 1e12;
// Parts per object in this measurement: 50 × 16 MiB = 800 MiB objects.
const PARTS_PER_OBJECT = 50;
// The goal for any database size.
const TARGET_RSS = 256e6;

export async function measureMemory(deps: {
  gib: number;
  runStream: (input: { bytes: number; sizeHint: number; maxParts: number }) => Promise<StreamOut>;
}): Promise<{ rows: string[][]; checks: string[] }> {
  const bytes = deps.gib * 1024 ** 3;
  const part = choosePartSize(PLANNED);
  const buffers = (DEFAULT_QUEUE_SIZE + 1) * part;
  // The rule before parts were capped: twice the hint in 9,000 parts.
  const oldPart = Math.ceil((2 * PLANNED) / 9000 / MiB) * MiB;
  const out = await deps.runStream({ bytes, sizeHint: PLANNED, maxParts: PARTS_PER_OBJECT });
  const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
  const objects = out.pieces ?? 1;
  const expectedObjects = Math.ceil(bytes / (PARTS_PER_OBJECT * part));
  const rows = [
    [
      `memory: ${deps.gib} GiB stream, planned 1 TB (${mib(part)} parts, ${PARTS_PER_OBJECT} per object)`,
      `${out.wallSeconds.toFixed(2)} s`,
      formatBytes(out.size),
      `${formatBytes(out.peakRssBytes)} (${formatBytes(out.rssBeforeBytes)} idle)`,
      `${mib(out.memoryAtPeak.heapTotal)} + ${mib(out.memoryAtPeak.arrayBuffers)}`,
      `${out.cpuSeconds.toFixed(2)} s`,
      `${out.parts} in ${objects} objects`,
      '',
    ],
  ];
  const checks = [
    `memory: planned 1 TB: part size ${mib(part)}, ${DEFAULT_QUEUE_SIZE} parts in flight + 1 filling = ${mib(buffers)} of part buffers ` +
      `(before: ${mib(oldPart)} parts, ${mib((DEFAULT_QUEUE_SIZE + 1) * oldPart)}); 1 TB is ${Math.ceil(PLANNED / (10_000 * part))} objects of 10,000 parts`,
    `memory: ${formatBytes(out.size)} stored in ${objects} objects (expected ${expectedObjects}) ${out.size === bytes && objects === expectedObjects ? 'OK' : 'FAIL'}`,
    `memory: peak RSS ${formatBytes(out.peakRssBytes)}, ${mib(out.peakRssBytes - out.rssBeforeBytes)} over idle (target <= 256 MB) ${out.peakRssBytes <= TARGET_RSS ? 'OK' : 'MISSED'}`,
  ];
  return { rows, checks };
}
