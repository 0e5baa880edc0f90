import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { after, before, describe, it } from 'node:test';
import { startPgCluster, type PgCluster } from './pg-cluster.ts';
import { startS3Server, type TestS3Server } from './s3-server.ts';
import { TYPESCRIPT_LOADER } from './typescript-node.ts';

describe('test harness', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  before(async () => {
    [pg, s3] = await Promise.all([startPgCluster(), startS3Server()]);
  });
  after(async () => {
    await Promise.all([pg?.stop(), s3?.close()]);
  });

  it('starts a throwaway PostgreSQL cluster that answers queries', async () => {
    await pg.createDatabase('harness check');
    assert.equal(await pg.psql('SELECT 40 + 2', 'harness check'), '42');
    assert.ok(pg.majorVersion >= 12, `major version ${pg.majorVersion}`);
  });

  it('psql() prints what the psql program prints, and outlives a restart of the server', async () => {
    const program = async (sql: string, database = 'postgres') =>
      (await execa('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg.host, '-p', String(pg.port), '-U', pg.superuser, '-d', database], { input: sql, env: { PGPASSWORD: pg.password } })).stdout.trim();
    // The same statements, one after another, in two databases: one through the psql program, one through psql().
    await pg.createDatabase('psql program');
    await pg.createDatabase('psql helper');
    const statements = [
      'CREATE TABLE t (id int, note text); INSERT INTO t SELECT g, NULL FROM generate_series(1, 3) g;',
      "SELECT 1, NULL, true, 'a|b', E'two\\nlines', '{1,2}'::int[], 1.50::numeric; SELECT 2",
      'SELECT * FROM t WHERE false',
      "INSERT INTO t VALUES (9, 'x') RETURNING id",
      'DO $$ BEGIN RAISE NOTICE $n$hi$n$; END $$; SELECT count(*) FROM t',
      'UPDATE t SET note = id::text WHERE id > 1',
    ];
    for (const sql of statements) assert.equal(await pg.psql(sql, 'psql helper'), await program(sql, 'psql program'), sql);
    // Statements PostgreSQL runs only outside a transaction, after others.
    assert.equal(await pg.psql('SELECT 1; CREATE DATABASE "psql second"'), await program("SELECT 1; SELECT 'CREATE DATABASE'"));
    assert.equal(await pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'psql second'"), '1');
    // Each call is a session of its own, as with the psql program: nothing set in one is seen in the next.
    await pg.psql("SET application_name = 'left behind'; CREATE TEMP TABLE left_behind (x int)");
    assert.notEqual(await pg.psql('SHOW application_name'), 'left behind');
    assert.equal(await pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'left_behind'"), '0');
    const startedAt = await pg.psql('SELECT pg_postmaster_start_time()');
    const restart = [path.join(pg.binDir, 'pg_ctl'), '-D', pg.dataDir, '-l', path.join(path.dirname(pg.dataDir), 'server.log'), '-m', 'fast', '-w', 'restart'];
    await (process.getuid?.() === 0 ? execa('runuser', ['-u', 'postgres', '--', ...restart]) : execa(restart[0]!, restart.slice(1)));
    assert.notEqual(await pg.psql('SELECT pg_postmaster_start_time()'), startedAt);
  });

  it('starts an S3 server that records the requests it receives', async () => {
    const response = await fetch(`${s3.endpoint}/${s3.bucket}?list-type=2`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /ListBucketResult/);
    assert.ok(s3.requests.some((r) => r.method === 'GET' && r.url.startsWith(`/${s3.bucket}`)));
  });
});

describe('test harness clean-up', () => {
  it('stops a PostgreSQL cluster whose suite set-up failed after it started', async () => {
    const fixture = path.join(import.meta.dirname, 'fixtures', 'failing-setup.ts');
    // Promise.all rejects at once; wait for the cluster the fixture started to print its directory.
    const run = await execa(process.execPath, [...TYPESCRIPT_LOADER, '--test-reporter=tap', fixture], { reject: false, all: true });
    assert.notEqual(run.exitCode, 0, 'the fixture suite fails');
    assert.match(run.all, /simulated/);
    const dataDir = /DATA_DIR=(\S+)/.exec(run.all)?.[1];
    if (dataDir === undefined) return assert.fail(`the fixture did not start its cluster:\n${run.all}`);
    assert.equal(fs.existsSync(dataDir), false, `${dataDir} is still there`);
    const leftovers = fs
      .readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir);
        } catch {
          return false;
        }
      });
    assert.deepEqual(leftovers, [], 'no postgres process of that cluster is left');
  });
});
