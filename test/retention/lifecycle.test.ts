import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { keyPrefix } from '../../src/core/naming.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/types.ts';
import { silentLogger } from '../../src/logger.ts';
import { createLifecycleStore } from '../../src/retention/lifecycle.ts';
import { ourRuleId } from '../../src/retention/lifecycle-rules.ts';
import { createRetentionService } from '../../src/retention/retention-service.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { startLifecycleProxy, type LifecycleProxy } from '../helpers/lifecycle-proxy.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { listKeys, seedBackups } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { sample } from '../helpers/metrics.ts';

// The lifecycle path. s3rver answers NotImplemented to lifecycle calls and no S3 server with lifecycle
// support runs here, so these tests go through a NARROWLY SCOPED HTTP TEST DOUBLE
// (test/helpers/lifecycle-proxy.ts) that answers only GET/PUT ?lifecycle itself, like S3 (including
// refusing a PUT without an integrity header), and forwards every other request to the real s3rver.

const EXISTING_RULES = `<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule><ID>Default Multipart Abort Rule</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
  <Rule><ID>logs 14d</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>14</Days></Expiration></Rule>
  <Rule><ID>tmp tagged</ID><Status>Disabled</Status><Filter><And><Prefix>tmp/</Prefix><Tag><Key>kind</Key><Value>scratch</Value></Tag></And></Filter><Expiration><Days>1</Days></Expiration></Rule>
</LifecycleConfiguration>`;

function ourRuleXml(prefix: string, days: number, status = 'Enabled'): string {
  return `<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration><Rule><ID>${ourRuleId(prefix)}</ID><Status>${status}</Status><Filter><Prefix>${prefix}</Prefix></Filter><Expiration><Days>${days}</Days></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>3</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>`;
}

describe('lifecycle rules (through the lifecycle test double in front of s3rver)', () => {
  let s3: TestS3Server;
  let proxy: LifecycleProxy;
  before(async () => {
    s3 = await startS3Server();
    proxy = await startLifecycleProxy(s3);
  });
  after(async () => {
    await proxy?.close();
    await s3?.close();
  });

  function setup(env: Record<string, string>, rulesXml: string | undefined) {
    proxy.setConfiguration(rulesXml);
    proxy.failWith(undefined);
    proxy.lifecycleRequests.length = 0;
    const config: Config = loadConfig({ ...proxy.env, BUCKET_SUBFOLDER: 'db1', BACKUP_FILE_PREFIX: 'app-', RETENTION_DAYS: '30', ...env });
    if (config.storage.kind !== 's3') throw new Error('expected S3 settings');
    const lifecycle = createLifecycleStore(config.storage);
    return { config, lifecycle, store: createStore(config), prefix: keyPrefix(config.location) };
  }

  it('with MANAGE_LIFECYCLE=true creates the rule for our prefix, with an integrity header the PUT needs', async () => {
    const { config, lifecycle, store, prefix } = setup({ MANAGE_LIFECYCLE: 'true' }, undefined);
    const registry = new Registry();
    const service = createRetentionService(config, { store, logger: silentLogger(), registry, lifecycle });
    assert.deepEqual(service.checks(), [], 'before its first run retention reports no check to /health');
    const status = await service.runOnce();
    assert.equal(status.lastRunOk, true);
    assert.deepEqual(service.checks(), ['retention'], 'after it, /health lists retention');
    assert.equal(status.lifecycle?.state, 'ok');
    const read = await lifecycle.read();
    assert.deepEqual(read.rules, [
      { ID: ourRuleId(prefix), Status: 'Enabled', Filter: { Prefix: 'db1/app-' }, Expiration: { Days: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
    ]);
    const put = proxy.lifecycleRequests.find((r) => r.method === 'PUT');
    assert.ok(put, 'a PUT ?lifecycle was made');
    assert.equal(typeof put.headers['content-md5'], 'string');
    assert.equal(typeof put.headers['x-amz-checksum-crc32'], 'string');
    assert.deepEqual(service.findings(), []);
    const metrics = await registry.metrics();
    assert.equal(sample(metrics, 'backup_sentinel_retention_lifecycle_rule_state', { state: 'ok' }), 1);
    assert.equal(sample(metrics, 'backup_sentinel_retention_lifecycle_rule_state', { state: 'missing' }), 0);
    assert.equal(sample(metrics, 'backup_sentinel_retention_lifecycle_rule_days'), 30);
    // A second run finds the rule right and puts nothing.
    const puts = proxy.lifecycleRequests.filter((r) => r.method === 'PUT').length;
    await service.runOnce();
    assert.equal(proxy.lifecycleRequests.filter((r) => r.method === 'PUT').length, puts);
  });

  it("keeps the bucket's other rules exactly as they were", async () => {
    const { config, lifecycle, store, prefix } = setup({ MANAGE_LIFECYCLE: 'true' }, EXISTING_RULES);
    const original = (await lifecycle.read()).rules;
    assert.equal(original.length, 3);
    await createRetentionService(config, { store, logger: silentLogger(), lifecycle }).runOnce();
    const rules = (await lifecycle.read()).rules;
    assert.equal(rules.length, 4);
    assert.deepEqual(rules.slice(0, 3), original);
    assert.equal(rules[3]?.ID, ourRuleId(prefix));
    assert.equal(rules[3]?.Expiration?.Days, 30);
  });

  it('puts our rule right when someone changed its days in the dashboard', async () => {
    const { config, lifecycle, store, prefix } = setup({ MANAGE_LIFECYCLE: 'true' }, ourRuleXml('db1/app-', 7));
    const { logger, records } = captureLogs();
    const status = await createRetentionService(config, { store, logger, lifecycle }).runOnce();
    assert.equal(status.lifecycle?.state, 'ok');
    assert.equal((await lifecycle.read()).rules.find((r) => r.ID === ourRuleId(prefix))?.Expiration?.Days, 30);
    assert.ok(records().some((l) => /updating rule .*days 7 -> 30/.test(String(l.msg))));
  });

  it('without MANAGE_LIFECYCLE detects drift (missing, disabled, other days) and only reports it', async () => {
    const cases: [string | undefined, RegExp][] = [
      [EXISTING_RULES, /lifecycle rule missing: no lifecycle rule expires "db1\/app-"/],
      [ourRuleXml('db1/app-', 30, 'Disabled'), /lifecycle rule disabled/],
      [ourRuleXml('db1/app-', 7), /lifecycle rule days differ: .* after 7 days, RETENTION_DAYS is 30/],
    ];
    for (const [xml, expected] of cases) {
      const { config, lifecycle, store } = setup({}, xml);
      const registry = new Registry();
      const service = createRetentionService(config, { store, logger: silentLogger(), lifecycle, registry });
      await service.runOnce();
      const [finding] = service.findings();
      assert.equal(finding?.check, 'retention');
      assert.match(finding?.summary ?? '', expected);
      assert.match(finding?.hint ?? '', /MANAGE_LIFECYCLE=true/);
      assert.equal(proxy.lifecycleRequests.filter((r) => r.method === 'PUT').length, 0, 'check-only mode never writes');
      assert.equal(proxy.configuration(), xml);
      const state = service.status().lifecycle?.state ?? '';
      assert.equal(sample(await registry.metrics(), 'backup_sentinel_retention_lifecycle_rule_state', { state }), 1);
    }
  });

  it('reports backups older than RETENTION_DAYS + margin although the rule is right (the rule is not working)', async () => {
    const { config, lifecycle, store, prefix } = setup({ RETENTION_MARGIN_DAYS: '2', BUCKET_SUBFOLDER: 'db2' }, undefined);
    proxy.setConfiguration(ourRuleXml('db2/app-', 30));
    await seedBackups(store, (key, time) => s3.backdate(key, time), config.location, [0, 31, 33], new Date());
    const service = createRetentionService(config, { store, logger: silentLogger(), lifecycle });
    const status = await service.runOnce();
    assert.equal(status.lifecycle?.state, 'ok');
    const [finding] = service.findings();
    assert.match(finding?.summary ?? '', /1 backup older than 32 days still in storage \(oldest 33 days\): the lifecycle rule is not deleting them/);
    // Lifecycle mode deletes nothing itself.
    assert.equal((await listKeys(store, prefix)).length, 6);
  });

  it('a lifecycle call answered AccessDenied becomes a finding with what permission is missing, and nothing is deleted', async () => {
    const { config, lifecycle, store, prefix } = setup({ MANAGE_LIFECYCLE: 'true', BUCKET_SUBFOLDER: 'db3' }, undefined);
    await seedBackups(store, (key, time) => s3.backdate(key, time), config.location, [0, 40], new Date());
    proxy.failWith({ status: 403, code: 'AccessDenied' });
    const service = createRetentionService(config, { store, logger: silentLogger(), lifecycle });
    const status = await service.runOnce();
    assert.equal(status.mode, 'lifecycle');
    assert.equal(status.lastRunOk, false);
    const [finding] = service.findings();
    assert.match(finding?.summary ?? '', /could not be read or written \(AccessDenied\)/);
    assert.match(finding?.hint ?? '', /GetLifecycleConfiguration/);
    assert.equal((await listKeys(store, prefix)).length, 4);
  });
});
