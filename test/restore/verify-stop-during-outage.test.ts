import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { backupKey, keyPrefix, manifestKey } from '../../src/core/naming.ts';
import { silentLogger } from '../../src/logger.ts';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { VerifyService } from '../../src/restore/verify-service.ts';
import { SetVerify } from '../../src/sets/set-verify.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { startFaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { OUTAGE_ATTEMPT_TIMEOUT_MS, stopOrRetry } from '../helpers/stop-or-retry.ts';
import { waitFor } from '../helpers/wait-for.ts';

// A provider outage where requests hang: the SDK waits out each attempt's socket timeout and retries,
// tens of seconds in all by default. stop() (SIGTERM) cancels the verification's storage calls
// instead. Each test races stop() against the client's next attempt, so nothing depends on how fast
// the machine is: without the signal stop() resolves only after that attempt.

describe('stopping verification during a storage outage', () => {
  let s3: TestS3Server;
  let n = 0;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.close();
  });

  async function stopDuringOutage(endpoint: string, attempts: () => number): Promise<{ first: string; service: VerifyService; told: number }> {
    n += 1;
    const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: `verify${n}`, BACKUP_FILE_PREFIX: 'app-' });
    const store = new S3Store(s3.settings(endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
    const time = new Date(Date.now() - 3600_000);
    await s3.seed([{ key: backupKey(config.location, time, { format: 'plain', compression: 'gzip', encrypted: false }), size: 1024, lastModified: time }]);
    const service = new VerifyService({
      store,
      prefix: keyPrefix(config.location),
      cron: '30 4 * * *',
      scratch: undefined,
      source: undefined,
      tools: findPgTools(),
      decrypt: undefined,
      logger: silentLogger(),
    });
    let told = 0;
    service.onResult(() => {
      told += 1;
    });
    const run = service.runNow().catch(() => undefined);
    await waitFor(() => attempts() >= 1, 'the verification reaches the hanging request');
    const first = await stopOrRetry(service, () => attempts() >= 2);
    await run;
    store.client.destroy();
    return { first, service, told };
  }

  it('stop() cancels the listing of a verification, before the SDK tries again, and records nothing', async () => {
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const { first, service, told } = await stopDuringOutage(proxy.endpoint, () => proxy.connectionsAccepted);
      assert.equal(first, 'stopped', 'stop() waited out the hanging listing until the SDK retried it');
      assert.equal(service.state().lastVerify, undefined, 'a cancelled verification is not recorded');
      assert.deepEqual(service.findings(), [], 'a cancelled verification is no verify_failed finding');
      assert.equal(told, 0, 'no result is told to the listeners (alerts)');
    } finally {
      await proxy.close();
    }
  });

  it("stop() cancels reading the backup (its HEAD hangs) before the SDK tries again, and records nothing", async () => {
    const proxy = await startFaultHttpProxy(s3.port);
    proxy.holdWhen(({ method }) => method === 'HEAD');
    try {
      const { first, service, told } = await stopDuringOutage(proxy.endpoint, () => proxy.held);
      assert.equal(first, 'stopped', 'stop() waited out the hanging HEAD until the SDK retried it');
      assert.equal(service.state().lastVerify, undefined);
      assert.deepEqual(service.findings(), []);
      assert.equal(told, 0);
    } finally {
      await proxy.close();
    }
  });

  it('stop() cancels the second read that looks for damage after a backup could not be decoded', async () => {
    // A backup whose bytes match its manifest but are no gzip: decoding fails, and verification reads the
    // object once more to tell whether the stored bytes are damaged. That second GET hangs.
    let gets = 0;
    const proxy = await startFaultHttpProxy(s3.port);
    proxy.holdWhen(({ method, url }) => method === 'GET' && url.includes('/verify-damage/') && !url.includes('manifest') && !url.includes('list-type') && ++gets >= 2);
    try {
      const config = loadConfig({ ...s3.env, BUCKET_SUBFOLDER: 'verify-damage', BACKUP_FILE_PREFIX: 'app-' });
      const store = new S3Store(s3.settings(proxy.endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
      const time = new Date(Date.now() - 3600_000);
      const key = backupKey(config.location, time, { format: 'plain', compression: 'gzip', encrypted: false });
      const body = Buffer.alloc(1024, 7);
      const manifest = { manifestVersion: 1, key, sha256: createHash('sha256').update(body).digest('hex'), size: body.length, format: 'plain', compression: 'gzip', encryption: 'none' };
      await s3.seed([
        { key, body, lastModified: time },
        { key: manifestKey(key), body: JSON.stringify(manifest), lastModified: time },
      ]);
      const service = new VerifyService({ store, prefix: keyPrefix(config.location), cron: '30 4 * * *', scratch: undefined, source: undefined, tools: findPgTools(), decrypt: undefined, logger: silentLogger() });
      let told = 0;
      service.onResult(() => {
        told += 1;
      });
      const run = service.runNow().catch(() => undefined);
      await waitFor(() => proxy.held >= 1, 'the second read of the backup to hang');
      const first = await stopOrRetry(service, () => proxy.held >= 2);
      await run;
      store.client.destroy();
      assert.equal(first, 'stopped', 'stop() waited out the hanging second read until the SDK retried it');
      assert.equal(told, 0, 'a cancelled verification is told to no listener');
    } finally {
      await proxy.close();
    }
  });

  it("with BACKUP_GLOBALS, stop() cancels the roles' drill while its listing hangs, and records nothing", async () => {
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const config = loadConfig({
        ...s3.env,
        AWS_S3_ENDPOINT: proxy.endpoint,
        BUCKET_SUBFOLDER: 'verify-globals',
        BACKUP_DATABASE_URL: 'postgres://app:pw@127.0.0.1:1/app',
        BACKUP_DATABASES: 'a',
        BACKUP_GLOBALS: 'true',
        // Where the roles would be rehearsed: never reached, the listing before it hangs.
        VERIFY_RESTORE_URL: 'postgres://scratch:pw@127.0.0.1:1/postgres',
      });
      const store = new S3Store(s3.settings(proxy.endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
      const sets = new SetVerify(config, store, silentLogger());
      sets.ensure('a');
      const told: string[] = [];
      sets.onResult((set) => {
        told.push(set);
      });
      let ended = false;
      const run = sets.runAll().then(() => {
        ended = true;
      });
      await waitFor(() => proxy.connectionsAccepted >= 1, "the roles' drill sends its listing");
      await sets.stop();
      // The run itself must end, not only stop(): it was started directly, outside the schedule.
      const first = await waitFor(() => (ended ? 'ended' : proxy.connectionsAccepted >= 2 ? 'retried' : undefined), 'the run to end or the SDK to try again', {
        timeoutMs: 10 * OUTAGE_ATTEMPT_TIMEOUT_MS,
      });
      await run;
      store.client.destroy();
      assert.equal(first, 'ended', "the drill's hanging listing was waited out until the SDK retried it");
      assert.equal(sets.globalsDrill(), undefined, 'a cancelled drill is not recorded');
      assert.deepEqual(told, [], 'nothing is told to the listeners (alerts)');
    } finally {
      await proxy.close();
    }
  });

  it('with backup sets, stop() cancels the set being verified while its listing hangs and verifies no further set', async () => {
    const proxy = await startTcpProxy(s3.port);
    try {
      proxy.stall();
      const config = loadConfig({ ...s3.env, AWS_S3_ENDPOINT: proxy.endpoint, BUCKET_SUBFOLDER: 'verify-sets', BACKUP_FILE_PREFIX: 'app-', BACKUP_DATABASES: 'a,b' });
      const store = new S3Store(s3.settings(proxy.endpoint), { tuning: { socketTimeoutMs: OUTAGE_ATTEMPT_TIMEOUT_MS } });
      const sets = new SetVerify(config, store, silentLogger());
      sets.ensure('a');
      sets.ensure('b');
      const told: string[] = [];
      sets.onResult((set) => {
        told.push(set);
      });
      const run = sets.runAll();
      await waitFor(() => proxy.connectionsAccepted >= 1, "set a's verification sends its listing");
      const first = await stopOrRetry(sets, () => proxy.connectionsAccepted >= 2);
      await run;
      assert.equal(first, 'stopped', "stop() waited out set a's hanging listing until the SDK retried it (or set b's)");
      assert.deepEqual(told, [], 'no set result is told to the listeners (alerts)');
      assert.deepEqual([...sets.states().values()].map((s) => s.lastVerify), [undefined, undefined], 'no set has a verification recorded');
      store.client.destroy();
    } finally {
      await proxy.close();
    }
  });
});
