import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyPrefix } from '../../src/core/naming.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { createLifecycleStore } from '../../src/retention/lifecycle.ts';
import { ourRuleId } from '../../src/retention/lifecycle-rules.ts';
import { createRetentionService } from '../../src/retention/retention-service.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { startLifecycleProxy, type LifecycleProxy } from '../helpers/lifecycle-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { listKeys, seedBackups } from './fixtures.ts';

// With KEEP_* tiers a lifecycle rule on our prefix would expire the backups the tiers keep. s3rver
// answers NotImplemented to lifecycle calls and no S3 server with lifecycle support runs here, so these
// tests go through the NARROWLY SCOPED lifecycle TEST DOUBLE (test/helpers/lifecycle-proxy.ts) that
// answers only GET/PUT/DELETE ?lifecycle itself and forwards every other request to the real s3rver.

const OTHER_RULE = `<Rule><ID>logs 14d</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>14</Days></Expiration></Rule>`;
const ourRule = (prefix: string) =>
  `<Rule><ID>${ourRuleId(prefix)}</ID><Status>Enabled</Status><Filter><Prefix>${prefix}</Prefix></Filter><Expiration><Days>30</Days></Expiration></Rule>`;
const configurationXml = (...rules: string[]) => `<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration>${rules.join('')}</LifecycleConfiguration>`;

describe('retention tiers and lifecycle rules (through the lifecycle test double in front of s3rver)', () => {
  let s3: TestS3Server;
  let proxy: LifecycleProxy;
  let n = 0;
  before(async () => {
    s3 = await startS3Server();
    proxy = await startLifecycleProxy(s3);
  });
  after(async () => {
    await proxy?.close();
    await s3?.close();
  });

  // A deployment that had MANAGE_LIFECYCLE's rule (30 days) and now sets KEEP_DAILY/KEEP_MONTHLY.
  async function setup(env: Record<string, string>, rulesXml: string | undefined) {
    n += 1;
    const config = loadConfig({ ...proxy.env, BUCKET_SUBFOLDER: `tl${n}`, BACKUP_FILE_PREFIX: 'app-', KEEP_DAILY: '2', KEEP_MONTHLY: '6', MIN_BACKUPS_KEPT: '1', ...env });
    if (config.storage.kind !== 's3') throw new Error('expected S3 settings');
    const prefix = keyPrefix(config.location);
    proxy.setConfiguration(rulesXml?.replaceAll('PREFIX', prefix));
    proxy.lifecycleRequests.length = 0;
    const store = createStore(config);
    const lifecycle = createLifecycleStore(config.storage);
    return { config, prefix, store, lifecycle };
  }

  it('with MANAGE_LIFECYCLE=true removes its own rule, keeps every other rule, and prunes by the tiers', async () => {
    const { config, prefix, store, lifecycle } = await setup({ MANAGE_LIFECYCLE: 'true' }, configurationXml(OTHER_RULE, ourRule('PREFIX')));
    const now = new Date('2026-07-12T12:00:00Z');
    // Monthly backups far older than the rule's 30 days (06-02, 05-03, 04-03), and three recent ones.
    const seeded = await seedBackups(store, (key, time) => s3.backdate(key, time), config.location, [0, 1, 2, 40, 70, 100], now);
    const { logger, records } = captureLogs();
    const service = createRetentionService(config, { store, logger, lifecycle, clock: { now: () => now } });
    const status = await service.runOnce();
    assert.equal(status.mode, 'prune');
    assert.deepEqual(
      (await lifecycle.read()).rules.map((r) => r.ID),
      ['logs 14d'],
    );
    assert.ok(records().some((l) => new RegExp(`removed lifecycle rule "${ourRuleId(prefix)}"`).test(String(l.msg))));
    assert.deepEqual(status.tierRuleConflicts, []);
    assert.deepEqual(service.findings(), []);
    // 07-10 is the one backup no tier keeps (daily: 07-12 and 07-11; monthly: 07-12, 06-02, 05-03, 04-03).
    const remaining = await listKeys(store, prefix);
    const gone = seeded.filter((s) => !remaining.includes(s.key)).map((s) => s.ageDays);
    assert.deepEqual(gone, [2]);
  });

  it('with MANAGE_LIFECYCLE=true and only its own rule, removes the whole configuration (S3 refuses an empty one)', async () => {
    const { config, store, lifecycle } = await setup({ MANAGE_LIFECYCLE: 'true' }, configurationXml(ourRule('PREFIX')));
    await seedBackups(store, (key, time) => s3.backdate(key, time), config.location, [0], new Date());
    await createRetentionService(config, { store, logger: silentLogger(), lifecycle }).runOnce();
    assert.equal(proxy.configuration(), undefined);
    assert.ok(proxy.lifecycleRequests.some((r) => r.method === 'DELETE'));
    assert.ok(!proxy.lifecycleRequests.some((r) => r.method === 'PUT'));
  });

  it('without MANAGE_LIFECYCLE leaves the rule and reports it: it deletes backups the tiers keep', async () => {
    const { config, prefix, store, lifecycle } = await setup({}, configurationXml(OTHER_RULE, ourRule('PREFIX')));
    await seedBackups(store, (key, time) => s3.backdate(key, time), config.location, [0], new Date());
    const service = createRetentionService(config, { store, logger: silentLogger(), lifecycle });
    await service.runOnce();
    assert.equal((await lifecycle.read()).rules.length, 2);
    assert.ok(!proxy.lifecycleRequests.some((r) => r.method !== 'GET'), 'nothing written');
    const [finding] = service.findings();
    assert.equal(finding?.check, 'retention');
    assert.match(finding?.summary ?? '', new RegExp(`rule "${ourRuleId(prefix)}" expires "${prefix}" after 30 days: a lifecycle rule only knows age and deletes backups the KEEP_\\* tiers keep`));
    assert.match(finding?.hint ?? '', /set MANAGE_LIFECYCLE=true to let backup-sentinel remove its own rule/);
  });
});
