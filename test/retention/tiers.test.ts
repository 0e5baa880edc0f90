import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupKey, manifestKey } from '../../src/core/naming.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Location, RetentionSettings, RetentionTiers } from '../../src/config/types.ts';
import { ConfigError } from '../../src/errors.ts';
import { checkRetention } from '../../src/retention/retention-check.ts';
import { initialStatus, resolveMode } from '../../src/retention/retention-status.ts';
import { selectForPrune, type PrunePolicy } from '../../src/retention/select-for-prune.ts';
import type { StoredObject } from '../../src/storage/store.ts';

// The pure tier selection, with time as an argument. Expected keys are written out by hand from a
// calendar (not computed by the code under test).
const LOCATION: Location = { subfolder: 'db', prefix: 'app-' };
const PREFIX = 'db/app-';
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;
const DAY = 24 * 3600 * 1000;
const NO_TIERS = { daily: 0, weekly: 0, monthly: 0, yearly: 0, timeZone: 'UTC', keepWithinDays: undefined };

function policy(tiers: Partial<RetentionTiers>, minKept = 1): PrunePolicy {
  return { days: 30, tiers: { ...NO_TIERS, ...tiers }, minKept, maxAgeHours: 25, emptyMaxBytes: 1024 };
}

// One backup (and its manifest) per time, uploaded a minute after its name's time.
function backupsAt(times: readonly Date[]): StoredObject[] {
  return times.flatMap((time) => {
    const key = backupKey(LOCATION, time, PARTS);
    return [
      { key, size: 50_000, lastModified: new Date(time.getTime() + 60_000) },
      { key: manifestKey(key), size: 400, lastModified: new Date(time.getTime() + 61_000) },
    ];
  });
}

// Daily backups at 03:00 UTC on each of the `days` days up to and including `last` (YYYY-MM-DD).
function dailyUntil(last: string, days: number): Date[] {
  const end = new Date(`${last}T03:00:00Z`).getTime();
  return Array.from({ length: days }, (_, i) => new Date(end - i * DAY));
}

const keyAt = (iso: string) => backupKey(LOCATION, new Date(iso), PARTS);
const remaining = (objects: readonly StoredObject[], deleted: readonly { key: string }[]) => {
  const gone = new Set(deleted.map((d) => d.key));
  return objects.map((o) => o.key).filter((k) => !gone.has(k) && !k.endsWith('.manifest.json'));
};

describe('retention tiers (pure selection)', () => {
  it('KEEP_DAILY=7 KEEP_WEEKLY=4 KEEP_MONTHLY=12 over 400 daily backups keeps exactly the newest of each day, ISO week and month', () => {
    // Sunday 2026-07-12; the month boundary June/July falls on a Tuesday, inside ISO week 2026-W27
    // (Mon 06-29 .. Sun 07-05), so June's newest backup (Tue 06-30) is kept by the monthly tier only.
    const now = new Date('2026-07-12T12:00:00Z');
    const objects = backupsAt(dailyUntil('2026-07-12', 400));
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 7, weekly: 4, monthly: 12 }), now });
    assert.equal(plan.refusal, undefined);
    const expectedDays = [
      // daily: the last 7 days
      '2026-07-12', '2026-07-11', '2026-07-10', '2026-07-09', '2026-07-08', '2026-07-07', '2026-07-06',
      // weekly: Sundays ending W28 (already daily), W27, W26, W25
      '2026-07-05', '2026-06-28', '2026-06-21',
      // monthly: the last day of each month back to August 2025 (July 2026 is 07-12, already kept)
      '2026-06-30', '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31',
      '2025-12-31', '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31',
    ];
    assert.deepEqual(remaining(objects, plan.toDelete).sort(), expectedDays.map((d) => keyAt(`${d}T03:00:00Z`)).sort());
    // Every deleted backup's manifest goes too; no kept backup loses its manifest.
    const deletedBackups = plan.toDelete.filter((i) => i.kind === 'backup');
    assert.equal(deletedBackups.length, 400 - expectedDays.length);
    assert.deepEqual(
      plan.toDelete.filter((i) => i.kind === 'manifest').map((i) => i.key).sort(),
      deletedBackups.map((i) => manifestKey(i.key)).sort(),
    );
    assert.match(deletedBackups[0]?.reason ?? '', /kept by no tier \(KEEP_DAILY=7, KEEP_WEEKLY=4, KEEP_MONTHLY=12\)/);
    // Each kept backup says which tier keeps it, and for which period.
    const reasonOf = (day: string) => plan.kept.find((k) => k.key === keyAt(`${day}T03:00:00Z`))?.reason;
    assert.equal(reasonOf('2026-07-12'), 'daily 2026-07-12, weekly 2026-W28, monthly 2026-07, one of the newest 1 backups (MIN_BACKUPS_KEPT)');
    assert.equal(reasonOf('2026-07-05'), 'weekly 2026-W27');
    assert.equal(reasonOf('2026-06-30'), 'monthly 2026-06');
    assert.equal(reasonOf('2025-08-31'), 'monthly 2025-08');
  });

  it('counts days in CRON_TZ: where the UTC day differs from the local day, the newest of the local day is kept', () => {
    // Two backups a day, 01:00 and 13:00 UTC. In New York (UTC-4 in July) 01:00 UTC is 21:00 the day
    // before, so the newest backup of a New York day is the next UTC day's 01:00 backup.
    const times = dailyUntil('2026-07-12', 10).flatMap((t) => [new Date(t.getTime() - 2 * 3600_000), new Date(t.getTime() + 10 * 3600_000)]);
    const objects = backupsAt(times);
    const now = new Date('2026-07-12T14:00:00Z');
    const utc = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 3 }), now });
    assert.deepEqual(remaining(objects, utc.toDelete).sort(), ['2026-07-10T13:00:00Z', '2026-07-11T13:00:00Z', '2026-07-12T13:00:00Z'].map(keyAt));
    const ny = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 3, timeZone: 'America/New_York' }), now });
    // Local 07-12 (its 09:00 backup), 07-11 (21:00 = 07-12 01:00 UTC), 07-10 (21:00 = 07-11 01:00 UTC).
    assert.deepEqual(remaining(objects, ny.toDelete).sort(), ['2026-07-11T01:00:00Z', '2026-07-12T01:00:00Z', '2026-07-12T13:00:00Z'].map(keyAt));
    assert.equal(ny.kept.find((k) => k.key === keyAt('2026-07-12T01:00:00Z'))?.reason, 'daily 2026-07-11');
  });

  it('counts months in CRON_TZ: a backup at 23:30 UTC on May 31 is June’s in Berlin', () => {
    const objects = backupsAt([new Date('2026-05-31T12:00:00Z'), new Date('2026-05-31T23:30:00Z'), new Date('2026-06-10T03:00:00Z')]);
    const now = new Date('2026-06-10T12:00:00Z');
    const utc = selectForPrune({ objects, prefix: PREFIX, policy: policy({ monthly: 2 }), now });
    assert.deepEqual(remaining(objects, utc.toDelete).sort(), ['2026-05-31T23:30:00Z', '2026-06-10T03:00:00Z'].map(keyAt));
    const berlin = selectForPrune({ objects, prefix: PREFIX, policy: policy({ monthly: 2, timeZone: 'Europe/Berlin' }), now });
    assert.deepEqual(remaining(objects, berlin.toDelete).sort(), ['2026-05-31T12:00:00Z', '2026-06-10T03:00:00Z'].map(keyAt));
  });

  it('ISO weeks span the new year: Thu 2026-12-31 and Sun 2027-01-03 are both in 2026-W53; KEEP_YEARLY keeps each year’s newest', () => {
    const objects = backupsAt(['2025-12-30', '2026-12-31', '2027-01-03', '2027-01-05'].map((d) => new Date(`${d}T03:00:00Z`)));
    const now = new Date('2027-01-05T12:00:00Z');
    const weekly = selectForPrune({ objects, prefix: PREFIX, policy: policy({ weekly: 3 }), now });
    // W01 of 2027 (Tue 01-05), W53 of 2026 (Sun 01-03, not Thu 12-31), W01 of 2026 (Tue 2025-12-30).
    assert.deepEqual(remaining(objects, weekly.toDelete).sort(), ['2025-12-30', '2027-01-03', '2027-01-05'].map((d) => keyAt(`${d}T03:00:00Z`)));
    assert.equal(weekly.kept.find((k) => k.key === keyAt('2027-01-03T03:00:00Z'))?.reason, 'weekly 2026-W53');
    assert.equal(weekly.kept.find((k) => k.key === keyAt('2025-12-30T03:00:00Z'))?.reason, 'weekly 2026-W01');
    const yearly = selectForPrune({ objects, prefix: PREFIX, policy: policy({ yearly: 5 }), now });
    assert.deepEqual(remaining(objects, yearly.toDelete).sort(), ['2025-12-30', '2026-12-31', '2027-01-05'].map((d) => keyAt(`${d}T03:00:00Z`)));
  });

  it('RETENTION_DAYS set explicitly also keeps everything younger (keep-within); MIN_BACKUPS_KEPT still holds', () => {
    const now = new Date('2026-07-12T12:00:00Z');
    const objects = backupsAt(dailyUntil('2026-07-12', 30));
    const within = selectForPrune({ objects, prefix: PREFIX, policy: policy({ monthly: 1, keepWithinDays: 10 }), now });
    // Younger than 10 days: 07-03 (9 days 9 hours) .. 07-12; older ones go (July's newest is 07-12).
    assert.deepEqual(remaining(objects, within.toDelete), dailyUntil('2026-07-12', 10).map((t) => backupKey(LOCATION, t, PARTS)));
    assert.match(within.kept.find((k) => k.key === keyAt('2026-07-03T03:00:00Z'))?.reason ?? '', /^younger than 10 days \(RETENTION_DAYS\)$/);
    const newest = selectForPrune({ objects, prefix: PREFIX, policy: policy({ monthly: 1 }, 5), now });
    assert.deepEqual(remaining(objects, newest.toDelete), dailyUntil('2026-07-12', 5).map((t) => backupKey(LOCATION, t, PARTS)));
  });

  it('still refuses while the newest backup is stale, and never touches objects not in our naming', () => {
    const objects = [...backupsAt(dailyUntil('2026-07-10', 20)), { key: 'db/app--2025-01-01T03-00-00-000Z.tar.gz', size: 9000, lastModified: new Date('2025-01-01T03:00:00Z') }];
    const now = new Date('2026-07-12T12:00:00Z');
    const stale = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 2 }), now });
    assert.match(stale.refusal ?? '', /is 57\.0 h old/);
    assert.deepEqual(stale.toDelete, []);
    assert.equal(stale.held.filter((i) => i.kind === 'backup').length, 18);
    const fresh = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 2 }), now: new Date('2026-07-10T12:00:00Z') });
    assert.equal(fresh.refusal, undefined);
    assert.ok(!fresh.toDelete.some((i) => i.key.endsWith('.tar.gz')));
    assert.ok(fresh.kept.some((k) => k.key.endsWith('.tar.gz') && /not in backup-sentinel naming/.test(k.reason)));
  });

  it('deletes a manifest whose backup is gone only once it is a day old', () => {
    const objects = backupsAt(dailyUntil('2026-07-12', 3));
    const orphanOld = `${keyAt('2026-07-01T03:00:00Z')}.manifest.json`;
    const orphanNew = `${keyAt('2026-07-12T11:00:00Z')}.manifest.json`;
    objects.push({ key: orphanOld, size: 400, lastModified: new Date('2026-07-01T03:01:00Z') }, { key: orphanNew, size: 400, lastModified: new Date('2026-07-12T11:01:00Z') });
    const plan = selectForPrune({ objects, prefix: PREFIX, policy: policy({ daily: 7 }), now: new Date('2026-07-12T12:00:00Z') });
    assert.deepEqual(plan.toDelete.map((i) => i.key), [orphanOld]);
  });
});

describe('retention tier settings', () => {
  const S3 = { AWS_S3_BUCKET: 'my-backups', AWS_S3_ENDPOINT: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' };

  it('without KEEP_* nothing changes: no tiers, RETENTION_DAYS decides, lifecycle mode on S3 as before', () => {
    const config = loadConfig(S3);
    assert.equal(config.retention.tiers, undefined);
    assert.equal(resolveMode(config.retention, 's3').mode, 'lifecycle');
  });

  it('KEEP_* in the schedule’s zone; RETENTION_DAYS counts as keep-within only when set; tiers mean prune mode', () => {
    const config = loadConfig({ ...S3, KEEP_DAILY: '7', KEEP_MONTHLY: '12', CRON_TZ: 'Europe/Berlin' });
    assert.deepEqual(config.retention.tiers, { daily: 7, weekly: 0, monthly: 12, yearly: 0, timeZone: 'Europe/Berlin', keepWithinDays: undefined });
    const mode = resolveMode(config.retention, 's3');
    assert.equal(mode.mode, 'prune');
    assert.match(mode.reason, /KEEP_DAILY=7, KEEP_MONTHLY=12: lifecycle rules only know age/);
    assert.equal(loadConfig({ ...S3, KEEP_WEEKLY: '4', RETENTION_DAYS: '3' }).retention.tiers?.keepWithinDays, 3);
  });

  it('settings that cannot work with tiers stop the service at start, each named', () => {
    assert.throws(
      () => loadConfig({ ...S3, KEEP_DAILY: '7', RETENTION_MODE: 'lifecycle', RETENTION_DAYS: '0', KEEP_WEEKLY: '-1' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.variable === 'RETENTION_MODE' && /only knows age/.test(p.expected)) &&
        error.problems.some((p) => p.variable === 'RETENTION_DAYS' && /unset or at least 1 with KEEP_DAILY=7/.test(p.expected)) &&
        error.problems.some((p) => p.variable === 'KEEP_WEEKLY' && p.given === '"-1"'),
    );
  });
});

describe('retention finding with tiers', () => {
  const settings: RetentionSettings = { days: 30, mode: undefined, manageLifecycle: false, minKept: 1, marginDays: 2, tiers: { ...NO_TIERS, daily: 7, weekly: 4, monthly: 12 } };
  const status = initialStatus('prune', 'test');
  // The 21 backups a correct prune leaves on Sunday 2026-07-12 (see the first test), and nothing else.
  const afterPrune = [
    ...dailyUntil('2026-07-12', 7).map((t) => t.toISOString().slice(0, 10)),
    '2026-07-05', '2026-06-28', '2026-06-21',
    '2026-06-30', '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31', '2025-12-31', '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31',
  ];
  const at = (days: readonly string[]) => backupsAt(days.map((d) => new Date(`${d}T03:00:00Z`)));

  it('has no finding right after a correct prune, although monthly backups are far older than RETENTION_DAYS', () => {
    assert.deepEqual(checkRetention({ status, settings, objects: at(afterPrune), prefix: PREFIX, now: new Date('2026-07-12T12:00:00Z') }), []);
  });

  it('has no finding while what became due is due for less than RETENTION_MARGIN_DAYS', () => {
    // One more day, no prune: 07-06 leaves the daily tier and 06-21 the weekly one, due since 07-13.
    const objects = at([...afterPrune, '2026-07-13']);
    assert.deepEqual(checkRetention({ status, settings, objects, prefix: PREFIX, now: new Date('2026-07-14T11:00:00Z') }), []);
  });

  it('reports backups no tier has kept for more than RETENTION_MARGIN_DAYS: pruning is not working', () => {
    const objects = at([...afterPrune, '2026-07-13', '2026-07-14', '2026-07-15']);
    const [finding] = checkRetention({ status, settings, objects, prefix: PREFIX, now: new Date('2026-07-15T12:00:00Z') });
    assert.equal(finding?.check, 'retention');
    assert.equal(finding?.values?.overdueBackups, 2);
    assert.match(
      finding?.summary ?? '',
      /^2 backups kept by no tier \(KEEP_DAILY=7, KEEP_WEEKLY=4, KEEP_MONTHLY=12\) and due for more than 2 days still in storage \(oldest 24\.4 days\): pruning is not deleting them$/,
    );
  });
});
