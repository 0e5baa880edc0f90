import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recognizeBackup } from '../../src/core/backup-catalog.ts';

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
