import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupKey } from '../../src/core/naming.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { RetentionSettings } from '../../src/config/types.ts';
import { ConfigError } from '../../src/errors.ts';
import { evaluateRules } from '../../src/retention/lifecycle-rules.ts';
import { checkRetention } from '../../src/retention/retention-check.ts';
import { initialStatus, resolveMode, type RetentionStatus } from '../../src/retention/retention-status.ts';
import type { StoredObject } from '../../src/storage/store.ts';

const NOW = new Date('2026-06-30T12:00:00Z');
const DAY = 24 * 3600 * 1000;
const PREFIX = 'backup-';
const SETTINGS: RetentionSettings = { days: 30, mode: undefined, manageLifecycle: false, minKept: 7, marginDays: 2 };

function backupsAged(ages: readonly number[]): StoredObject[] {
  return ages.map((age) => {
    const time = new Date(NOW.getTime() - age * DAY);
    return { key: backupKey({ subfolder: '', prefix: PREFIX }, time, { format: 'plain', compression: 'gzip', encrypted: false }), size: 5000, lastModified: time };
  });
}

function lifecycleStatus(rules: Parameters<typeof evaluateRules>[0]): RetentionStatus {
  return { ...initialStatus('lifecycle', 'test'), lifecycle: evaluateRules(rules, PREFIX, 30) };
}

describe('checkRetention', () => {
  it('has no finding while the rule is right and nothing is overdue', () => {
    const status = lifecycleStatus([{ ID: 'x', Status: 'Enabled', Filter: { Prefix: PREFIX }, Expiration: { Days: 30 } }]);
    assert.deepEqual(checkRetention({ status, settings: SETTINGS, objects: backupsAged([0, 1, 31]), prefix: PREFIX, now: NOW }), []);
  });

  it('reports a missing rule with a hint naming MANAGE_LIFECYCLE and the rule to add', () => {
    const [finding, ...rest] = checkRetention({ status: lifecycleStatus([]), settings: SETTINGS, objects: backupsAged([0]), prefix: PREFIX, now: NOW });
    assert.equal(rest.length, 0);
    assert.equal(finding?.check, 'retention');
    assert.equal(finding?.severity, 'warn');
    assert.match(finding?.summary ?? '', /lifecycle rule missing/);
    assert.match(finding?.hint ?? '', /MANAGE_LIFECYCLE=true/);
    assert.match(finding?.hint ?? '', /prefix "backup-", delete objects after 30 days/);
    assert.equal(finding?.values.ruleState, 'missing');
  });

  it('reports a rule whose days were edited in the dashboard, with both numbers', () => {
    const status = lifecycleStatus([{ ID: 'hand', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 14 } }]);
    const [finding] = checkRetention({ status, settings: SETTINGS, objects: [], prefix: PREFIX, now: NOW });
    assert.match(finding?.summary ?? '', /days differ: rule "hand" expires "backup-" after 14 days, RETENTION_DAYS is 30/);
    assert.equal(finding?.values.ruleDays, 14);
    assert.match(finding?.hint ?? '', /edit or remove the rule "hand"/);
  });

  it('reports backups older than RETENTION_DAYS + margin as the rule not working, in one finding with the rule problem', () => {
    const findings = checkRetention({ status: lifecycleStatus([]), settings: SETTINGS, objects: backupsAged([0, 31, 33, 40]), prefix: PREFIX, now: NOW });
    assert.equal(findings.length, 1);
    assert.match(findings[0]?.summary ?? '', /2 backups older than 32 days still in storage \(oldest 40 days\): the lifecycle rule is not deleting them/);
    assert.equal(findings[0]?.values.overdueBackups, 2);
  });

  it('in prune mode, does not count the newest MIN_BACKUPS_KEPT or other tools\' objects as overdue', () => {
    const status = initialStatus('prune', 'test');
    const foreign: StoredObject = { key: 'backup--2025-01-01T00-00-00-000Z.tar.gz', size: 10, lastModified: new Date(NOW.getTime() - 300 * DAY) };
    const onlyKept = checkRetention({ status, settings: { ...SETTINGS, minKept: 3 }, objects: [...backupsAged([40, 50, 60]), foreign], prefix: PREFIX, now: NOW });
    assert.deepEqual(onlyKept, []);
    const refused = { ...status, lastPrune: { at: NOW, dryRun: false, deletedBackups: 0, deletedManifests: 0, bytesFreed: 0, refusal: 'the newest backup is stale' } };
    const [finding] = checkRetention({ status: refused, settings: { ...SETTINGS, minKept: 3 }, objects: backupsAged([40, 50, 60, 70]), prefix: PREFIX, now: NOW });
    assert.match(finding?.summary ?? '', /1 backup older than 32 days .* pruning is not deleting them/);
    assert.match(finding?.hint ?? '', /last prune was refused: the newest backup is stale/);
  });

  it('reports a lifecycle read failure with its hint', () => {
    const status: RetentionStatus = { ...initialStatus('lifecycle', 'test'), lifecycleProblem: { code: 'AccessDenied', message: 'denied', hint: 'grant s3:GetLifecycleConfiguration' } };
    const [finding] = checkRetention({ status, settings: SETTINGS, objects: undefined, prefix: PREFIX, now: NOW });
    assert.match(finding?.summary ?? '', /could not be read or written \(AccessDenied\)/);
    assert.equal(finding?.hint, 'grant s3:GetLifecycleConfiguration');
  });

  it('has nothing to say when retention is off', () => {
    const status = initialStatus('off', 'RETENTION_DAYS=0');
    assert.deepEqual(checkRetention({ status, settings: { ...SETTINGS, days: 0 }, objects: backupsAged([400]), prefix: PREFIX, now: NOW }), []);
  });
});

describe('resolveMode', () => {
  it('picks lifecycle for S3 by default, prune for directories and when asked, off for 0 days', () => {
    assert.equal(resolveMode({ days: 30, mode: undefined }, 's3').mode, 'lifecycle');
    assert.equal(resolveMode({ days: 30, mode: undefined }, 'dir').mode, 'prune');
    assert.equal(resolveMode({ days: 30, mode: 'prune' }, 's3').mode, 'prune');
    assert.equal(resolveMode({ days: 0, mode: 'lifecycle' }, 's3').mode, 'off');
  });

  it('RETENTION_MODE=lifecycle with directory storage is a configuration error naming the variable', () => {
    assert.throws(
      () => loadConfig({ BACKUP_DIR: '/tmp/x', RETENTION_MODE: 'lifecycle' }),
      (error: unknown) => error instanceof ConfigError && error.problems.some((p) => p.variable === 'RETENTION_MODE' && /directory/.test(p.expected)),
    );
  });
});
