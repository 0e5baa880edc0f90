import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { runCli } from '../../src/cli.ts';
import { backupCommand } from '../../src/commands/backup.ts';
import { listCommand } from '../../src/commands/list.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { configOfSet } from '../../src/config/load-sets.ts';
import type { BackupSetConfig } from '../../src/config/types.ts';
import { problemsOf } from '../config/fixtures.ts';
import { captureStream } from '../helpers/log-sink.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { runCommand } from '../restore/fixtures.ts';

// SENTINEL_CONFIG with a top-level `destinations:` list: two buckets (or more, or a directory) for the
// one database of the environment.
describe('destinations listed in SENTINEL_CONFIG', () => {
  const MARK = 'Zk7secretQ';
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-dest-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const file = async (text: string): Promise<string> => {
    const name = path.join(dir, `dest-${n++}.yaml`);
    await fs.writeFile(name, text);
    return name;
  };
  const TWO = `destinations:
  - name: r2
    bucket: main-backups
    endpoint: https://acc.r2.cloudflarestorage.com
    accessKeyId: \${R2_KEY_ID}
    secretAccessKey: \${R2_SECRET}
  - name: local
    dir: /mnt/backups
`;
  const secrets = { R2_KEY_ID: 'AKID', R2_SECRET: `${MARK}r2` };

  it('a file with destinations and no sets: the destinations in order, the first being the storage', async () => {
    const config = loadConfig({ SENTINEL_CONFIG: await file(TWO), ...secrets });
    assert.deepEqual(config.destinations?.map((d) => [d.name, d.storage.kind]), [['r2', 's3'], ['local', 'dir']]);
    assert.equal(config.storage, config.destinations?.[0]?.storage, 'the first keeps the alert state and the lease');
    assert.equal(config.storage.kind === 's3' && config.storage.secretAccessKey?.reveal(), `${MARK}r2`, '${...} resolved from the environment');
    assert.equal(config.storage.kind === 's3' && config.storage.region, 'auto', 'the same defaults as AWS_S3_REGION');
    assert.equal(config.sets, undefined, 'the one database of the environment');
  });

  it('reports a problem in each of two destinations at once, each with its path and line, never a secret', async () => {
    const error = problemsOf({
      SENTINEL_CONFIG: await file(`destinations:
  - name: a
    bucket: Bad_Bucket
    endpoint: https://acc.r2.cloudflarestorage.com
    secretAccessKey: \${R2_SECRET}
  - name: b
    dir: /mnt/b
    region: eu-west-1
  - name: a
    bucket: ok-bucket
    endpoint: ftp://nowhere
`),
      ...secrets,
    });
    assert.deepEqual(
      error.problems.map((p) => p.variable),
      // In the file's order; a problem about a default (no accessKeyId given) names the entry's line.
      ['destinations[0].bucket (line 3)', 'destinations[0].accessKeyId (line 2)', 'destinations[1].dir (line 7)', 'destinations[2].name (line 9)', 'destinations[2].endpoint (line 11)'],
      error.message,
    );
    // The same words as the variable's own problem, in the file's keys.
    assert.match(error.problems.find((p) => p.variable.startsWith('destinations[0].accessKeyId'))?.expected ?? '', /since secretAccessKey is set/);
    assert.match(error.message, /destinations\[2\]\.name \(line 9\): expected a name no other destination has/);
    assert.ok(!error.message.includes(MARK) && !JSON.stringify(error.problems).includes(MARK), error.message);
    assert.match(error.hint ?? '', /SENTINEL_CONFIG file entries/, 'the hint points at the file');
  });

  it('an unset ${VAR} for a required key is one problem, not also "missing"', async () => {
    const error = problemsOf({ SENTINEL_CONFIG: await file(`destinations:\n  - name: a\n    bucket: \${NO_SUCH_BUCKET_VAR}\n    secretAccessKey: not-a-secret\n  - name: b\n    dir: /mnt/b\n`) });
    assert.deepEqual(
      error.problems.map((p) => p.variable),
      ['destinations[0].bucket (line 3)'],
      error.message,
    );
  });

  it('refuses one destination (use the environment), and BACKUP_DIR beside them', async () => {
    const one = problemsOf({ SENTINEL_CONFIG: await file('destinations:\n  - name: only\n    dir: /mnt/x\n') });
    assert.match(one.message, /destinations \(line 2\): expected a list of at least two destinations[\s\S]*for one destination leave "destinations" out and use AWS_S3_BUCKET or BACKUP_DIR/);
    const withDir = problemsOf({ SENTINEL_CONFIG: await file(TWO), ...secrets, BACKUP_DIR: '/mnt/other' });
    assert.match(withDir.message, /BACKUP_DIR: expected unset while SENTINEL_CONFIG lists "destinations"/);
    // Several databases and the globals go to every destination.
    const many = loadConfig({ SENTINEL_CONFIG: await file(TWO), ...secrets, BACKUP_DATABASE_URL: 'postgres://u@db/app', BACKUP_DATABASES: 'app,shop', BACKUP_GLOBALS: 'true' });
    assert.deepEqual(many.destinations?.map((d) => d.name), ['r2', 'local']);
  });

  it('sets beside destinations: each set names its destinations (default every one), its storage being the first of them', async () => {
    const config = loadConfig({ SENTINEL_CONFIG: await file(`${TWO}sets:\n  - name: app\n  - name: shop\n    destinations: [local]\n`), ...secrets });
    assert.deepEqual(config.destinations?.map((d) => d.name), ['r2', 'local']);
    assert.deepEqual(config.sets?.map((s) => [s.name, s.destinations]), [['app', undefined], ['shop', ['local']]]);
    const shop = configOfSet(config, config.sets?.[1] as BackupSetConfig);
    assert.deepEqual(shop.destinations?.map((d) => d.name), ['local']);
    assert.equal(shop.storage.kind, 'dir');
    assert.equal(configOfSet(config, config.sets?.[0] as BackupSetConfig).storage.kind, 's3');
  });

  it("a set's unknown destination is a problem with its line, listed with every other problem", async () => {
    const text = `${TWO}sets:\n  - name: app\n    destinations: [r2, nas]\n  - name: shop\n    destinations: 7\n    compression: brotli\n`;
    const problems = problemsOf({ SENTINEL_CONFIG: await file(text), ...secrets });
    assert.match(problems.message, /sets\[0\]\.destinations\[1\] \(line 11\): expected the name of a destination \(r2, local\), or leave the set's "destinations" out to write to every one, got "nas"/);
    assert.match(problems.message, /sets\[1\]\.destinations \(line 13\): expected a list of destination names/);
    assert.match(problems.message, /sets\[1\]\.compression \(line 14\)/);
    assert.doesNotMatch(problems.message, /"r2"/, 'a known name is no problem');
    const oneStorage = problemsOf({ SENTINEL_CONFIG: await file('sets:\n  - name: app\n    destinations: [s3]\n'), AWS_S3_BUCKET: 'bkp', AWS_S3_REGION: 'eu-central-1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' });
    assert.match(oneStorage.message, /sets\[0\]\.destinations\[0\] \(line 3\): expected no "destinations" in a set while there is one storage/);
    // The environment's two destinations (AWS_S3_BUCKET with BACKUP_DIR) are s3 and dir.
    const env = loadConfig({ SENTINEL_CONFIG: await file('sets:\n  - name: app\n    destinations: [dir]\n'), AWS_S3_BUCKET: 'bkp', AWS_S3_REGION: 'eu-central-1', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', BACKUP_DIR: '/mnt/b' });
    assert.deepEqual(env.sets?.[0]?.destinations, ['dir']);
  });

  it('`config` prints the destinations with their secrets masked', async () => {
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runCli(['config'], { SENTINEL_CONFIG: await file(TWO), ...secrets, LOG_LEVEL: 'silent' }, { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 0, stderr.text());
    assert.ok(!stdout.text().includes(MARK), stdout.text());
    assert.match(stdout.text(), /^destinations\[0\]\.name: r2$/m);
    assert.match(stdout.text(), /^destinations\[0\]\.storage\.bucket: main-backups$/m);
    assert.match(stdout.text(), /^destinations\[0\]\.storage\.secretAccessKey: \*\*\*$/m);
    assert.match(stdout.text(), /^destinations\[1\]\.storage\.dir: \/mnt\/backups$/m);
  });

  it("the guide's example of destinations is a valid file", async () => {
    const guide = await fs.readFile(new URL('../../docs/BACKUP_CONFIGURATION.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# destinations\.yaml[\s\S]*?)```/.exec(guide)?.[1];
    assert.ok(example !== undefined, 'the example is in the guide');
    const config = loadConfig({ SENTINEL_CONFIG: await file(example), R2_ACCESS_KEY_ID: 'a', R2_SECRET_ACCESS_KEY: 'b', B2_ACCESS_KEY_ID: 'c', B2_SECRET_ACCESS_KEY: 'd' });
    assert.deepEqual(config.destinations?.map((d) => d.name), ['r2', 'b2', 'nas']);
  });

  it("the guide's example of sets in several destinations is a valid file", async () => {
    const guide = await fs.readFile(new URL('../../docs/BACKUP_CONFIGURATION.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# sets-destinations\.yaml[\s\S]*?)```/.exec(guide)?.[1];
    assert.ok(example !== undefined, 'the example is in the guide');
    const config = loadConfig({ SENTINEL_CONFIG: await file(example), R2_ACCESS_KEY_ID: 'a', R2_SECRET_ACCESS_KEY: 'b', APP_DATABASE_URL: 'postgres://u@db1/app', ANALYTICS_DATABASE_URL: 'postgres://u@db2/x' });
    assert.deepEqual(config.destinations?.map((d) => d.name), ['r2', 'nas']);
    assert.deepEqual(config.sets?.map((s) => [s.name, s.destinations]), [['app', undefined], ['analytics', ['nas']]]);
  });
});

describe('a backup to the destinations of SENTINEL_CONFIG (two buckets and a directory)', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    [pg, s3] = await Promise.all([sharedPgCluster(), startS3Server({ extraBuckets: ['second-backups'] })]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-dest-run-'));
    await pg.createDatabase('file_dest');
    await pg.psql('CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 500) i;', 'file_dest');
    const bucket = (name: string, bucketName: string): string =>
      `  - name: ${name}\n    bucket: ${bucketName}\n    endpoint: ${s3.endpoint}\n    region: us-east-1\n    forcePathStyle: true\n    accessKeyId: \${S3_KEY}\n    secretAccessKey: \${S3_SECRET}\n`;
    const yaml = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(yaml, `destinations:\n${bucket('first', s3.bucket)}${bucket('second', 'second-backups')}  - name: disk\n    dir: ${path.join(dir, 'copies')}\n`);
    env = { SENTINEL_CONFIG: yaml, BACKUP_DATABASE_URL: pg.url('file_dest'), S3_KEY: s3.accessKeyId, S3_SECRET: s3.secretAccessKey, LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await Promise.all([s3?.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('backs up once into each (the same sha256) and list lists each', async () => {
    const backup = await runCommand(backupCommand, [], env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /^\[first\] Backup stored: backup-\S+\.sql\.gz in s3:\/\/test-backups/m);
    assert.match(backup.stdout, /^\[second\] Backup stored: backup-\S+\.sql\.gz in s3:\/\/second-backups/m);
    assert.match(backup.stdout, /^\[disk\] Backup stored: backup-\S+\.sql\.gz in dir:/m);
    const client = s3.client();
    const read = async (bucket: string): Promise<Buffer> => {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const key = listed.Contents?.map((o) => o.Key ?? '').find((k) => k.endsWith('.sql.gz'));
      assert.ok(key !== undefined, `a backup in ${bucket}`);
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await got.Body?.transformToByteArray() ?? []);
    };
    const files = await fs.readdir(path.join(dir, 'copies'));
    const local = files.find((f) => f.endsWith('.sql.gz'));
    assert.ok(local !== undefined, files.join(', '));
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const copies = [await read(s3.bucket), await read('second-backups'), await fs.readFile(path.join(dir, 'copies', local))];
    assert.ok((copies[0]?.length ?? 0) > 0);
    assert.deepEqual(copies.map(sha), copies.map(() => sha(copies[0] as Buffer)), 'one dump, the same bytes everywhere');
    const list = await runCommand(listCommand, ['--json'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { destination: string }[]).map((b) => b.destination), ['first', 'second', 'disk']);
  });
});
