import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { freePort } from '../test/helpers/free-port.ts';
import { findPgBinDir } from '../test/helpers/pg-cluster.ts';

// The benchmark database, built once into .bench-cache/pg and reused: a cluster whose plain dump is
// over 1 GB of mixed data (text, numbers, jsonb, timestamps, indexes), generated with SQL.

export interface BenchCluster {
  port: number;
  password: string;
  binDir: string;
  url(database?: string): string;
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

const PASSWORD = 'bench-pw';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const asServerUser = (command: string, args: string[]): [string, string[]] =>
  isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];

// Rows of the main table; about 260 bytes of dump text each (4.2 M: a 1.1 GB plain dump).
const EVENT_ROWS = Number(process.env.BENCH_ROWS ?? 4_200_000);
const BATCH = 500_000;

async function generate(cluster: BenchCluster, log: (line: string) => void): Promise<void> {
  await cluster.psql('CREATE DATABASE bench');
  await cluster.psql(
    `CREATE TABLE users (id int PRIMARY KEY, name text, email text, country char(2), signed_up timestamptz, settings jsonb);
     INSERT INTO users SELECT i, 'User ' || i || ' ' || substr(md5(i::text), 1, 8), 'user' || i || '@example.org',
       (ARRAY['DE','FR','US','GB','BR','IN','JP','NL'])[1 + i % 8], timestamptz '2019-01-01' + i * interval '7 minutes',
       jsonb_build_object('theme', (ARRAY['dark','light'])[1 + i % 2], 'newsletter', i % 3 = 0, 'lang', (ARRAY['de','fr','en','pt'])[1 + i % 4])
     FROM generate_series(1, 200000) i;
     CREATE TABLE events (id bigint PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL, amount numeric(12,2), score double precision,
       created_at timestamptz NOT NULL, payload jsonb, note text);`,
    'bench',
  );
  await insertEvents(cluster, 1, log);
  log('  indexes and analyze');
  await cluster.psql('CREATE INDEX events_user ON events(user_id); CREATE INDEX events_created ON events(created_at); VACUUM ANALYZE;', 'bench');
}

async function insertEvents(cluster: BenchCluster, from: number, log: (line: string) => void): Promise<void> {
  for (let start = from; start <= EVENT_ROWS; start += BATCH) {
    const end = Math.min(EVENT_ROWS, start + BATCH - 1);
    log(`  events ${start}..${end} of ${EVENT_ROWS}`);
    await cluster.psql(
      `INSERT INTO events
       SELECT i, 1 + (hashint4(i) & 2147483647) % 200000,
         (ARRAY['page_view','click','add_to_cart','purchase','refund','login','logout','search'])[1 + (hashint4(i * 7) & 7)],
         round(((hashint4(i * 13) & 65535) / 37.0)::numeric, 2),
         (hashint4(i * 17) & 1048575) / 1048576.0,
         timestamptz '2023-01-01' + i * interval '3 seconds',
         jsonb_build_object('ip', '10.' || (i % 250) || '.' || (i * 7 % 250) || '.' || (i * 13 % 250),
                            'session', md5((i / 5)::text),
                            'request', substr(md5((i * 31)::text), 1, 16),
                            'path', '/products/' || (hashint4(i * 3) & 4095) || '/reviews',
                            'ref', (ARRAY['google','newsletter','direct','partner'])[1 + (i % 4)]),
         CASE WHEN i % 2 = 0 THEN 'customer asked about order ' || (i / 2) || ': ' || md5(i::text) ELSE NULL END
       FROM generate_series(${start}, ${end}) i`,
      'bench',
    );
  }
}

// Starts the cached cluster, building it first when missing (a few minutes, once).
export async function startBenchCluster(cacheDir: string, log: (line: string) => void): Promise<BenchCluster> {
  const binDir = findPgBinDir();
  const base = path.join(cacheDir, 'pg');
  const dataDir = path.join(base, 'data');
  const ready = path.join(base, 'READY');
  const socketDir = path.join(base, 'sock');
  const fresh = !fs.existsSync(ready);
  if (fresh) {
    await fsp.rm(base, { recursive: true, force: true });
    await fsp.mkdir(socketDir, { recursive: true });
    const pwFile = path.join(base, 'pw');
    await fsp.writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (isRoot) await execa('chown', ['-R', 'postgres:postgres', base]);
    const [cmd, args] = asServerUser(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '--auth', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8', '--no-sync']);
    await execa(cmd, args);
  }
  const port = await freePort();
  const opts = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB -c maintenance_work_mem=256MB`;
  const [ctl, ctlArgs] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-o', opts, '-l', path.join(base, 'server.log'), '-w', '-t', '120', 'start']);
  await execa(ctl, ctlArgs);
  const psqlBin = path.join(binDir, 'psql');
  const cluster: BenchCluster = {
    port,
    password: PASSWORD,
    binDir,
    url: (database = 'bench') => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    async psql(sql, database = 'postgres') {
      const r = await execa(psqlBin, ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database], {
        input: sql,
        env: { PGPASSWORD: PASSWORD },
      });
      return r.stdout.trim();
    },
    async stop() {
      const [c, a] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      await execa(c, a, { reject: false });
    },
  };
  if (fresh) {
    log(`Building the benchmark database (once; cached in ${base})...`);
    try {
      await generate(cluster, log);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    await fsp.writeFile(ready, new Date().toISOString());
  } else {
    // A cache built with fewer rows (an older BENCH_ROWS) grows to the current size.
    const have = Number(await cluster.psql('SELECT coalesce(max(id), 0) FROM events', 'bench'));
    if (have < EVENT_ROWS) {
      log(`Growing the cached benchmark database from ${have} to ${EVENT_ROWS} events (once)...`);
      await insertEvents(cluster, have + 1, log);
      await cluster.psql('VACUUM ANALYZE events', 'bench');
    }
  }
  return cluster;
}
