import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import { keyPrefix } from '../../src/core/naming.ts';
import { RetentionService } from '../../src/retention/retention-service.ts';
import { SetRetention } from '../../src/sets/set-retention.ts';
import { unitNaming } from '../../src/sets/unit-naming.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { startFaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { sample } from '../helpers/metrics.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { OUTAGE_ATTEMPT_TIMEOUT_MS, stopOrRetry } from '../helpers/stop-or-retry.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { listKeys, seedBackups, type SeedTarget } from './fixtures.ts';

// A provider outage where requests hang: the SDK waits out each attempt's socket timeout and retries
// with back-off, tens of seconds in all by default. stop() (SIGTERM) must not wait for that: the run's
// abort signal reaches every storage call. Each test races stop() against the outage's next attempt
// (a second connection or request the client makes once its first attempt timed out), so no assertion
// depends on how fast the machine is: without the signal stop() resolves only after that attempt.

describe('stopping retention during a storage outage', () => {
  let s3: TestS3Server;
  let n = 0;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  const files: SeedTarget = { put: async (key, body) => await s3.seed([{ key, body: await buffer(body) }]) };

  function setup(endpoint: string): { config: Config; store: S3Store; prefix: string } {
    n += 1;
    const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: `outage${n}`, BACKUP_FILE_PREFIX: 'app-', RETENTION_DAYS: '30', MIN_BACKUPS_KEPT: '1', RETENTION_MODE: 'prune' });
    const store = new S3Store(s3.settings(endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
    return { config, store, prefix: keyPrefix(config.location) };
  }

  function service(config: Config, store: S3Store, logger = captureLogs().logger, registry?: Registry): RetentionService {
    return new RetentionService({ settings: config.retention, storageKind: 's3', location: config.location, freshness: config.monitor, store, logger, registry });
  }

  it('stop() cancels the run at start while its listing hangs, before the SDK tries again, and records no failure', async () => {
    // A black hole: connections are accepted and nothing is ever answered.
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const { config, store } = setup(proxy.endpoint);
      const { logger, records } = captureLogs();
      const retention = service(config, store, logger);
      retention.start();
      await waitFor(() => proxy.connectionsAccepted >= 1, 'the run at start sends its listing');
      const first = await stopOrRetry(retention, () => proxy.connectionsAccepted >= 2);
      assert.equal(first, 'stopped', 'stop() waited out the hanging listing until the SDK retried it');
      const status = retention.status();
      assert.equal(status.lastRunAt, undefined, 'a cancelled run is not recorded as a run');
      assert.equal(status.lastRunOk, undefined);
      assert.deepEqual(retention.findings(), [], 'a cancelled run is no retention finding');
      assert.deepEqual(
        records().filter((r) => Number(r.level) >= 40),
        [],
        'a cancelled run logs no warning or error',
      );
      assert.ok(records().some((r) => /retention: run cancelled/.test(String(r.msg))), 'the cancellation is logged');
      store.client.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('a delete batch cancelled before its answer is not counted, and the next run deletes it', async () => {
    const proxy = await startFaultHttpProxy(s3.port);
    proxy.holdWhen(({ method, url }) => method === 'POST' && url.includes('delete'));
    try {
      const { config, store, prefix } = setup(proxy.endpoint);
      const seeded = await seedBackups(files, (key, time) => s3.backdate(key, time), config.location, [0, 40], new Date());
      const registry = new Registry();
      const retention = service(config, store, undefined, registry);
      const run = retention.runOnce();
      await waitFor(() => proxy.held >= 1, 'the prune sends its delete batch');
      const first = await stopOrRetry(retention, () => proxy.held >= 2);
      assert.equal(first, 'stopped', 'stop() waited out the hanging delete until the SDK retried it');
      const status = await run;
      assert.equal(status.lastRunAt, undefined, 'the cancelled run is not recorded');
      assert.equal(status.lastPrune, undefined, 'nothing is reported as pruned');
      assert.equal(sample(await registry.metrics(), 'backup_sentinel_backups_deleted_total'), 0, 'the cancelled batch is not counted');
      assert.deepEqual(retention.findings(), []);
      assert.equal((await listKeys(store, prefix)).length, 4, 'the held batch never reached the server');

      proxy.holdWhen(undefined);
      const next = await retention.runOnce();
      assert.equal(next.lastRunOk, true);
      assert.equal(next.lastPrune?.deletedBackups, 1);
      assert.deepEqual(await listKeys(store, prefix), [seeded[0]?.key, seeded[0]?.manifest].sort());
      store.client.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('with backup sets, stop() cancels the set being pruned while its listing hangs and starts no further set', async () => {
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const { config, store } = setup(proxy.endpoint);
      const { logger, records } = captureLogs();
      const sets = new SetRetention({ config, store, logger, location: (set) => ({ ...config.location, subfolder: set }), currentFindings: () => undefined, naming: unitNaming(config, []) });
      sets.ensure('a');
      sets.ensure('b');
      sets.start();
      await waitFor(() => proxy.connectionsAccepted >= 1, "set a's run sends its listing");
      const first = await stopOrRetry(sets, () => proxy.connectionsAccepted >= 2);
      assert.equal(first, 'stopped', "stop() waited out set a's hanging listing until the SDK retried it (or set b's)");
      assert.deepEqual(sets.findings(), [], 'a cancelled run is no retention finding for any set');
      assert.deepEqual(
        records().filter((r) => Number(r.level) >= 40),
        [],
        'a cancelled run logs no warning or error',
      );
      store.client.destroy();
    } finally {
      await proxy.close();
    }
  });
});
