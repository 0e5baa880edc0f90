import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// What the S3 test doubles in front of s3rver share: S3's error body, reading a request body, and
// forwarding a request unchanged.

export function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>test</RequestId></Error>`;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// Forwards the request to 127.0.0.1:port on its own connection (no keep-alive pool left open that would
// keep s3rver's close() waiting) and pipes the answer back.
export function forwardTo(port: number, req: IncomingMessage, res: ServerResponse): void {
  const request = http.request(
    { host: '127.0.0.1', port, method: req.method, path: req.url, agent: false, headers: { ...req.headers, host: `127.0.0.1:${port}` } },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  request.on('error', () => res.destroy());
  // A client that goes away mid-request (an aborted upload) must not leave a half-sent request open
  // on s3rver, which would keep it waiting for the rest of the body (and its close() waiting too).
  res.on('close', () => request.destroy());
  req.pipe(request);
}

// Listens on a free 127.0.0.1 port; the http:// endpoint to point an S3 client at.
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
