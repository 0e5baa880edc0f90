import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyCommand } from '../../src/commands/verify.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { buildVerifyService } from '../../src/restore/build-verify-service.ts';
import { readReceipts, receiptsFolder } from '../../src/restore/receipts.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { LOCATION, readObject, runCommand, seedDatabase, takeBackup, tempDirStore, writeObject } from './fixtures.ts';

// Every verification and drill leaves a receipt in the storage, and `verify --history` reads them back.
describe('verification receipts', () => {
  let pg: PgCluster;
  let store: DirStore;
  let dir: string;
  let remove: () => Promise<void>;
  const folder = receiptsFolder(LOCATION);

  before(async () => {
    pg = await sharedPgCluster();
    ({ store, dir, remove } = await tempDirStore());
    await seedDatabase(pg, 'receipts_app', 120);
  });
  after(async () => {
    await remove?.();
  });

  const env = () => ({ BACKUP_DIR: dir, BUCKET_SUBFOLDER: LOCATION.subfolder, BACKUP_FILE_PREFIX: LOCATION.prefix, BACKUP_DATABASE_URL: pg.url('receipts_app'), VERIFY_RESTORE_URL: pg.url('postgres'), LOG_LEVEL: 'silent' });

  it('the scheduled verification and drill each leave a receipt with the key, sha256, tables, rows, duration and result', async () => {
    const key = await takeBackup(pg, 'receipts_app', store, { format: 'plain', compression: 'gzip', at: new Date('2026-03-01T03:00:00Z') });
    const manifest = JSON.parse((await readObject(dir, `${key}.manifest.json`)).toString('utf8')) as { sha256: string };
    const service = buildVerifyService(loadConfig(env()), store, silentLogger());
    await service.runNow();
    const receipts = await readReceipts(store, folder, 10);
    assert.deepEqual(receipts.map((r) => r.kind).sort(), ['drill', 'verify']);
    const verify = receipts.find((r) => r.kind === 'verify');
    assert.equal(verify?.result, 'ok');
    assert.equal(verify.key, key);
    assert.equal(verify.sha256, manifest.sha256);
    assert.ok(verify.tables >= 1 && verify.rows >= 120, JSON.stringify(verify));
    assert.ok(verify.durationMs >= 0);
    const drill = receipts.find((r) => r.kind === 'drill');
    assert.equal(drill?.result, 'ok');
    assert.ok(drill.rows >= 120, JSON.stringify(drill));
    // Receipts are never mistaken for backups.
    assert.deepEqual((await runCommand(verifyCommand, [], env())).code, 0);
  });

  it('a damaged backup leaves a failed receipt with its problems, and --history lists the receipts newest first', async () => {
    const key = await takeBackup(pg, 'receipts_app', store, { format: 'plain', compression: 'gzip', at: new Date('2026-03-02T03:00:00Z') });
    const bytes = await readObject(dir, key);
    await writeObject(dir, key, Buffer.concat([bytes.subarray(0, 100), Buffer.alloc(200, 7)]));
    const failed = await runCommand(verifyCommand, ['--key', key], env());
    assert.equal(failed.code, 1);
    const [newest] = await readReceipts(store, folder, 1);
    assert.equal(newest?.result, 'failed');
    assert.equal(newest.key, key);
    assert.ok(newest.problems.length > 0);

    const history = await runCommand(verifyCommand, ['--history'], env());
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.split('\n').filter((l) => /^\d{4}-/.test(l));
    assert.ok(lines.length >= 4, history.stdout);
    assert.match(lines[0] ?? '', new RegExp(`verify\\s+failed\\s+${key.replaceAll('.', '\\.')}`));
    const times = lines.map((l) => l.slice(0, 19));
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    assert.equal((await runCommand(verifyCommand, ['--history', '--drill'], env())).code, 64);
  });
});
