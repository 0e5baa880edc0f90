import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { OUTAGE_ATTEMPT_TIMEOUT_MS, stopOrRetry } from '../helpers/stop-or-retry.ts';
import { waitFor } from '../helpers/wait-for.ts';

// A provider outage where requests hang: the SDK waits out each attempt's socket timeout and retries,
// tens of seconds in all by default. stop() (SIGTERM) cancels the check's listing instead. The test
// races stop() against the client's next attempt (a second connection to the black hole), so nothing
// depends on how fast the machine is: without the signal stop() resolves only after that attempt.

describe('stopping the monitor during a storage outage', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  it('stop() cancels the check whose listing hangs, before the SDK tries again: no storage_unreachable, nothing told', async () => {
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: 'outage', BACKUP_FILE_PREFIX: 'app-' });
      const store = new S3Store(s3.settings(proxy.endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
      const { logger, records } = captureLogs();
      const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger });
      const told: unknown[] = [];
      runner.onCheck((result) => {
        told.push(result);
      });
      runner.start();
      await waitFor(() => proxy.connectionsAccepted >= 1, 'the check at start sends its listing');
      // A check asked for meanwhile (a backup finished) is not run once the service stops.
      void runner.runCheck();
      const first = await stopOrRetry(runner, () => proxy.connectionsAccepted >= 2);
      assert.equal(first, 'stopped', 'stop() waited out the hanging listing until the SDK retried it');
      assert.deepEqual(told, [], 'no check result is told to the listeners (alerts)');
      assert.equal(runner.healthState().checkedAt, undefined, 'no check is recorded');
      assert.deepEqual(
        records().filter((r) => Number(r.level) >= 40),
        [],
        'a cancelled check logs no warning or error',
      );
      assert.ok(records().some((r) => /monitor: check cancelled/.test(String(r.msg))), 'the cancellation is logged');
      store.client.destroy();
    } finally {
      await proxy.close();
    }
  });
});
