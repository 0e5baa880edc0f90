import fs from 'node:fs/promises';
import type { Server, IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface S3Request {
  method: string;
  url: string;
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
  // Sets an object's LastModified (s3rver takes it from the file's mtime).
  backdate(key: string, time: Date, bucket?: string): Promise<void>;
  close(): Promise<void>;
}

// Starts an in-process S3-compatible server (s3rver) on a free port with one bucket.
// s3rver checks access key ids but not signatures, and answers NotImplemented to lifecycle calls.
export async function startS3Server(options: { bucket?: string; extraBuckets?: string[] } = {}): Promise<TestS3Server> {
  const bucket = options.bucket ?? 'test-backups';
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
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
  server.prependListener('request', (req: IncomingMessage) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
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
    },
    async backdate(key, time, inBucket = bucket) {
      // s3rver's filesystem layout: <dir>/<bucket>/<key>._S3rver_object
      const file = path.join(directory, inBucket, `${key}._S3rver_object`);
      await fs.utimes(file, time, time);
    },
    async close() {
      await instance.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}
