// Uploads over a real network: the zstd backup through a shaping proxy in front of the S3 server
// (shaping-proxy.ts: an added round trip per request and a bandwidth cap per connection) against the
// same backup over loopback, measured in the same run. Then the compressed bytes uploaded alone
// through the proxy with 2 parts in flight (the store's default) and with 4, to show whether two
// parts keep up with what a backup produces.
import { formatBytes } from '../src/util/format.ts';
import { startShapingProxy, type Shape } from './shaping-proxy.ts';

interface Run {
  size: number;
  parts: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

interface Section {
  rows: string[][];
  checks: string[];
}

export interface NetworkDeps {
  s3Endpoint: string;
  // The loopback zstd backup measured earlier in the run, if any (else one is taken here).
  zstdBackup: Run | undefined;
  runBackup: (endpoint: string) => Promise<Run>;
  runUpload: (endpoint: string, queueSize: number) => Promise<Run>;
  log: (line: string) => void;
}

// 30 ms round trip (15 ms each way) and 50 MB/s per connection: a sidecar in one cloud region
// uploading to object storage in another; BENCH_RTT_MS and BENCH_LINK_MBPS change them.
function shapeFromEnv(): Shape {
  const number = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
      process.stderr.write(`${name} must be a positive number, got ${JSON.stringify(raw)}: unset it for the default (${fallback})\n`);
      process.exit(2);
    }
    return value;
  };
  return { oneWayDelayMs: number('BENCH_RTT_MS', 30) / 2, bytesPerSecond: number('BENCH_LINK_MBPS', 50) * 1e6 };
}

const secs = (s: number) => `${s.toFixed(2)} s`;
const mbps = (bytes: number, seconds: number) => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;

export async function measureNetwork(deps: NetworkDeps): Promise<Section> {
  const rows: string[][] = [];
  const checks: string[] = [];
  const shape = shapeFromEnv();
  const target = new URL(deps.s3Endpoint);
  const proxy = await startShapingProxy({ host: target.hostname, port: Number(target.port) }, shape);
  const link = `+${shape.oneWayDelayMs * 2} ms round trip, ${shape.bytesPerSecond / 1e6} MB/s per connection`;
  deps.log(`  network: shaping proxy on ${proxy.endpoint}: ${link}`);
  const row = (label: string, r: Run) => [label, secs(r.wallSeconds), `${formatBytes(r.size)}, ${mbps(r.size, r.wallSeconds)}`, formatBytes(r.peakRssBytes), '', `${r.cpuSeconds.toFixed(2)} s`, String(r.parts), ''];
  try {
    const loopback = deps.zstdBackup ?? (await deps.runBackup(deps.s3Endpoint));
    const shaped = await deps.runBackup(proxy.endpoint);
    const twoParts = await deps.runUpload(proxy.endpoint, 2);
    const fourParts = await deps.runUpload(proxy.endpoint, 4);
    if (deps.zstdBackup === undefined) rows.push(row('backup-sentinel backup, zstd (loopback)', loopback));
    rows.push(row(`backup-sentinel backup, zstd, through the proxy (${link})`, shaped));
    rows.push(row('zstd bytes uploaded alone through the proxy, 2 parts in flight', twoParts));
    rows.push(row('zstd bytes uploaded alone through the proxy, 4 parts in flight', fourParts));
    const ratio = shaped.wallSeconds / loopback.wallSeconds;
    checks.push(`network: backup through the proxy / loopback backup = ${ratio.toFixed(2)}x (${secs(shaped.wallSeconds)} / ${secs(loopback.wallSeconds)}; ${link}) (target <= 1.2x) ${ratio <= 1.2 ? 'OK' : 'MISSED'}`);
    // Whether the upload can take what the backup makes: the loopback backup's stored bytes per
    // second against the upload alone through the proxy.
    const produced = loopback.size / loopback.wallSeconds;
    const uploaded = twoParts.size / twoParts.wallSeconds;
    checks.push(
      `network: 2 parts in flight upload ${mbps(twoParts.size, twoParts.wallSeconds)} through the proxy (4 parts: ${mbps(fourParts.size, fourParts.wallSeconds)}); ` +
        `the loopback backup produced ${mbps(loopback.size, loopback.wallSeconds)} of compressed dump: ` +
        `${uploaded >= produced * 1.2 ? 'two parts keep up' : 'two parts DO NOT keep up with the backup on this link'}`,
    );
  } finally {
    await proxy.close();
  }
  return { rows, checks };
}
