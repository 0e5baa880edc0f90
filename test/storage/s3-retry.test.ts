import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Secret } from '../../src/config/secret.ts';
import type { S3Settings } from '../../src/config/types.ts';
import { StorageError } from '../../src/errors.ts';
import { DEFAULT_S3_TUNING } from '../../src/storage/s3-client.ts';
import { retryDelayMs } from '../../src/storage/s3-retry.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { oneS3AttemptWhenUnanswered } from '../helpers/one-s3-attempt.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { bytes, readAll, sha256 } from './store-contract.ts';

const MiB = 1024 * 1024;

function settingsFor(bucket: string, endpoint: string): S3Settings {
  return { kind: 's3', bucket, endpoint, region: 'auto', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: new Secret('S3RVER'), objectLock: false };
}

describe('retry backoff', () => {
  it('waits between half and all of each exponential step, capped', () => {
    const limits = { baseMs: 100, maxMs: 1_000 };
    assert.equal(retryDelayMs(1, limits, 0), 50);
    assert.equal(retryDelayMs(1, limits, 0.999), 99);
    assert.equal(retryDelayMs(3, limits, 0), 200);
    assert.equal(retryDelayMs(10, limits, 0), 500);
    assert.equal(retryDelayMs(10, limits, 0.999), 999);
  });

  it('spreads the default attempts of one request over more than 15 seconds', () => {
    const limits = { baseMs: DEFAULT_S3_TUNING.retryBaseDelayMs, maxMs: DEFAULT_S3_TUNING.retryMaxDelayMs };
    let least = 0;
    for (let retry = 1; retry < DEFAULT_S3_TUNING.maxAttempts; retry++) least += retryDelayMs(retry, limits, 0);
    assert.ok(DEFAULT_S3_TUNING.maxAttempts >= 8, `maxAttempts ${DEFAULT_S3_TUNING.maxAttempts}`);
    assert.ok(least >= 15_000, `the retries of one request wait at least ${least} ms in all`);
  });
});

describe('S3Store against a provider answering 500 to half the requests', () => {
  let s3: TestS3Server;
  let proxy: FaultHttpProxy;
  before(async () => {
    s3 = await startS3Server();
    proxy = await startFaultHttpProxy(s3.port);
  });
  after(async () => {
    await proxy?.close();
    await s3?.close();
  });

  it('completes a multipart upload intact, backing off between the attempts of each request', async () => {
    // A first step well above a request's own time on loopback (a few ms), small enough that part 2's
    // five waits take about a second: the waits' lower bounds below are multiples of it.
    const BASE_MS = 40;
    const store = new S3Store(settingsFor(s3.bucket, proxy.endpoint), { partSize: 5 * MiB, tuning: { retryBaseDelayMs: BASE_MS } });
    const data = bytes(22 * MiB + 17, 21);
    // Every request fails its first attempt, and part 2 fails five times in a row (more than the SDK's 4
    // attempts). Counted per request, not by arrival order: with two parts in flight, "every other
    // arrival" could land one request's retries on the failing turn every time.
    const attempts = new Map<string, number>();
    proxy.failWhen(({ method, url }) => {
      const request = `${method} ${url}`;
      const attempt = (attempts.get(request) ?? 0) + 1;
      attempts.set(request, attempt);
      return method === 'PUT' && url.includes('partNumber=2&') ? attempt <= 5 : attempt === 1;
    });
    const result = await store.put('retry/half-fail.sql.gz', Readable.from([data]));
    proxy.failWhen(undefined);
    assert.equal(result.size, data.length);
    assert.equal(result.parts, 5);
    assert.equal(sha256(await readAll(await store.get('retry/half-fail.sql.gz'))), sha256(data));
    assert.deepEqual(await s3.pendingUploads(), []);

    const failed = proxy.requests.filter((r) => r.failedWith !== undefined);
    assert.ok(failed.length >= 8, `only ${failed.length} requests failed`);
    // Each failed request is sent again (same method and URL) no sooner than half the first backoff step.
    for (const failure of failed) {
      const next = proxy.requests.find((r) => r.at >= failure.at && r !== failure && r.method === failure.method && r.url === failure.url);
      assert.ok(next, `${failure.method} ${failure.url} was not retried`);
      assert.ok(next.at - failure.at >= BASE_MS / 2 - 5, `${failure.method} ${failure.url} was retried after ${next.at - failure.at} ms`);
    }
    const part2 = proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber=2&'));
    assert.equal(part2.length, 6);
    const spread = (part2.at(-1)?.at ?? 0) - (part2[0]?.at ?? 0);
    // Five waits of at least 1/2, 1, 2, 4 and 8 first steps (15.5 of them; a few ms less for timer granularity).
    assert.ok(spread >= BASE_MS * 15, `part 2's six attempts spanned ${spread} ms`);
  });

  it("says a 500 is the provider's trouble, not the path style", async () => {
    const store = new S3Store(settingsFor(s3.bucket, proxy.endpoint), { tuning: { maxAttempts: 2, retryBaseDelayMs: 10 } });
    proxy.failWhen(() => true);
    const error = await store.list('retry/').then(
      () => undefined,
      (e: unknown) => e,
    );
    proxy.failWhen(undefined);
    assert.ok(error instanceof StorageError, String(error));
    assert.match(error.message, /HTTP 500/);
    assert.match(error.hint ?? '', /provider/);
    assert.doesNotMatch(error.hint ?? '', /FORCE_PATH_STYLE/);
  });

  it('says the provider is throttling when it answers 503 SlowDown', async () => {
    const store = new S3Store(settingsFor(s3.bucket, proxy.endpoint), { tuning: { maxAttempts: 2, retryBaseDelayMs: 10, retryMaxDelayMs: 20 } });
    proxy.failWhen(() => true, { status: 503, code: 'SlowDown' });
    const error = await store.list('retry/').then(
      () => undefined,
      (e: unknown) => e,
    );
    proxy.failWhen(undefined);
    assert.ok(error instanceof StorageError, String(error));
    assert.match(error.hint ?? '', /throttl/i);
  });

  // A request aborted during its back-off is given up at once by the SDK; the back-off's timer must go
  // too, or it keeps a stopping process alive for the rest of the wait (up to retryMaxDelayMs, 20 s by
  // default). Timers that keep the process alive are what getActiveResourcesInfo() lists as 'Timeout'.
  it('ends the back-off wait with an aborted request: no timer is left keeping the process alive', async () => {
    const liveTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    proxy.failWhen(() => true);
    // A first back-off of 30-60 s: far longer than the test waits for the timer to go.
    const store = new S3Store(settingsFor(s3.bucket, proxy.endpoint), { tuning: { retryBaseDelayMs: 60_000, retryMaxDelayMs: 60_000 } });
    const before = liveTimers();
    const sent = proxy.requests.length;
    const controller = new AbortController();
    const listing = store.list('outage/', { signal: controller.signal }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor(() => proxy.requests.length - sent >= 1 && liveTimers() > before, 'the first attempt answered 500 and the back-off started');
    controller.abort();
    const error = await listing;
    assert.ok(error instanceof StorageError && error.code === 'Aborted', `the listing ends as aborted: ${String(error)}`);
    await waitFor(() => liveTimers() <= before, () => `the back-off timer to go (timers keeping the process alive: ${liveTimers()}, before: ${before})`);
    assert.equal(proxy.requests.length - sent, 1, 'no second attempt');
    proxy.failWhen(undefined);
    store.client.destroy();
  });
});

describe('an endpoint that answers nothing (every connection reset)', () => {
  let server: net.Server;
  let connections = 0;
  let endpoint = '';
  before(async () => {
    server = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // Tests of commands and `serve` against a down endpoint rely on the helper: it must take effect on
  // the stores made while it is on, and put the default back.
  it('is tried the default number of times, or once per request under the test helper one-s3-attempt.ts', async () => {
    const attemptsOfOneListing = async (): Promise<number> => {
      connections = 0;
      const error = await new S3Store(settingsFor('down', endpoint), { tuning: { retryBaseDelayMs: 2 } }).list('x/').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof StorageError, String(error));
      return connections;
    };
    assert.equal(await attemptsOfOneListing(), DEFAULT_S3_TUNING.unansweredMaxAttempts);
    const restore = oneS3AttemptWhenUnanswered();
    try {
      assert.equal(await attemptsOfOneListing(), 1);
    } finally {
      restore();
    }
    assert.equal(await attemptsOfOneListing(), 4, 'the default is back');
  });
});
