import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { forwardTo, listenOnLoopback } from './http-forward.ts';

// A TEST DOUBLE, narrowly scoped: no S3 server that runs here can be told to fail some requests with
// 5xx, so this HTTP proxy forwards requests unchanged to a real S3 server (s3rver) and answers a chosen
// share of them itself with an S3 error (default: 500 InternalError), after reading the request body
// like a real server would, or reads and never answers them (holdWhen: a provider whose requests
// hang). Every request is recorded with its time, so tests can measure the backoff.

interface ProxiedRequest {
  method: string;
  url: string;
  at: number;
  // The status the double answered itself, or undefined when forwarded.
  failedWith: number | undefined;
}

export interface FaultHttpProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  // Decides per request whether to fail it (index counts every request so far); undefined forwards all.
  failWhen(decide: ((request: { method: string; url: string; index: number }) => boolean) | undefined, error?: { status: number; code: string }): void;
  // Decides per request whether to hold it: read, never answered. undefined forwards the later ones.
  holdWhen(decide: ((request: { method: string; url: string }) => boolean) | undefined): void;
  // Requests held so far (each attempt of the client counts).
  readonly held: number;
  close(): Promise<void>;
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>test double failure ${code}</Message><RequestId>test</RequestId></Error>`;
}

export async function startFaultHttpProxy(targetPort: number): Promise<FaultHttpProxy> {
  const requests: ProxiedRequest[] = [];
  let decide: ((request: { method: string; url: string; index: number }) => boolean) | undefined;
  let failure = { status: 500, code: 'InternalError' };
  let hold: ((request: { method: string; url: string }) => boolean) | undefined;
  let held = 0;

  const forward = (req: IncomingMessage, res: ServerResponse): void => forwardTo(targetPort, req, res);

  const server = http.createServer((req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    if (hold?.({ method, url }) === true) {
      held += 1;
      requests.push({ method, url, at: Date.now(), failedWith: undefined });
      req.resume();
      return;
    }
    const fail = decide?.({ method, url, index: requests.length }) ?? false;
    requests.push({ method, url, at: Date.now(), failedWith: fail ? failure.status : undefined });
    if (!fail) return forward(req, res);
    req.resume();
    req.on('end', () => {
      const body = method === 'HEAD' ? '' : errorXml(failure.code);
      res.writeHead(failure.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const endpoint = await listenOnLoopback(server);
  return {
    endpoint,
    requests,
    failWhen(next, error = { status: 500, code: 'InternalError' }) {
      decide = next;
      failure = error;
    },
    holdWhen(next) {
      hold = next;
    },
    get held() {
      return held;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
