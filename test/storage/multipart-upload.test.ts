import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AbortMultipartUploadCommand, GetObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { MultipartUpload } from '../../src/storage/multipart-upload.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { bytes, sha256 } from './store-contract.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

// Chunks of uneven sizes (never aligned with the parts), as a pipe or a compressor gives them.
async function* unevenChunks(data: Buffer): AsyncGenerator<Buffer> {
  const sizes = [1, 65_536, 700_001, 3 * MiB + 17];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length] ?? 1, data.length - at);
    yield data.subarray(at, at + n);
    at += n;
  }
}

// The real client against the real test server; this wrapper only watches the UploadPart requests
// going by (how many at once, which memory their bodies live in).
function watchedClient(client: S3Client) {
  const seen = { inFlight: 0, maxInFlight: 0, bodies: new Set<ArrayBufferLike>(), parts: 0 };
  const send = async (command: Parameters<S3Client['send']>[0]): Promise<unknown> => {
    if (!(command instanceof UploadPartCommand)) return client.send(command);
    seen.parts += 1;
    seen.bodies.add((command.input.Body as Buffer).buffer);
    seen.inFlight += 1;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    try {
      return await client.send(command);
    } finally {
      seen.inFlight -= 1;
    }
  };
  return { client: new Proxy(client, { get: (t, p, r) => (p === 'send' ? send : (Reflect.get(t, p, r) as unknown)) }), seen };
}

describe('MultipartUpload', () => {
  let s3: TestS3Server;
  let client: S3Client;
  before(async () => {
    s3 = await startS3Server();
    client = s3.client();
  });
  after(async () => {
    client?.destroy();
    await s3?.close();
  });

  async function stored(key: string): Promise<Buffer> {
    const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await (out.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray());
  }

  it('reuses at most queueSize + 1 part buffers for any number of parts, with at most queueSize in flight', async () => {
    const data = bytes(6 * PART + 123, 7);
    const watched = watchedClient(client);
    const progress: number[] = [];
    const upload = new MultipartUpload({
      client: watched.client,
      params: { Bucket: s3.bucket, Key: 'mp/pooled.bin' },
      body: unevenChunks(data),
      partSize: PART,
      queueSize: 2,
      onProgress: (n) => progress.push(n),
    });
    await upload.done();
    assert.equal(upload.parts, 7);
    assert.equal(watched.seen.parts, 7);
    assert.ok(watched.seen.maxInFlight <= 2, `${watched.seen.maxInFlight} parts in flight at once`);
    // lib-storage's Upload made a new Buffer for every part: 7 here.
    assert.ok(watched.seen.bodies.size <= 3, `${watched.seen.bodies.size} part buffers for 7 parts`);
    assert.equal(sha256(await stored('mp/pooled.bin')), sha256(data));
    assert.equal(progress.at(-1), data.length);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('stores a body of exactly two parts whole, and a body smaller than a part with one PutObject', async () => {
    const two = bytes(2 * PART, 3);
    const exact = new MultipartUpload({ client, params: { Bucket: s3.bucket, Key: 'mp/exact.bin' }, body: unevenChunks(two), partSize: PART, queueSize: 2 });
    await exact.done();
    assert.equal(exact.parts, 2);
    assert.equal(sha256(await stored('mp/exact.bin')), sha256(two));

    const small = bytes(PART - 1, 4);
    const single = new MultipartUpload({ client, params: { Bucket: s3.bucket, Key: 'mp/small.bin', Metadata: { a: 'b' } }, body: unevenChunks(small), partSize: PART, queueSize: 2 });
    await single.done();
    assert.equal(single.uploadId, undefined);
    assert.equal(single.parts, 1);
    assert.equal(sha256(await stored('mp/small.bin')), sha256(small));
  });

  it('refuses to send more parts than S3 allows, leaving the upload to abort', async () => {
    const upload = new MultipartUpload({ client, params: { Bucket: s3.bucket, Key: 'mp/too-many.bin' }, body: unevenChunks(bytes(3 * PART + 1, 6)), partSize: PART, queueSize: 2, maxParts: 3 });
    await assert.rejects(upload.done(), /outgrew the 3 parts of 5 MiB/);
    assert.equal(upload.parts, 3);
    await client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: 'mp/too-many.bin', UploadId: upload.uploadId ?? '' }));
  });

  it('rejects with the error of a failed part and keeps the upload id for the caller to abort', async () => {
    let partsSent = 0;
    const failing = new Proxy(client, {
      get: (t, p, r) =>
        p === 'send'
          ? (command: Parameters<S3Client['send']>[0]) => {
              // Stands in for a request the network lost: the second part fails, the others go through.
              if (command instanceof UploadPartCommand && ++partsSent === 2) return Promise.reject(new Error('part 2 lost'));
              return client.send(command);
            }
          : (Reflect.get(t, p, r) as unknown),
    });
    const upload = new MultipartUpload({ client: failing, params: { Bucket: s3.bucket, Key: 'mp/failed.bin' }, body: unevenChunks(bytes(5 * PART, 5)), partSize: PART, queueSize: 2 });
    await assert.rejects(upload.done(), /part 2 lost/);
    assert.notEqual(upload.uploadId, undefined);
    assert.ok(upload.parts < 5, `read on to part ${upload.parts} after the failure`);
    assert.deepEqual((await s3.pendingUploads()).map((u) => u.key), ['mp/failed.bin']);
  });
});
