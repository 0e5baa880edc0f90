import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupKey, manifestKey } from '../../src/core/naming.ts';
import type { Location } from '../../src/config/types.ts';
import type { Finding } from '../../src/core/findings.ts';
import { selectForPrune, type PrunePolicy } from '../../src/retention/select-for-prune.ts';
import type { StoredObject } from '../../src/storage/store.ts';

const NOW = new Date('2026-06-30T12:00:00Z');
const DAY = 24 * 3600 * 1000;
const LOCATION: Location = { subfolder: 'db', prefix: 'app-' };
const PREFIX = 'db/app-';
const POLICY: PrunePolicy = { days: 30, minKept: 7, maxAgeHours: 25, emptyMaxBytes: 1024 };
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;

// One daily backup (and its manifest) per age in days, written right at its name's time.
function daily(ages: readonly number[], size = 50_000): StoredObject[] {
  return ages.flatMap((age) => {
    const time = new Date(NOW.getTime() - age * DAY);
    const key = backupKey(LOCATION, time, PARTS);
    return [
      { key, size, lastModified: new Date(time.getTime() + 60_000) },
      { key: manifestKey(key), size: 400, lastModified: new Date(time.getTime() + 61_000) },
    ];
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('selectForPrune', () => {
  it('selects backups older than RETENTION_DAYS and their manifests, backups first', () => {
    const plan = selectForPrune({ objects: daily(range(0, 40)), prefix: PREFIX, policy: POLICY, now: NOW });
    assert.equal(plan.refusal, undefined);
    const backups = plan.toDelete.filter((i) => i.kind === 'backup');
    const manifests = plan.toDelete.filter((i) => i.kind === 'manifest');
    assert.equal(backups.length, 10); // ages 31..40 (age 30 + 1 min upload is not yet older than 30 days)
    assert.equal(manifests.length, 10);
    assert.deepEqual(new Set(manifests.map((m) => m.key)), new Set(backups.map((b) => manifestKey(b.key))));
    assert.ok(plan.toDelete.findIndex((i) => i.kind === 'manifest') > plan.toDelete.findLastIndex((i) => i.kind === 'backup'));
    assert.match(backups[0]?.reason ?? '', /older than 30 days \(RETENTION_DAYS\)/);
  });

  it('deletes every piece of an expired backup stored as several objects, after its first object and before its manifest', () => {
    const objects = daily(range(0, 40));
    const old = backupKey(LOCATION, new Date(NOW.getTime() - 40 * DAY), PARTS);
    const young = backupKey(LOCATION, new Date(NOW.getTime() - 1 * DAY), PARTS);
    const piece = (key: string, n: number, ageDays: number) => ({ key: `${key}.00${n}`, size: 1000 * n, lastModified: new Date(NOW.getTime() - ageDays * DAY + 60_000) });
    objects.push(piece(old, 2, 40), piece(old, 3, 40), piece(young, 2, 1));
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: POLICY, now: NOW });
    const pieces = plan.toDelete.filter((i) => i.kind === 'piece');
    assert.deepEqual(pieces.map((p) => p.key), [`${old}.002`, `${old}.003`]);
    assert.match(pieces[0]?.reason ?? '', /^piece of /);
    const first = plan.toDelete.find((i) => i.key === old);
    assert.equal(first?.size, 50_000, 'each item is one object: the first object alone');
    assert.ok(plan.toDelete.findIndex((i) => i.kind === 'piece') > plan.toDelete.findLastIndex((i) => i.kind === 'backup'));
    assert.ok(plan.toDelete.findIndex((i) => i.kind === 'manifest') > plan.toDelete.findLastIndex((i) => i.kind === 'piece'));
  });

  it('deletes old pieces whose first object is gone, never young ones (an upload still running)', () => {
    const objects = daily(range(0, 10));
    const gone = backupKey(LOCATION, new Date(NOW.getTime() - 45 * DAY), PARTS);
    const running = backupKey(LOCATION, new Date(NOW.getTime() - 3_600_000), PARTS);
    objects.push({ key: `${gone}.002`, size: 10, lastModified: new Date(NOW.getTime() - 45 * DAY) });
    objects.push({ key: `${running}.002`, size: 10, lastModified: new Date(NOW.getTime() - 60_000) });
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: POLICY, now: NOW });
    assert.deepEqual(
      plan.toDelete.map((i) => [i.key, i.kind, i.reason]),
      [[`${gone}.002`, 'piece', 'piece of a backup that is already gone']],
    );
  });

  it('never deletes the newest MIN_BACKUPS_KEPT backups, however old they are', () => {
    // Weekly backups: only 5 exist, all but one older than 30 days.
    const plan = selectForPrune({ objects: daily([0, 40, 50, 60, 70]), prefix: PREFIX, policy: { ...POLICY, minKept: 3 }, now: NOW });
    const deleted = plan.toDelete.filter((i) => i.kind === 'backup').map((i) => i.ageDays);
    assert.deepEqual(deleted.sort((a, b) => a - b), [60, 70]);
    assert.equal(plan.kept.length, 2);
    assert.match(plan.kept[0]?.reason ?? '', /newest 3 backups \(MIN_BACKUPS_KEPT\)/);
  });

  it('refuses while the newest backup is stale, and says what it would delete', () => {
    const objects = daily(range(2, 40));
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: POLICY, now: NOW });
    assert.match(plan.refusal ?? '', /newest backup .* is 48\.0 h old \(limit 25 h/);
    assert.deepEqual(plan.toDelete, []);
    assert.equal(plan.held.filter((i) => i.kind === 'backup').length, 10);
  });

  it('refuses while the newest backup is empty', () => {
    const objects = [...daily(range(1, 40)), ...daily([0], 20)];
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: POLICY, now: NOW });
    assert.match(plan.refusal ?? '', /20 bytes .* looks empty/);
    assert.deepEqual(plan.toDelete, []);
  });

  it('refuses while the monitor reports the last backup run failed', () => {
    const failed: Finding = { check: 'backup_failed', severity: 'fail', summary: 'pg_dump exited 1', values: {} };
    const plan = selectForPrune({ objects: daily(range(0, 40)), prefix: PREFIX, policy: POLICY, now: NOW, findings: [failed] });
    assert.match(plan.refusal ?? '', /backup_failed \(pg_dump exited 1\)/);
    assert.deepEqual(plan.toDelete, []);
    // A retention finding of its own does not block pruning.
    const retention: Finding = { check: 'retention', severity: 'warn', summary: 'old backups', values: {} };
    assert.equal(selectForPrune({ objects: daily(range(0, 40)), prefix: PREFIX, policy: POLICY, now: NOW, findings: [retention] }).refusal, undefined);
  });

  it('refuses when there are no backups at all', () => {
    assert.match(selectForPrune({ objects: [], prefix: PREFIX, policy: POLICY, now: NOW }).refusal ?? '', /no backups/);
  });

  it('never selects objects outside our naming, however old', () => {
    const old = new Date(NOW.getTime() - 400 * DAY);
    const foreign: StoredObject[] = [
      { key: 'db/app--2025-01-01T03-00-00-000Z.tar.gz', size: 9000, lastModified: old }, // Railway template
      { key: 'db/app-notes.txt', size: 10, lastModified: old },
      { key: 'db/app-2025-01-01_03-00-00.sql.gz.bak', size: 9000, lastModified: old },
      { key: 'db/app-x/2025-01-01_03-00-00.sql.gz', size: 9000, lastModified: old },
      { key: 'db/.backup-sentinel/alert-state.json', size: 10, lastModified: old },
      { key: 'other/app-2025-01-01_03-00-00.sql.gz', size: 9000, lastModified: old },
    ];
    const plan = selectForPrune({ objects: [...daily(range(0, 40)), ...foreign], prefix: PREFIX, policy: POLICY, now: NOW });
    const keys = plan.toDelete.map((i) => i.key);
    for (const f of foreign) assert.ok(!keys.includes(f.key), `${f.key} must not be deleted`);
    assert.ok(plan.kept.some((k) => k.key === 'db/app--2025-01-01T03-00-00-000Z.tar.gz' && /not in backup-sentinel naming/.test(k.reason)));
  });

  it('judges age by the later of name time and LastModified (a backup copied back in stays)', () => {
    const time = new Date(NOW.getTime() - 60 * DAY);
    const key = backupKey(LOCATION, time, PARTS);
    const copiedBack: StoredObject = { key, size: 5000, lastModified: new Date(NOW.getTime() - 2 * DAY) };
    const plan = selectForPrune({ objects: [...daily(range(0, 10)), copiedBack], prefix: PREFIX, policy: POLICY, now: NOW });
    assert.deepEqual(plan.toDelete, []);
  });

  it('removes a manifest whose backup is already gone once it is past retention, and only then', () => {
    const old = daily([45]);
    const recent = daily([3]);
    const orphans = [old[1], recent[1]].filter((o): o is StoredObject => o !== undefined);
    const plan = selectForPrune({ objects: [...daily(range(0, 10)), ...orphans], prefix: PREFIX, policy: POLICY, now: NOW });
    assert.deepEqual(
      plan.toDelete.map((i) => [i.key, i.reason]),
      [[old[1]?.key, 'manifest of a backup that is already gone']],
    );
  });

  it('selects nothing when retention is off', () => {
    const plan = selectForPrune({ objects: daily(range(0, 40)), prefix: PREFIX, policy: { ...POLICY, days: 0 }, now: NOW });
    assert.deepEqual(plan.toDelete, []);
    assert.match(plan.refusal ?? '', /retention is off/);
  });
});
