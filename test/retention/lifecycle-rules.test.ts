import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ABORT_MULTIPART_DAYS,
  evaluateRules,
  mergeRules,
  ourRuleId,
  type RuleView,
} from '../../src/retention/lifecycle-rules.ts';

const PREFIX = 'db1/backup-';
const ID = ourRuleId(PREFIX);

const logsRule: RuleView = { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 7 } };
const r2Default: RuleView = { ID: 'Default Multipart Abort Rule', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } };

describe('lifecycle rule merge', () => {
  it('adds our rule to a bucket without rules: prefix filter, expiry after RETENTION_DAYS, multipart abort', () => {
    const plan = mergeRules([], PREFIX, 30);
    assert.equal(plan.action, 'put');
    assert.ok(plan.action === 'put');
    assert.deepEqual(plan.rules, [
      { ID: ID, Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS } },
    ]);
  });

  it("keeps every other prefix's rule unchanged and in its place", () => {
    const existing = [logsRule, r2Default];
    const plan = mergeRules(existing, PREFIX, 30);
    assert.ok(plan.action === 'put');
    assert.equal(plan.rules.length, 3);
    assert.equal(plan.rules[0], logsRule);
    assert.equal(plan.rules[1], r2Default);
    assert.equal(plan.rules[2]?.ID, ID);
  });

  it('updates our rule in place when its days were edited, keeping fields someone added to it', () => {
    const edited = { ID, Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 }, Transitions: [{ Days: 5, StorageClass: 'STANDARD_IA' }] };
    const plan = mergeRules([logsRule, edited, r2Default], PREFIX, 30);
    assert.ok(plan.action === 'put');
    assert.match(plan.reason, /days 7 -> 30/);
    assert.equal(plan.rules[0], logsRule);
    assert.equal(plan.rules[2], r2Default);
    assert.deepEqual(plan.rules[1], { ...edited, Expiration: { Days: 30 } });
  });

  it('re-enables our rule when someone disabled it', () => {
    const disabled = { ID, Status: 'Disabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } };
    const plan = mergeRules([disabled], PREFIX, 30);
    assert.ok(plan.action === 'put');
    assert.equal(plan.rules[0]?.Status, 'Enabled');
  });

  it('puts nothing when our rule is already right', () => {
    const first = mergeRules([logsRule], PREFIX, 30);
    assert.ok(first.action === 'put');
    const again = mergeRules(first.rules, PREFIX, 30);
    assert.equal(again.action, 'none');
  });

  it('accepts a hand-made rule that already expires exactly our prefix after RETENTION_DAYS', () => {
    const handMade = { ID: 'set in the dashboard', Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 } };
    assert.equal(mergeRules([handMade], PREFIX, 30).action, 'none');
    // ... but not one with other days: ours is added beside it (theirs is not changed).
    const other = { ...handMade, Expiration: { Days: 90 } };
    const plan = mergeRules([other], PREFIX, 30);
    assert.ok(plan.action === 'put');
    assert.equal(plan.rules[0], other);
  });

  it('refuses to put a rule for an empty prefix, which would expire the whole bucket', () => {
    const plan = mergeRules([], '', 30);
    assert.equal(plan.action, 'refuse');
    assert.ok(plan.action === 'refuse');
    assert.match(plan.reason, /BACKUP_FILE_PREFIX/);
  });
});

describe('lifecycle rule evaluation (drift)', () => {
  it('is ok when our rule expires the prefix after RETENTION_DAYS', () => {
    const plan = mergeRules([r2Default], PREFIX, 30);
    assert.ok(plan.action === 'put');
    const e = evaluateRules(plan.rules, PREFIX, 30);
    assert.equal(e.state, 'ok');
    assert.equal(e.effectiveDays, 30);
    assert.equal(e.ours, true);
  });

  it('reports a missing rule when only other prefixes have rules', () => {
    const e = evaluateRules([logsRule, r2Default, { ID: 'x', Status: 'Enabled', Filter: { Prefix: 'db1/backup-old/' }, Expiration: { Days: 30 } }], PREFIX, 30);
    assert.equal(e.state, 'missing');
  });

  it('reports a disabled rule', () => {
    const e = evaluateRules([{ ID, Status: 'Disabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 } }], PREFIX, 30);
    assert.equal(e.state, 'disabled');
    assert.equal(e.ruleId, ID);
  });

  it('reports days that differ from RETENTION_DAYS (edited in the dashboard)', () => {
    const e = evaluateRules([{ ID, Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 7 } }], PREFIX, 30);
    assert.equal(e.state, 'days_differ');
    assert.equal(e.effectiveDays, 7);
    assert.match(e.detail, /after 7 days, RETENTION_DAYS is 30/);
  });

  it('sees a shorter whole-bucket rule of someone else as the rule that decides', () => {
    const wholeBucket = { ID: 'everything 7d', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 7 } };
    const ours = { ID, Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 } };
    const e = evaluateRules([ours, wholeBucket], PREFIX, 30);
    assert.equal(e.state, 'days_differ');
    assert.equal(e.ruleId, 'everything 7d');
    assert.equal(e.ours, false);
  });

  it('reads the legacy top-level Prefix and ignores rules narrowed by tags', () => {
    assert.equal(evaluateRules([{ ID: 'legacy', Status: 'Enabled', Prefix: 'db1/', Expiration: { Days: 30 } }], PREFIX, 30).state, 'ok');
    const tagged = { ID: 't', Status: 'Enabled', Filter: { And: { Prefix: PREFIX, Tags: [{ Key: 'k', Value: 'v' }] } }, Expiration: { Days: 30 } };
    assert.equal(evaluateRules([tagged], PREFIX, 30).state, 'missing');
  });

  it('treats a rule without Status (R2 accepts those) as enabled', () => {
    assert.equal(evaluateRules([{ ID: 'r2', Filter: { Prefix: 'db1/' }, Expiration: { Days: 30 } }], PREFIX, 30).state, 'ok');
  });

  it('flags a fixed-date expiry covering our prefix', () => {
    const e = evaluateRules([{ ID: 'd', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Date: new Date('2027-01-01T00:00:00Z') } }], PREFIX, 30);
    assert.equal(e.state, 'days_differ');
    assert.match(e.detail, /fixed date/);
  });
});
