import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3-store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { bytes, readAll, sha256 } from './store-contract.ts';

const KiB = 1024;
// s3rver takes parts of any size: 64 KiB parts and 2 parts per object make a 128 KiB object limit,
// so a few hundred KiB exercise what a backup of more than 156 GiB does against S3.
const PART = 64 * KiB;
const MAX_PARTS = 2;
const PIECE = PART * MAX_PARTS;


// Uneven chunks (never aligned with parts or pieces), as a compressor gives them.
function chunked(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0, i = 0; at < data.length; i++) {
        const n = Math.min([1, 10_000, 70_001, 33_333][i % 4] ?? 1, data.length - at);
        yield data.subarray(at, at + n);
        at += n;
      }
    })(),
  );
}

describe('S3Store: a body larger than one object holds goes on in pieces', () => {
  let s3: TestS3Server;
  let client: S3Client;
  let store: S3Store;
  // The memory every UploadPart body lives in, to count the part buffers.
  const partBuffers = new Set<ArrayBufferLike>();
  before(async () => {
    s3 = await startS3Server();
    client = s3.client();
    // The real client against the real server; the proxy only notes which buffers part bodies live in.
    const watched = new Proxy(client, {
      get: (t, p, r) =>
        p === 'send'
          ? (command: Parameters<S3Client['send']>[0], options?: object) => {
              if (command instanceof UploadPartCommand) partBuffers.add((command.input.Body as Buffer).buffer);
              return client.send(command, options ?? {});
            }
          : (Reflect.get(t, p, r) as unknown),
    });
    const options: S3StoreOptions = { client: watched, partSize: PART, maxParts: MAX_PARTS, queueSize: 2 };
    store = new S3Store(s3.settings(), options);
  });
  after(async () => {
    client?.destroy();
    await s3?.close();
  });

  it('stores 2.5 objects worth as key, key.002, key.003 whose bytes in order are the stream, with one pool of part buffers', async () => {
    const data = bytes(2 * PIECE + PIECE / 2 + 77, 11);
    partBuffers.clear();
    const progress: number[] = [];
    const result = await store.put('split/db-2026-01-01_00-00-00.dump.zst', chunked(data), { onProgress: (n) => progress.push(n) });
    const keys = ['split/db-2026-01-01_00-00-00.dump.zst', 'split/db-2026-01-01_00-00-00.dump.zst.002', 'split/db-2026-01-01_00-00-00.dump.zst.003'];
    assert.deepEqual(
      result.pieces?.map((p) => p.key),
      keys,
    );
    assert.deepEqual(result.pieces?.map((p) => p.size), [PIECE, PIECE, PIECE / 2 + 77]);
    assert.equal(result.size, data.length);
    assert.equal(result.parts, 6);
    assert.deepEqual((await store.list('split/')).map((o) => o.key), keys);
    const stored = Buffer.concat(await Promise.all(keys.map(async (k) => readAll(await store.get(k)))));
    assert.equal(sha256(stored), sha256(data));
    assert.equal(progress.at(-1), data.length);
    assert.ok(progress.every((n, i) => i === 0 || n >= (progress[i - 1] ?? 0)), 'progress over all pieces never goes back');
    // queueSize + 1 = 3 buffers for the whole backup, not 3 per object.
    assert.ok(partBuffers.size <= 3, `${partBuffers.size} part buffers for 3 objects`);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('keeps a body that fits in one object under its own key alone, with no pieces', async () => {
    const data = bytes(PIECE, 12);
    const result = await store.put('single/db-2026-01-01_00-00-00.dump.zst', chunked(data));
    assert.deepEqual(result, { key: 'single/db-2026-01-01_00-00-00.dump.zst', size: PIECE, parts: MAX_PARTS });
    assert.deepEqual((await store.list('single/')).map((o) => o.key), ['single/db-2026-01-01_00-00-00.dump.zst']);
    assert.equal(sha256(await readAll(await store.get('single/db-2026-01-01_00-00-00.dump.zst'))), sha256(data));
  });

  it('completes the first object last, so no piece is a backup while the upload still runs', async () => {
    const data = bytes(2 * PIECE + 100, 13);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const body = Readable.from(
      (async function* () {
        yield data.subarray(0, 2 * PIECE + 50);
        await held;
        yield data.subarray(2 * PIECE + 50);
      })(),
    );
    const key = 'order/db-2026-01-01_00-00-00.dump.zst';
    const put = store.put(key, body);
    // Piece 2 is complete once its parts went up and the body moved on to piece 3.
    await waitFor(async () => (await store.list('order/')).some((o) => o.key === `${key}.002`), 'piece 2 stored');
    assert.equal(await store.head(key), undefined, 'the first object appeared before the backup was complete');
    release();
    await put;
    assert.deepEqual((await store.list('order/')).map((o) => o.key), [key, `${key}.002`, `${key}.003`]);
  });

  it('leaves no piece and no open upload when the body fails in the third object', async () => {
    const data = bytes(2 * PIECE + 100, 14);
    const body = Readable.from(
      (async function* () {
        yield data;
        throw new Error('pg_dump died');
      })(),
    );
    await assert.rejects(store.put('failed/db-2026-01-01_00-00-00.dump.zst', body), /pg_dump died/);
    assert.deepEqual(await store.list('failed/'), []);
    assert.deepEqual(await s3.pendingUploads(), []);
  });

  it('leaves nothing when aborted after the second object was stored', async () => {
    const data = bytes(2 * PIECE + 100, 15);
    const controller = new AbortController();
    // A pipe that never ends: the abort must end the upload.
    const body = new Readable({ read() {} });
    body.push(data);
    const key = 'aborted/db-2026-01-01_00-00-00.dump.zst';
    const put = store.put(key, body, { signal: controller.signal });
    await waitFor(async () => (await store.list('aborted/')).some((o) => o.key === `${key}.002`), 'piece 2 stored');
    controller.abort(new Error('service stopping'));
    await assert.rejects(put, /aborted/);
    assert.deepEqual(await store.list('aborted/'), []);
    assert.deepEqual(await s3.pendingUploads(), []);
  });
});
