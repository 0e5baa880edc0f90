import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../../src/config/types.ts';
import { Secret } from '../../src/config/secret.ts';

interface S3Request {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface SeedObject {
  key: string;
  // Content, or `size` zero bytes.
  body?: Buffer | string;
  size?: number;
  lastModified?: Date;
  metadata?: Record<string, string>;
}

// A multipart upload that was started and neither completed nor aborted.
interface PendingUpload {
  key: string;
  uploadId: string;
  // When it was started (the mtime of s3rver's record of it; see backdateUpload).
  initiated: Date;
}

export interface TestS3Server {
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  directory: string;
  // Every request the server received, in order (for counting incremental listings).
  requests: S3Request[];
  // Environment variables that point backup-sentinel at this server.
  env: Record<string, string>;
  // The storage settings of this server's bucket, reached at `via` (a proxy in front of it) or directly.
  settings(via?: string): S3Settings;
  // A bare SDK client of this server (checksums only where required, as s3rver knows no others).
  client(): S3Client;
  // Sets an object's LastModified (s3rver takes it from the file's mtime).
  backdate(key: string, time: Date, bucket?: string): Promise<void>;
  // Writes objects straight into s3rver's folders (thousands per second, for listing tests), as if
  // uploaded at lastModified (default now). Metadata keys are given without the x-amz-meta- prefix.
  seed(objects: readonly SeedObject[], bucket?: string): Promise<void>;
  // Multipart uploads in progress (s3rver keeps them as folders; it lacks ListMultipartUploads).
  pendingUploads(bucket?: string): Promise<PendingUpload[]>;
  // Makes a multipart upload look started at `time` (ListMultipartUploads' Initiated).
  backdateUpload(uploadId: string, time: Date, bucket?: string): Promise<void>;
  close(): Promise<void>;
}

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17) refuses, so
// any listing longer than one page (1,000 keys) fails with InternalError. Tokens are opaque to clients:
// let 'des' be an identity cipher in this (test) process, so paging works. No other code uses DES.
function allowS3rverContinuationTokens(): void {
  const crypto = createRequire(import.meta.url)('node:crypto') as Record<string, unknown> & { __s3rverDes?: true };
  if (crypto.__s3rverDes) return;
  crypto.__s3rverDes = true;
  const identity = { update: (data: string | Buffer, encoding?: BufferEncoding) => (typeof data === 'string' ? Buffer.from(data, encoding) : Buffer.from(data)), final: () => Buffer.alloc(0) };
  for (const name of ['createCipheriv', 'createDecipheriv']) {
    const original = crypto[name] as (...args: unknown[]) => unknown;
    crypto[name] = (algorithm: unknown, ...rest: unknown[]) => (algorithm === 'des' ? identity : original(algorithm, ...rest));
  }
}

// Starts an in-process S3-compatible server (s3rver) on a free port with one bucket.
// s3rver checks access key ids but not signatures, and answers NotImplemented to lifecycle calls.
// It also lacks AbortMultipartUpload and ListMultipartUploads; this helper answers those two calls itself
// from s3rver's own upload folders (a narrow shim so tests can prove no multipart upload is left behind).
export async function startS3Server(options: { bucket?: string; extraBuckets?: string[] } = {}): Promise<TestS3Server> {
  allowS3rverContinuationTokens();
  const bucket = options.bucket ?? 'test-backups';
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  // The service keeps a local copy of its alert state in STATE_DIR, named after the storage's address;
  // ports are reused across a run, so each server's users get their own (as each pod has its own disk).
  const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-state-'));
  const instance = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [bucket, ...(options.extraBuckets ?? [])].map((name) => ({ name, configs: [] })),
  });
  const address = (await instance.run()) as { port: number };
  const server = (instance as unknown as { httpServer: Server }).httpServer;
  const requests: S3Request[] = [];
  // Uploads the shim aborted: s3rver would take a late part of one and create its folder anew.
  const aborted = new Set<string>();
  const s3rverHandlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (handleMultipartShim(directory, req, res, aborted)) return;
    for (const handler of s3rverHandlers) handler(req, res);
  });
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    port: address.port,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    requests,
    env: {
      AWS_S3_BUCKET: bucket,
      AWS_S3_ENDPOINT: endpoint,
      AWS_S3_REGION: 'auto',
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      STATE_DIR: stateDir,
    },
    client: () =>
      new S3Client({
        endpoint,
        region: 'auto',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    settings: (via = endpoint) => ({
      kind: 's3',
      bucket,
      endpoint: via,
      region: 'auto',
      forcePathStyle: true,
      accessKeyId: 'S3RVER',
      secretAccessKey: new Secret('S3RVER'),
      objectLock: false,
    }),
    async backdate(key, time, inBucket = bucket) {
      // s3rver's filesystem layout: <dir>/<bucket>/<key>._S3rver_object
      const file = path.join(directory, inBucket, `${key}._S3rver_object`);
      await fs.utimes(file, time, time);
    },
    async seed(objects, inBucket = bucket) {
      await seedObjects(directory, inBucket, objects);
    },
    async pendingUploads(inBucket = bucket) {
      return await listPendingUploads(directory, inBucket);
    },
    async backdateUpload(uploadId, time, inBucket = bucket) {
      await fs.utimes(path.join(uploadsFolder(directory, inBucket), path.basename(uploadId), 'key'), time, time);
    },
    async close() {
      await instance.close();
      await Promise.all([fs.rm(directory, { recursive: true, force: true }), fs.rm(stateDir, { recursive: true, force: true })]);
    },
  };
}

// s3rver's filesystem layout for multipart uploads: <dir>/<bucket>/._S3rver_uploads/<uploadId>/{key,metadata,<part>}
function uploadsFolder(directory: string, bucket: string): string {
  return path.join(directory, bucket, '._S3rver_uploads');
}

async function listPendingUploads(directory: string, bucket: string): Promise<PendingUpload[]> {
  const folder = uploadsFolder(directory, bucket);
  const ids = await fs.readdir(folder).catch(() => [] as string[]);
  const uploads: PendingUpload[] = [];
  for (const uploadId of ids) {
    const file = path.join(folder, uploadId, 'key');
    const key = await fs.readFile(file, 'utf8').catch(() => '');
    const initiated = await fs.stat(file).then((s) => s.mtime, () => new Date(0));
    uploads.push({ key, uploadId, initiated });
  }
  return uploads;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Answers AbortMultipartUpload (DELETE /bucket/key?uploadId=) and ListMultipartUploads (GET /bucket?uploads,
// with its prefix filter and each upload's Initiated time; one page), which s3rver lacks. Returns false
// for every other request.
function handleMultipartShim(directory: string, req: IncomingMessage, res: ServerResponse, aborted: Set<string>): boolean {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const [, bucket = '', ...keyParts] = url.pathname.split('/');
  const isAbort = req.method === 'DELETE' && url.searchParams.has('uploadId') && keyParts.length > 0;
  const isList = req.method === 'GET' && url.searchParams.has('uploads') && keyParts.join('') === '';
  // A part of an aborted upload that arrives late is refused, as S3 does, instead of reviving the upload.
  const isLatePart = req.method === 'PUT' && aborted.has(url.searchParams.get('uploadId') ?? '');
  if (isLatePart) {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>');
    return true;
  }
  if (!isAbort && !isList) return false;
  const reply = (status: number, body = ''): void => {
    res.writeHead(status, body ? { 'content-type': 'application/xml' } : {});
    res.end(body);
  };
  const error = (status: number, code: string, message: string): void =>
    reply(status, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  const accessKey = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
  req.resume();
  void (async () => {
    if (accessKey !== 'S3RVER') return error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    const bucketExists = await fs.stat(path.join(directory, bucket)).then(() => true, () => false);
    if (!bucketExists) return error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (isAbort) {
      const uploadId = url.searchParams.get('uploadId') ?? '';
      const folder = path.join(uploadsFolder(directory, bucket), path.basename(uploadId));
      const exists = await fs.stat(folder).then(() => true, () => false);
      if (!uploadId || !exists) return error(404, 'NoSuchUpload', 'The specified upload does not exist.');
      // A part still arriving (a stalled upload let go) can land while the folder is removed: rm then
      // meets ENOTEMPTY and tries again, so the upload is gone as an abort on S3 leaves it.
      aborted.add(path.basename(uploadId));
      await fs.rm(folder, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      return reply(204);
    }
    const prefix = url.searchParams.get('prefix') ?? '';
    const uploads = (await listPendingUploads(directory, bucket)).filter((u) => u.key.startsWith(prefix));
    const items = uploads
      .map((u) => `<Upload><Key>${escapeXml(u.key)}</Key><UploadId>${u.uploadId}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`)
      .join('');
    return reply(
      200,
      `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${escapeXml(bucket)}</Bucket>` +
        `<IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`,
    );
  })().catch((e: unknown) => error(500, 'InternalError', escapeXml(String(e))));
  return true;
}

// s3rver's layout for one object: <dir>/<bucket>/<key>._S3rver_{object,object.md5,metadata.json}.
async function seedObjects(directory: string, bucket: string, objects: readonly SeedObject[]): Promise<void> {
  const folders = new Set<string>();
  const write = async (object: SeedObject): Promise<void> => {
    const base = path.join(directory, bucket, object.key);
    const folder = path.dirname(base);
    if (!folders.has(folder)) {
      await fs.mkdir(folder, { recursive: true });
      folders.add(folder);
    }
    const body = object.body === undefined ? Buffer.alloc(object.size ?? 0) : Buffer.from(object.body);
    const metadata: Record<string, string> = { 'content-type': 'application/octet-stream' };
    for (const [name, value] of Object.entries(object.metadata ?? {})) metadata[`x-amz-meta-${name.toLowerCase()}`] = value;
    await fs.writeFile(`${base}._S3rver_object`, body);
    await fs.writeFile(`${base}._S3rver_object.md5`, createHash('md5').update(body).digest('hex'));
    await fs.writeFile(`${base}._S3rver_metadata.json`, JSON.stringify(metadata));
    if (object.lastModified) await fs.utimes(`${base}._S3rver_object`, object.lastModified, object.lastModified);
  };
  for (let i = 0; i < objects.length; i += 64) await Promise.all(objects.slice(i, i + 64).map(write));
}
