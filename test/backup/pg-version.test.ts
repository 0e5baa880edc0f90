import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupError } from '../../src/errors.ts';
import {
  chooseCandidate,
  listPgDumpCandidates,
  parseToolVersion,
  readPgDumpVersion,
  resolvePgDump,
  versionFromNum,
  type PgDumpSearchRoots,
} from '../../src/backup/pg-version.ts';

// A fake machine layout: directories with tiny pg_dump scripts that print a version.
async function fakeTool(file: string, version: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `#!/bin/sh\necho "pg_dump (PostgreSQL) ${version}"\n`, { mode: 0o755 });
}

describe('choosing and checking pg_dump', () => {
  let root: string;
  let roots: PgDumpSearchRoots;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'pg-layout-'));
    roots = { debian: path.join(root, 'usr/lib/postgresql'), alpine: path.join(root, 'usr/libexec'), pathDirs: [path.join(root, 'usr/bin')] };
    await fakeTool(path.join(roots.debian, '13/bin/pg_dump'), '13.16 (Debian 13.16-1)');
    await fakeTool(path.join(roots.debian, '16/bin/pg_dump'), '16.4 (Debian 16.4-1)');
    await fakeTool(path.join(roots.alpine, 'postgresql15/pg_dump'), '15.8');
    await fakeTool(path.join(root, 'usr/bin/pg_dump'), '9.6.24');
    await fakeTool(path.join(root, 'old/pg_dump'), '12.20');
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('reads versions as pg_dump and the server report them', () => {
    assert.equal(parseToolVersion('pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)'), '15.14');
    assert.equal(parseToolVersion('pg_dump (PostgreSQL) 9.6.24'), '9.6.24');
    assert.equal(versionFromNum(150014), '15.14');
    assert.equal(versionFromNum(170000), '17.0');
    assert.equal(versionFromNum(90624), '9.6.24');
  });

  it('finds Debian and Alpine versioned clients, newest first, then PATH', () => {
    const found = listPgDumpCandidates(roots).map((c) => [path.relative(root, c.path), c.major]);
    assert.deepEqual(found, [
      ['usr/lib/postgresql/16/bin/pg_dump', 16],
      ['usr/libexec/postgresql15/pg_dump', 15],
      ['usr/lib/postgresql/13/bin/pg_dump', 13],
      ['usr/bin/pg_dump', undefined],
    ]);
  });

  it('picks the client matching the server, else the oldest newer one', async () => {
    assert.equal((await resolvePgDump('15.3', undefined, roots)).version, '15.8');
    assert.equal((await resolvePgDump('13.1', undefined, roots)).version, '13.16');
    assert.equal((await resolvePgDump('14.9', undefined, roots)).version, '15.8');
    assert.equal((await resolvePgDump('9.6.1', undefined, roots)).version, '9.6.24');
    assert.equal(chooseCandidate([], 15), undefined);
  });

  it('refuses a pg_dump older than the server, naming both versions and the fix', async () => {
    const error = await resolvePgDump('17.2', undefined, roots).then(
      () => assert.fail('expected a version-check error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BackupError);
    assert.equal(error.stage, 'version-check');
    assert.match(error.shortMessage, /pg_dump 16\.4 is older than the server \(PostgreSQL 17\.2\)/);
    assert.match(error.hint ?? '', /postgresql-client-17/);
    assert.match(error.hint ?? '', /PG_DUMP_PATH/);
  });

  it('uses PG_DUMP_PATH as given and still checks its version', async () => {
    const explicit = path.join(root, 'old/pg_dump');
    assert.equal((await resolvePgDump('12.1', explicit, roots)).path, explicit);
    const error = await resolvePgDump('15.3', explicit, roots).then(
      () => assert.fail('expected a version-check error'),
      (e: unknown) => e as BackupError,
    );
    assert.match(error.shortMessage, /pg_dump 12\.20 is older than the server \(PostgreSQL 15\.3\) \(PG_DUMP_PATH=/);
  });

  it('says so when PG_DUMP_PATH does not run', async () => {
    const error = await resolvePgDump('15.3', path.join(root, 'missing/pg_dump'), roots).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e as BackupError,
    );
    assert.equal(error.stage, 'version-check');
    assert.match(error.shortMessage, /cannot run .*missing\/pg_dump --version/);
  });

  it('asks a pg_dump for its version once, and again after the file was replaced (an upgrade)', async () => {
    const counted = path.join(root, 'counted/pg_dump');
    const log = path.join(root, 'counted/calls');
    await fs.mkdir(path.dirname(counted), { recursive: true });
    const script = (version: string) => `#!/bin/sh\necho x >> '${log}'\necho "pg_dump (PostgreSQL) ${version}"\n`;
    await fs.writeFile(counted, script('16.4'), { mode: 0o755 });
    const calls = async () => (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    assert.equal((await readPgDumpVersion(counted)).version, '16.4');
    assert.equal((await readPgDumpVersion(counted)).version, '16.4');
    assert.equal(await calls(), 1, 'the second call used what the first learned');
    await fs.rm(counted);
    await fs.writeFile(counted, script('17.2'), { mode: 0o755 });
    assert.equal((await readPgDumpVersion(counted)).version, '17.2');
    assert.equal(await calls(), 2);
  });

  it('runs pg_dump --version without the service\'s secrets in its environment', async () => {
    const leaky = path.join(root, 'leaky/pg_dump');
    await fs.mkdir(path.dirname(leaky), { recursive: true });
    // Reports a version only when none of the service's secrets reached it.
    await fs.writeFile(leaky, '#!/bin/sh\n[ -z "$AWS_SECRET_ACCESS_KEY$BACKUP_DATABASE_URL" ] || { echo leaked >&2; exit 9; }\necho "pg_dump (PostgreSQL) 16.4"\n', { mode: 0o755 });
    const saved = { key: process.env.AWS_SECRET_ACCESS_KEY, url: process.env.BACKUP_DATABASE_URL };
    process.env.AWS_SECRET_ACCESS_KEY = 'aws-secret';
    process.env.BACKUP_DATABASE_URL = 'postgres://u:pw@h/db';
    try {
      assert.equal((await readPgDumpVersion(leaky)).version, '16.4');
    } finally {
      if (saved.key === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.key;
      if (saved.url === undefined) delete process.env.BACKUP_DATABASE_URL;
      else process.env.BACKUP_DATABASE_URL = saved.url;
    }
  });
});
