import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/types.ts';
import type { LeftoverUpload } from '../../src/errors.ts';
import { runBackupJob } from '../../src/backup/job.ts';
import { parseManifest } from '../../src/backup/manifest.ts';
import { manifestKey } from '../../src/core/naming.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { backupSettings, download } from '../backup/fixtures.ts';

const location: Location = { subfolder: '', prefix: 'tee_' };
const MiB = 1024 * 1024;

describe('one backup to several destinations', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let proxy: TcpProxy;
  let dirs: string[] = [];
  let seconds = 0;
  const clock = () => new Date(Date.UTC(2026, 2, 1, 3, 0, seconds++));

  // S3 through the proxy (so a test can cut it), and a fresh directory.
  const destinations = async (cleanupTimeoutMs = 1000): Promise<Destination[]> => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tee-dir-'));
    dirs.push(dir);
    return [
      { name: 's3', store: new S3Store(s3.settings(proxy.endpoint), { partSize: 5 * MiB, tuning: { maxAttempts: 1, connectionTimeoutMs: 2000 }, cleanupTimeoutMs }) },
      { name: 'dir', store: new DirStore(dir) },
    ];
  };
  const backup = async (targets: Destination[], runId: string, stallTimeoutMs?: number, options: string[] = [], database = 'tee_big') =>
    await runBackupJob(
      {
        settings: backupSettings(pg.url(database), { compression: { algorithm: 'none', level: undefined }, options, ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }) }),
        location,
        store: (targets[0] as Destination).store,
        destinations: targets,
        logger: captureLogs().logger,
        clock,
      },
      { runId, trigger: 'manual' },
    );

  before(async () => {
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server()]);
    proxy = await startTcpProxy(s3.port);
    // About 7.3 MB (7 MiB) of plain dump: two 5 MiB parts on S3, the second one cut 6 MiB into the upload
    // below. The tests that need no parts back up a small database.
    await Promise.all([pg.createDatabase('tee_big'), pg.createDatabase('tee_small')]);
    await pg.psql(`CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i * 2)::text) || md5((i * 3)::text) AS body FROM generate_series(1, 75000) i`, 'tee_big');
    await pg.psql('CREATE TABLE t AS SELECT generate_series(1, 100) AS i', 'tee_small');
  });
  after(async () => {
    await proxy?.close();
    await Promise.all([pg?.stop(), s3?.close(), ...dirs.map((d) => fs.rm(d, { recursive: true, force: true }))]);
    dirs = [];
  });

  it('runs pg_dump once and stores the same bytes and sha256 in an S3 bucket and a directory', async () => {
    const targets = await destinations();
    const result = await backup(targets, 'tee-ok');
    assert.ok(result.status === 'success', result.status === 'failed' ? result.error.message : result.status);
    assert.deepEqual(result.destinations?.map((d) => [d.destination, d.result.status]), [['s3', 'success'], ['dir', 'success']]);
    const [inS3, inDir] = await Promise.all(targets.map((t) => download(t.store, result.key)));
    assert.ok(inS3 !== undefined && inDir !== undefined);
    assert.ok(inS3.length > 6.5 * MiB, `size ${inS3.length}`);
    assert.ok(inS3.equals(inDir), 'the two copies are byte for byte the same');
    const sha = createHash('sha256').update(inS3).digest('hex');
    for (const target of targets) {
      const manifest = parseManifest((await download(target.store, manifestKey(result.key))).toString());
      assert.equal(manifest?.sha256, sha, `the manifest in ${target.name} has the copy's sha256`);
      assert.equal(manifest?.size, inS3.length);
    }
    // One dump: both copies carry the run's one pg_dump (the same run id and start time).
    assert.equal(result.manifest.sha256, sha);
  });

  it('a copy split into pieces in S3 has its own manifest listing them; the directory keeps one file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tee-dir-'));
    dirs.push(dir);
    // One 5 MiB part per object: the 7 MiB dump is two objects in S3.
    const targets: Destination[] = [
      { name: 's3', store: new S3Store(s3.settings(), { partSize: 5 * MiB, maxParts: 1, tuning: { maxAttempts: 1 } }) },
      { name: 'dir', store: new DirStore(dir) },
    ];
    const result = await backup(targets, 'tee-split');
    assert.ok(result.status === 'success', result.status === 'failed' ? result.error.message : result.status);
    const s3Manifest = parseManifest((await download(targets[0]!.store, manifestKey(result.key))).toString());
    const dirManifest = parseManifest((await download(targets[1]!.store, manifestKey(result.key))).toString());
    assert.deepEqual(s3Manifest?.pieces?.map((p) => p.key), [result.key, `${result.key}.002`]);
    assert.equal(s3Manifest?.pieces?.reduce((sum, p) => sum + p.size, 0), s3Manifest?.size);
    assert.equal(dirManifest?.pieces, undefined, 'one file in the directory');
    assert.equal(s3Manifest?.sha256, dirManifest?.sha256);
  });

  it('completes the directory copy when the connection to S3 is cut mid-upload, leaving nothing partial in S3', async () => {
    const targets = await destinations();
    const keysBefore = (await targets[0]?.store.list(''))?.map((o) => o.key);
    proxy.cutAfterUpBytes(6 * MiB);
    const result = await backup(targets, 'tee-cut');
    assert.ok(result.status === 'failed', `status ${result.status}`);
    assert.match(result.shortMessage, /^backup stored in 1 of 2 destinations \("dir"\); "s3" failed: upload to s3:\/\/test-backups.* failed \[Network\]/);
    const [atS3, atDir] = result.destinations ?? [];
    assert.equal(atS3?.result.status, 'failed');
    assert.ok(atDir?.result.status === 'success');
    const key = atDir.result.key;
    const copy = await download(targets[1]?.store as DirStore, key);
    assert.equal(createHash('sha256').update(copy).digest('hex'), atDir.result.manifest.sha256, 'the directory copy is complete');
    assert.deepEqual((await targets[0]?.store.list(''))?.map((o) => o.key), keysBefore, 'no new object in S3');
    assert.deepEqual(await s3.pendingUploads(), [], 'no multipart upload left in S3');
  });

  it('drops a destination that stops taking data and completes the other within the stall timeout', async () => {
    // The abort of the stalled upload cannot get through: waiting for it is the cleanup timeout, kept short.
    const targets = await destinations(200);
    const keysBefore = (await targets[0]?.store.list(''))?.map((o) => o.key);
    // S3 stops taking data once the upload is under way (a black hole: connections stay open).
    const upBefore = proxy.bytesUp;
    const running = backup(targets, 'tee-stall', 1500);
    await waitFor(() => proxy.bytesUp > upBefore + MiB, 'the upload to S3 to be under way');
    proxy.stall();
    let leftover: LeftoverUpload | undefined;
    try {
      const result = await running;
      assert.ok(result.status === 'failed', `status ${result.status}`);
      assert.match(result.shortMessage, /"s3" failed: upload to s3:\/\/.* stalled/);
      assert.equal(result.destinations?.[1]?.result.status, 'success');
      // The stalled endpoint cannot take the abort either: the upload is named, for the sweep.
      const atS3 = result.destinations?.[0]?.result;
      assert.ok(atS3?.status === 'failed');
      leftover = atS3.leftoverUpload;
    } finally {
      proxy.restore();
    }
    assert.deepEqual((await targets[0]?.store.list(''))?.map((o) => o.key), keysBefore, 'no new object in S3');
    if (leftover !== undefined) await (targets[0]?.store as S3Store).abortIncompleteUpload(leftover);
    assert.deepEqual(await s3.pendingUploads(), [], 'nothing left once the named upload is aborted');
  });

  it('backs up to the directory when S3 is down before the dump starts, and names S3 as failed', async () => {
    const targets = await destinations();
    proxy.down();
    try {
      const result = await backup(targets, 'tee-down', undefined, [], 'tee_small');
      assert.ok(result.status === 'failed', `status ${result.status}`);
      assert.match(result.shortMessage, /^backup stored in 1 of 2 destinations \("dir"\); "s3" failed: storage s3:\/\/test-backups.* failed \[Network\]/);
      const atDir = result.destinations?.[1]?.result;
      assert.ok(atDir?.status === 'success');
      assert.ok((await targets[1]?.store.head(atDir.key)) !== undefined);
    } finally {
      proxy.restore();
    }
  });

  it('leaves nothing in any destination when pg_dump fails', async () => {
    const targets = await destinations();
    const before = await Promise.all(targets.map(async (t) => (await t.store.list('')).map((o) => o.key)));
    const result = await backup(targets, 'tee-dump-fails', undefined, ['--table=no_such_table'], 'tee_small');
    assert.ok(result.status === 'failed', `status ${result.status}`);
    assert.equal(result.stage, 'dump');
    assert.equal(result.destinations, undefined, 'the run failed before any destination, so it failed in each');
    const after = await Promise.all(targets.map(async (t) => (await t.store.list('')).map((o) => o.key)));
    assert.deepEqual(after, before, 'no object in S3 nor in the directory');
    assert.deepEqual(await s3.pendingUploads(), []);
  });
});
