// The benchmark's local S3 server in its own process, so its CPU is not counted as the service's.
// Prints {"endpoint":...,"bucket":...,"directory":...,"control":...} and runs until stdin closes.
// `control` is a second HTTP server (127.0.0.1, not S3, its requests not counted) for the monitor
// measurement: GET /requests answers {"count": S3 requests received so far, "lists": listings among them}; POST /seed with a
// SeedPlan (seed-plan.ts) writes backup objects straight into the server's folders.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startS3Server } from '../test/helpers/s3-server.ts';
import { makeS3rverDeletesConstantTime } from './s3rver-deletes.ts';
import { planSeedObjects, type SeedPlan } from './seed-plan.ts';

// A delete costs what it costs on a real S3, not a scan of its folder (see s3rver-deletes.ts).
makeS3rverDeletesConstantTime();
const s3 = await startS3Server({ bucket: 'bench-backups' });

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return JSON.parse(body) as unknown;
}

const control = http.createServer((req, res) => {
  const reply = (status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  void (async () => {
    // `lists`: the listing requests among them (GET on the bucket itself, not on an object).
    if (req.method === 'GET' && req.url === '/requests') {
      const bucketPath = new Set([`/${s3.bucket}`, `/${s3.bucket}/`]);
      const lists = s3.requests.filter((r) => r.method === 'GET' && bucketPath.has(r.url.split('?')[0] ?? '')).length;
      return reply(200, { count: s3.requests.length, lists });
    }
    if (req.method === 'POST' && req.url === '/seed') {
      const plan = (await readJson(req)) as SeedPlan;
      const t0 = performance.now();
      const objects = planSeedObjects(plan);
      await s3.seed(objects);
      return reply(200, { seeded: objects.length, seconds: (performance.now() - t0) / 1000 });
    }
    return reply(404, { error: `no such control call: ${req.method} ${req.url}` });
  })().catch((error: unknown) => reply(500, { error: String(error) }));
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, port: s3.port, bucket: s3.bucket, directory: s3.directory, control: controlUrl })}\n`);
let closing: Promise<void> | undefined;
const close = async () => {
  closing ??= new Promise<void>((resolve) => {
    control.close(() => resolve());
    control.closeAllConnections();
  })
    .then(() => s3.close())
    .then(() => process.exit(0));
  await closing;
};
process.stdin.on('end', () => void close());
process.stdin.on('close', () => void close());
process.stdin.resume();
process.on('SIGTERM', () => void close());
