import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { TestS3Server } from './s3-server.ts';
import { errorXml, forwardTo, listenOnLoopback, readBody } from './http-forward.ts';

// A TEST DOUBLE, narrowly scoped: s3rver ignores If-None-Match / If-Match on PUT and DELETE (a second
// "create only if absent" succeeds), and no S3 server that honours them can run here. This HTTP server
// sits in front of s3rver and implements exactly those preconditions the way S3 and R2 do: a PutObject
// with `If-None-Match: *` on an existing key, or a PutObject / DeleteObject with `If-Match: <etag>` whose
// etag is not the object's current one (or on a missing key), gets 412 PreconditionFailed. The check
// and the write run under one lock per key, shared by every proxy in front of the same s3rver (as S3
// decides for all its clients), so two racing conditional writes cannot both pass. Every
// other request (and every passing conditional one) is forwarded unchanged to the real s3rver, each on
// its own connection (no keep-alive pool left open that would keep s3rver's close() waiting).

export interface ConditionalProxy {
  endpoint: string;
  // Environment variables that point backup-sentinel at the proxy (and through it at s3rver).
  env: Record<string, string>;
  // Conditional requests seen, with the answer the double gave (412) or 'forwarded'.
  conditionalRequests: { method: string; key: string; header: string; outcome: 412 | 'forwarded' }[];
  // While set, every request is answered 503 (a storage outage) instead of being forwarded.
  setDown(down: boolean): void;
  close(): Promise<void>;
}

// Per s3rver: the locks of its keys' conditional writes (a test gives each instance its own proxy, to cut
// one off; one lock map per proxy would let both instances' creates of one key pass).
const locksByTarget = new WeakMap<TestS3Server, Map<string, Promise<unknown>>>();

export async function startConditionalProxy(target: TestS3Server): Promise<ConditionalProxy> {
  const conditionalRequests: ConditionalProxy['conditionalRequests'] = [];
  const locks = locksByTarget.get(target) ?? new Map<string, Promise<unknown>>();
  locksByTarget.set(target, locks);
  let down = false;

  const upstream = (method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: target.port, method, path, agent: false, headers: { ...headers, host: `127.0.0.1:${target.port}` } }, (res) => {
        readBody(res).then((data) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: data }), reject);
      });
      request.on('error', reject);
      request.end(body);
    });

  const withKeyLock = async <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = locks.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    locks.set(key, run.catch(() => undefined));
    return await run;
  };

  const handleConditional = async (req: IncomingMessage, res: ServerResponse, objectPath: string) => {
    const body = await readBody(req);
    const ifNoneMatch = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    const method = req.method ?? '';
    await withKeyLock(objectPath, async () => {
      // s3rver checks access key ids, not signatures: the client's Authorization header serves the HEAD.
      const authHeaders: http.OutgoingHttpHeaders = {};
      for (const name of ['authorization', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token']) {
        if (req.headers[name] !== undefined) authHeaders[name] = req.headers[name];
      }
      const head = await upstream('HEAD', objectPath, authHeaders);
      const exists = head.status === 200;
      const etag = head.headers.etag;
      const holds = ifMatch !== undefined ? exists && etag === ifMatch : !(ifNoneMatch === '*' && exists);
      const header = ifMatch !== undefined ? `If-Match: ${ifMatch}` : `If-None-Match: ${String(ifNoneMatch)}`;
      if (!holds) {
        conditionalRequests.push({ method, key: objectPath, header, outcome: 412 });
        const xml = errorXml('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        res.writeHead(412, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
        return;
      }
      conditionalRequests.push({ method, key: objectPath, header, outcome: 'forwarded' });
      const headers = { ...req.headers };
      delete headers['if-match'];
      delete headers['if-none-match'];
      const answer = await upstream(method, req.url ?? '/', headers, body);
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => forwardTo(target.port, req, res);

  const server = http.createServer((req, res) => {
    if (down) {
      req.resume();
      const xml = errorXml('ServiceUnavailable', 'test double: storage down');
      res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const conditional = req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined;
    const singleObject = !url.searchParams.has('uploadId') && !url.searchParams.has('partNumber') && url.pathname.split('/').length > 2;
    if (conditional && singleObject && (req.method === 'PUT' || req.method === 'DELETE')) {
      handleConditional(req, res, url.pathname).catch(() => res.destroy());
    } else {
      forward(req, res);
    }
  });
  const endpoint = await listenOnLoopback(server);
  return {
    endpoint,
    env: { ...target.env, AWS_S3_ENDPOINT: endpoint },
    conditionalRequests,
    setDown(value) {
      down = value;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
