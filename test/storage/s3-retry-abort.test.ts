import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StorageError } from '../../src/errors.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// A request aborted while the client backs off between attempts (the provider answered 500) is given
// up at once by the SDK; the back-off's timer must go too, or it keeps a stopping process alive for
// the rest of the wait (up to retryMaxDelayMs, 20 s by default). Timers that keep the process alive
// are what process.getActiveResourcesInfo() lists as 'Timeout'.
function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('aborting an S3 request during its back-off', () => {
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

  it('ends the back-off wait with the request: no timer is left keeping the process alive', async () => {
    proxy.failWhen(() => true);
    // A first back-off of 30-60 s: far longer than the test waits for the timer to go.
    const store = new S3Store(s3.settings(proxy.endpoint), { tuning: { retryBaseDelayMs: 60_000, retryMaxDelayMs: 60_000 } });
    const before = liveTimers();
    const controller = new AbortController();
    const listing = store.list('outage/', { signal: controller.signal }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor(() => proxy.requests.length >= 1 && liveTimers() > before, 'the first attempt answered 500 and the back-off started');
    controller.abort();
    const error = await listing;
    assert.ok(error instanceof StorageError && error.code === 'Aborted', `the listing ends as aborted: ${String(error)}`);
    await waitFor(() => liveTimers() <= before, () => `the back-off timer to go (timers keeping the process alive: ${liveTimers()}, before: ${before})`);
    assert.equal(proxy.requests.length, 1, 'no second attempt');
    proxy.failWhen(undefined);
    store.client.destroy();
  });
});
