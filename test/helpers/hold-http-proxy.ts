import http from 'node:http';
import { forwardTo, listenOnLoopback } from './http-forward.ts';

// A TEST DOUBLE, narrowly scoped: no S3 server that runs here can be told to leave one kind of request
// unanswered, so this HTTP proxy forwards every request unchanged to a real S3 server (s3rver) except
// those `hold` picks, which it reads and never answers (a provider whose requests hang), until release().
export interface HoldHttpProxy {
  endpoint: string;
  // Requests held so far (each attempt of the client counts).
  held: number;
  // Forwards every later request, held kind or not.
  release(): void;
  close(): Promise<void>;
}

export async function startHoldHttpProxy(targetPort: number, hold: (request: { method: string; url: string }) => boolean): Promise<HoldHttpProxy> {
  let holding = true;
  const server = http.createServer((req, res) => {
    if (holding && hold({ method: req.method ?? '', url: req.url ?? '' })) {
      proxy.held += 1;
      req.resume();
      return;
    }
    forwardTo(targetPort, req, res);
  });
  const proxy: HoldHttpProxy = {
    endpoint: await listenOnLoopback(server),
    held: 0,
    release() {
      holding = false;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
