import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { TestS3Server } from './s3-server.ts';
import { errorXml, forwardTo, listenOnLoopback, readBody } from './http-forward.ts';

// A TEST DOUBLE, narrowly scoped: s3rver answers NotImplemented to lifecycle calls and no S3 server
// that implements them can run here, so this HTTP server answers GET/PUT/DELETE `/<bucket>?lifecycle`
// itself (keeping the XML it was given, like S3 does) and forwards every other request unchanged to the
// real s3rver behind it. Like AWS, a PUT without Content-MD5 or an x-amz-checksum-* header is refused.

interface LifecycleRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface LifecycleProxy {
  endpoint: string;
  // Environment variables that point backup-sentinel at the proxy (and through it at s3rver).
  env: Record<string, string>;
  // Lifecycle requests answered by the double (not the forwarded ones).
  lifecycleRequests: LifecycleRequest[];
  // The lifecycle configuration XML of a bucket, as last put; undefined when it has none.
  configuration(bucket?: string): string | undefined;
  setConfiguration(xml: string | undefined, bucket?: string): void;
  // Makes the next lifecycle calls fail with this S3 error (e.g. AccessDenied 403); undefined to stop.
  failWith(error: { status: number; code: string } | undefined): void;
  close(): Promise<void>;
}

export async function startLifecycleProxy(target: TestS3Server): Promise<LifecycleProxy> {
  const configurations = new Map<string, string>();
  const lifecycleRequests: LifecycleRequest[] = [];
  let failure: { status: number; code: string } | undefined;

  const answer = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handleLifecycle = async (req: IncomingMessage, res: ServerResponse, bucket: string) => {
    const body = await readBody(req);
    lifecycleRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: body.toString('utf8') });
    if (failure) return answer(res, failure.status, errorXml(failure.code, `test double failure ${failure.code}`));
    if (req.method === 'GET') {
      const xml = configurations.get(bucket);
      if (xml === undefined) return answer(res, 404, errorXml('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist'));
      return answer(res, 200, xml);
    }
    if (req.method === 'PUT') {
      const md5 = req.headers['content-md5'];
      const hasChecksum = Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-algorithm');
      if (md5 === undefined && !hasChecksum) return answer(res, 400, errorXml('InvalidRequest', 'Missing required header for this request: Content-MD5'));
      if (typeof md5 === 'string' && md5 !== createHash('md5').update(body).digest('base64')) {
        return answer(res, 400, errorXml('BadDigest', 'The Content-MD5 you specified did not match what we received.'));
      }
      if (!/<LifecycleConfiguration[\s>]/.test(body.toString('utf8'))) return answer(res, 400, errorXml('MalformedXML', 'not a lifecycle configuration'));
      configurations.set(bucket, body.toString('utf8'));
      return answer(res, 200, '');
    }
    if (req.method === 'DELETE') {
      configurations.delete(bucket);
      res.writeHead(204).end();
      return;
    }
    return answer(res, 405, errorXml('MethodNotAllowed', 'not allowed'));
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => forwardTo(target.port, req, res);

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const bucket = url.pathname.split('/')[1] ?? '';
    if (url.searchParams.has('lifecycle') && url.pathname.replace(/\/$/, '') === `/${bucket}`) {
      handleLifecycle(req, res, bucket).catch(() => res.destroy());
    } else {
      forward(req, res);
    }
  });
  const endpoint = await listenOnLoopback(server);
  return {
    endpoint,
    env: { ...target.env, AWS_S3_ENDPOINT: endpoint },
    lifecycleRequests,
    configuration: (bucket = target.bucket) => configurations.get(bucket),
    setConfiguration(xml, bucket = target.bucket) {
      if (xml === undefined) configurations.delete(bucket);
      else configurations.set(bucket, xml);
    },
    failWith(error) {
      failure = error;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
