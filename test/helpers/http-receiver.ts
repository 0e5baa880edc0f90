import http from 'node:http';
import type { AddressInfo } from 'node:net';

// What the receiver does with one request.
type ReceiverBehaviour = 'ok' | 'hang' | { status: number; body?: string; headers?: Record<string, string> };

interface ReceivedRequest {
  method: string;
  // Path and query, as sent.
  url: string;
  headers: http.IncomingHttpHeaders;
  // The raw body, exactly as received (signatures are checked over these bytes).
  body: string;
}

export interface TestHttpReceiver {
  // http://127.0.0.1:<port>
  base: string;
  requests: ReceivedRequest[];
  // Answers the next requests with these behaviours in order, then "ok" again.
  respondWith(...behaviours: ReceiverBehaviour[]): void;
  // Stops listening (connections refused) and listens again on the same port.
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

// A node:http server on 127.0.0.1 playing any webhook-style service (Discord, Teams, Telegram, ntfy,
// a generic receiver, a heartbeat service): records every request and answers `okStatus` (or what
// respondWith queued). The services' own URLs are https on fixed hosts; the notifiers take an API
// base option that only tests set, so this stand-in can receive what they send.
export async function startHttpReceiver(okStatus = 200, okBody = '{"ok":true}'): Promise<TestHttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const queue: ReceiverBehaviour[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const behaviour = queue.shift() ?? 'ok';
      if (behaviour === 'hang') return;
      if (behaviour === 'ok') {
        res.writeHead(okStatus, { 'content-type': 'application/json' }).end(okStatus === 204 ? undefined : okBody);
        return;
      }
      res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers }).end(behaviour.body ?? '');
    });
  });
  const listen = async (port: number): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  };
  const stop = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    respondWith(...behaviours) {
      queue.push(...behaviours);
    },
    down: stop,
    up: async () => {
      await listen(port);
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
}
