import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupsOf, previousBackup, recognizeBackup } from '../../src/core/backup-catalog.ts';

const MODIFIED = new Date('2026-02-01T00:00:00Z');

function recognize(key: string, prefix: string) {
  return recognizeBackup({ key, size: 100, lastModified: MODIFIED }, prefix);
}

describe('recognising backups under the prefix', () => {
  const cases: { title: string; key: string; prefix: string; time: string | undefined; ours?: boolean; source?: 'name' | 'lastModified' }[] = [
    { title: 'our own plain gzip backup', key: 'db/backup-2026-01-25_03-00-00.sql.gz', prefix: 'db/backup-', time: '2026-01-25T03:00:00.000Z', ours: true, source: 'name' },
    { title: 'our own custom-format encrypted backup', key: 'app_2026-01-25_03-00-00.dump.zst.age', prefix: 'app_', time: '2026-01-25T03:00:00.000Z', ours: true },
    {
      title: "the Railway template's name with its default prefix",
      key: 'backup-2026-01-25T03-00-00-123Z.tar.gz',
      prefix: 'backup-',
      time: '2026-01-25T03:00:00.123Z',
      ours: false,
      source: 'name',
    },
    {
      title: "the template's name when BACKUP_FILE_PREFIX is the same as the template's",
      key: 'sub/vlvt_backup_-2026-01-25T03-00-00-000Z.tar.gz',
      prefix: 'sub/vlvt_backup_',
      time: '2026-01-25T03:00:00.000Z',
      ours: false,
    },
    { title: 'an ISO timestamp with one fractional digit', key: 'backup-2026-01-25T03:00:00.5Z.sql', prefix: 'backup-', time: '2026-01-25T03:00:00.500Z' },
    { title: 'a plain ISO timestamp written by another tool', key: 'backup-2026-01-25T03:00:00Z.sql', prefix: 'backup-', time: '2026-01-25T03:00:00.000Z', ours: false },
    { title: "the template's fixed BACKUP_FILENAME: time from LastModified", key: 'backup.tar.gz', prefix: 'backup', time: MODIFIED.toISOString(), ours: false, source: 'lastModified' },
    { title: 'any other object under the prefix', key: 'backup-latest.sql.gz', prefix: 'backup-', time: MODIFIED.toISOString(), source: 'lastModified' },
    { title: 'a manifest is never a backup', key: 'backup-2026-01-25_03-00-00.sql.gz.manifest.json', prefix: 'backup-', time: undefined },
    { title: "the service's own folder is never a backup", key: 'backup-x/.backup-sentinel/alert-state.json', prefix: 'backup-', time: undefined },
    { title: 'a folder marker is never a backup', key: 'backup-old/', prefix: 'backup-', time: undefined },
    { title: 'a key outside the prefix is never a backup', key: 'other-2026-01-25_03-00-00.sql.gz', prefix: 'backup-', time: undefined },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const backup = recognize(c.key, c.prefix);
      assert.equal(backup?.time.toISOString(), c.time);
      if (c.ours !== undefined) assert.equal(backup?.ours, c.ours);
      if (c.source !== undefined) assert.equal(backup?.timeSource, c.source);
    });
  }
});

describe('ordering backups: one definition of newest', () => {
  const at = (iso: string) => new Date(iso);
  // Our naming, the template's, and a name without a time (LastModified), deliberately listed in key
  // order, which is not time order.
  const objects = [
    { key: 'backup-2026-01-24_03-00-00.sql.gz', size: 1, lastModified: at('2026-01-24T03:01:00Z') },
    { key: 'backup-2026-01-24_03-00-00.sql.gz.manifest.json', size: 1, lastModified: at('2026-01-24T03:01:00Z') },
    { key: 'backup-2026-01-25T01-00-00-000Z.tar.gz', size: 1, lastModified: at('2026-01-27T00:00:00Z') },
    { key: 'backup-manual.dump', size: 1, lastModified: at('2026-01-26T12:00:00Z') },
  ];

  it('orders by the time in the name, else LastModified, oldest first, leaving out manifests', () => {
    assert.deepEqual(backupsOf(objects, 'backup-').map((b) => b.key), [
      'backup-2026-01-24_03-00-00.sql.gz',
      'backup-2026-01-25T01-00-00-000Z.tar.gz',
      'backup-manual.dump',
    ]);
  });

  it('equal times fall back to the key, so every reader picks the same newest', () => {
    const same = [
      { key: 'backup-b.dump', size: 1, lastModified: at('2026-01-26T12:00:00Z') },
      { key: 'backup-a.dump', size: 1, lastModified: at('2026-01-26T12:00:00Z') },
    ];
    assert.deepEqual(backupsOf(same, 'backup-').map((b) => b.key), ['backup-a.dump', 'backup-b.dump']);
  });

  it('the previous backup of one is the one just before it in that order', () => {
    const backups = backupsOf(objects, 'backup-');
    assert.equal(previousBackup(backups, 'backup-manual.dump')?.key, 'backup-2026-01-25T01-00-00-000Z.tar.gz');
    assert.equal(previousBackup(backups, 'backup-2026-01-24_03-00-00.sql.gz'), undefined);
    assert.equal(previousBackup(backups, 'not-listed'), undefined);
  });
});

describe('a backup stored as several objects', () => {
  const at = (key: string, size: number) => ({ key, size, lastModified: MODIFIED });
  const base = 'db/app_2026-01-25_03-00-00.dump.zst';

  it('is one backup: the first object with its pieces in order, its size their sum', () => {
    const backups = backupsOf(
      [at(base, 10), at(`${base}.003`, 3), at(`${base}.002`, 20), at(`${base}.manifest.json`, 1), at('db/app_2026-01-26_03-00-00.dump.zst', 7)],
      'db/app_',
    );
    assert.deepEqual(
      backups.map((b) => [b.key, b.size, b.pieces?.map((p) => p.key)]),
      [
        [base, 33, [`${base}.002`, `${base}.003`]],
        ['db/app_2026-01-26_03-00-00.dump.zst', 7, undefined],
      ],
    );
  });

  it('a piece without its first object (an upload still running) is no backup', () => {
    assert.deepEqual(backupsOf([at(`${base}.002`, 20)], 'db/app_'), []);
    assert.equal(recognize(`${base}.002`, 'db/app_'), undefined);
  });

  it("another tool's object ending in .002 stays a backup of its own", () => {
    assert.deepEqual(
      backupsOf([at('db/app_dump.tar.002', 5), at('db/app_2026-01-25T03-00-00Z.tar.gz.002', 6)], 'db/app_').map((b) => [b.key, b.ours]),
      [
        ['db/app_2026-01-25T03-00-00Z.tar.gz.002', false],
        ['db/app_dump.tar.002', false],
      ],
    );
  });
});
