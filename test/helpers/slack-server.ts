import http from 'node:http';
import type { AddressInfo } from 'node:net';

// What the fake webhook does with one request.
type SlackBehaviour = 'ok' | 'hang' | { status: number; body?: string; headers?: Record<string, string> };

export interface TestSlackServer {
  // The webhook URL; its path looks like Slack's, with a token tests can search logs for.
  url: string;
  token: string;
  // JSON bodies received, in order (also those answered with an error).
  payloads: unknown[];
  // JSON bodies answered 200, in order: what people actually received.
  accepted: unknown[];
  // Answers the next requests with these behaviours in order, then "ok" again.
  respondWith(...behaviours: SlackBehaviour[]): void;
  close(): Promise<void>;
}

// A node:http server playing a Slack incoming webhook on 127.0.0.1 and a free port: records payloads
// and can answer 500 / 404 "no_service" / 429 / hang on demand.
export async function startSlackServer(): Promise<TestSlackServer> {
  const token = `tok${Math.random().toString(36).slice(2, 12)}SECRET`;
  const path = `/services/T0TEST/B0TEST/${token}`;
  const payloads: unknown[] = [];
  const accepted: unknown[] = [];
  const queue: SlackBehaviour[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        payloads.push(JSON.parse(text));
      } catch {
        payloads.push(text);
      }
      if (req.method !== 'POST' || req.url !== path) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no_service');
        return;
      }
      const behaviour = queue.shift() ?? 'ok';
      if (behaviour === 'hang') return;
      if (behaviour === 'ok') {
        accepted.push(payloads[payloads.length - 1]);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      res.writeHead(behaviour.status, { 'content-type': 'text/plain', ...behaviour.headers }).end(behaviour.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    token,
    payloads,
    accepted,
    respondWith(...behaviours) {
      queue.push(...behaviours);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
