import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { backupKey } from '../../src/core/naming.ts';
import { checkCommand } from '../../src/commands/check.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { HOUR, MiB, commandContext, configFor, putBackup, seedS3Files } from './fixtures.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;


describe('backup-sentinel check', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server({ extraBuckets: ['fresh-one', 'anomaly-one', 'stale-one'] });
    // Written straight into the server's files as sparse files of the sizes the checks judge: 26 MiB of
    // PUT requests cost about a second of CPU, and the uploads are not what check is about.
    const now = Date.now();
    const { location } = configFor(s3.env);
    const backup = (ageHours: number, size: number) => ({ key: backupKey(location, new Date(now - ageHours * HOUR), PARTS), size, time: new Date(now - ageHours * HOUR) });
    await seedS3Files(s3, [backup(2, 2 * MiB)], 'fresh-one');
    await seedS3Files(s3, [backup(50, 10 * MiB), backup(26, 10 * MiB), backup(2, 2 * MiB)], 'anomaly-one');
    await seedS3Files(s3, [backup(40, 2 * MiB)], 'stale-one');
  });
  after(async () => {
    await s3?.close();
  });

  it('exits 0 and says OK when the newest backup is fresh', async () => {
    const { ctx, out } = commandContext({ ...s3.env, AWS_S3_BUCKET: 'fresh-one' });
    assert.equal(await checkCommand.run([], ctx), 0);
    assert.match(out(), /1 backup, 2\.0 MiB in total/);
    assert.match(out(), /^OK: /m);
  });

  it('exits 1 on warnings only (a size anomaly)', async () => {
    const { ctx, out } = commandContext({ ...s3.env, AWS_S3_BUCKET: 'anomaly-one' });
    assert.equal(await checkCommand.run([], ctx), 1);
    assert.match(out(), /^WARN size_anomaly: newest backup is 2\.0 MiB, 20% of the median 10\.0 MiB/m);
    assert.match(out(), /^WARN: 1 warning\.$/m);
  });

  it('exits 2 on a failure and prints what to do', async () => {
    const { ctx, out } = commandContext({ ...s3.env, AWS_S3_BUCKET: 'stale-one' });
    assert.equal(await checkCommand.run([], ctx), 2);
    assert.match(out(), /^FAIL stale: newest backup is 40(\.\d)? h old \(limit 25 h\)/m);
    assert.match(out(), /what to do: /);
  });

  it('prints JSON with --json, and exits 2 when storage cannot be reached without printing secrets', async () => {
    const { ctx, out } = commandContext({ ...s3.env, AWS_S3_BUCKET: 'no-such-bucket', AWS_SECRET_ACCESS_KEY: 'super-secret-value' });
    assert.equal(await checkCommand.run(['--json'], ctx), 2);
    const body = JSON.parse(out()) as { status: string; findings: { check: string; values: { code: string } }[]; thresholds: { maxBackupAgeHours: number } };
    assert.equal(body.status, 'fail');
    assert.equal(body.findings[0]?.check, 'storage_unreachable');
    assert.equal(body.findings[0]?.values.code, 'NoSuchBucket');
    assert.equal(body.thresholds.maxBackupAgeHours, 25);
    assert.doesNotMatch(out(), /super-secret-value/);
  });

  it('checks a local backup directory in monitor-only mode', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'check-dir-'));
    try {
      const { ctx, out } = commandContext({ BACKUP_DIR: dir });
      assert.equal(await checkCommand.run([], ctx), 2);
      assert.match(out(), new RegExp(`FAIL stale: no backup found in dir:${dir}/backup-`));
      const time = new Date(Date.now() - HOUR);
      await putBackup(new DirStore(dir), undefined, backupKey({ subfolder: '', prefix: 'backup-' }, time, PARTS), 4096, time);
      assert.equal(await checkCommand.run([], commandContext({ BACKUP_DIR: dir }).ctx), 0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses unknown options with exit 64', async () => {
    const { ctx, err } = commandContext(s3.env);
    assert.equal(await checkCommand.run(['--jsn'], ctx), 64);
    assert.match(err(), /^Unknown option "--jsn": check expects one of --json, --set, --destination, -h\/--help\.\nUsage: backup-sentinel check \[--json\] \[--set NAME\] \[--destination NAME\]\n$/);
  });

  it('refuses --set without backup sets and a --destination it does not have, exit 64', async () => {
    const noSets = commandContext(s3.env);
    assert.equal(await checkCommand.run(['--set', 'app'], noSets.ctx), 64);
    assert.match(noSets.err(), /--set needs backup sets \(BACKUP_DATABASES or the sets of SENTINEL_CONFIG\); this configuration has none/);
    const wrong = commandContext(s3.env);
    assert.equal(await checkCommand.run(['--destination', 'dir'], wrong.ctx), 64);
    assert.match(wrong.err(), /--destination expects one of s3; got "dir"/);
  });

  it('is a CLI command whose process exit code follows the findings', async () => {
    const run = promisify(execFile);
    const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
    const env = { PATH: process.env.PATH ?? '', ...compileCacheEnv(), ...s3.env, AWS_S3_BUCKET: 'stale-one', LOG_LEVEL: 'silent' };
    const failed = await run(process.execPath, [...TYPESCRIPT_LOADER, cli, 'check'], { env }).then(
      () => assert.fail('expected a non-zero exit'),
      (error: { code: number; stdout: string }) => error,
    );
    assert.equal(failed.code, 2);
    assert.match(failed.stdout, /FAIL stale/);
  });

  it('keeps its log lines on stderr, so `check --json` prints only JSON on stdout', async () => {
    const run = promisify(execFile);
    const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
    const env = { PATH: process.env.PATH ?? '', ...compileCacheEnv(), ...s3.env, AWS_S3_BUCKET: 'stale-one', LOG_LEVEL: 'info' };
    const failed = await run(process.execPath, [...TYPESCRIPT_LOADER, cli, 'check', '--json'], { env }).then(
      () => assert.fail('expected a non-zero exit'),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.equal(failed.code, 2);
    const report = JSON.parse(failed.stdout) as { status: string };
    assert.equal(report.status, 'fail');
    assert.match(failed.stderr, /"component":"monitor"/, 'the log lines went to stderr');
  });
});
