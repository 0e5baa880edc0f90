import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { Secret } from '../../src/config/secret.ts';
import type { BackupSettings, Compression, DumpFormat } from '../../src/config/types.ts';
import type { ExtraStage } from '../../src/backup/job.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import type { PgCluster } from '../helpers/pg-cluster.ts';

// Shared pieces of the backup tests: sample data, settings, restore and comparison.

export const TRICKY_PASSWORD = "p@ss w'rd;$x";
export const SPACED_DB = 'shop data';

// Creates tables with text, numbers, jsonb, timestamps and an index; `rows` controls the size.
export async function createSampleData(pg: PgCluster, database: string, rows = 2000): Promise<void> {
  await pg.psql(
    `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, created_at timestamptz NOT NULL);
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2), details jsonb, placed_at timestamptz);
     CREATE INDEX orders_customer ON orders(customer_id);
     INSERT INTO customers (name, email, created_at)
       SELECT 'Customer ' || i || ' ' || md5(i::text), 'c' || i || '@example.com', timestamptz '2024-01-01' + i * interval '1 minute'
       FROM generate_series(1, ${rows}) i;
     INSERT INTO orders (customer_id, total, details, placed_at)
       SELECT 1 + (i % ${rows}), round((i * 7.31)::numeric % 1000, 2),
              jsonb_build_object('sku', md5((i * 3)::text), 'qty', i % 9, 'note', E'line\\ttab ''quote'' ' || i),
              timestamptz '2024-06-01' + i * interval '17 seconds'
       FROM generate_series(1, ${rows * 3}) i;`,
    database,
  );
}

// Row counts and an md5 over every row, per table: equal on two databases means equal data.
export async function fingerprint(pg: PgCluster, database: string): Promise<string> {
  return await pg.psql(
    `SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c)
       || ' ' || (SELECT count(*) FROM orders) || ' ' || (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o)`,
    database,
  );
}

export function backupSettings(url: string, overrides: Partial<BackupSettings> = {}): BackupSettings {
  return {
    databaseUrl: new Secret(url),
    cron: '0 3 * * *',
    runOnStartup: false,
    singleShot: false,
    format: 'plain',
    compression: { algorithm: 'gzip', level: undefined },
    options: [],
    pgDumpPath: undefined,
    ...overrides,
  };
}

// Reads a whole object from the store.
export async function download(store: BackupStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    await store.get(key),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

export async function decompress(data: Buffer, compression: Compression): Promise<Buffer> {
  if (compression.algorithm === 'gzip') return zlib.gunzipSync(data);
  if (compression.algorithm === 'zstd') {
    const result = await execa('zstd', ['-d', '-c', '-q'], { input: data, encoding: 'buffer', stripFinalNewline: false });
    return Buffer.from(result.stdout);
  }
  return data;
}

// Restores a dump into a new database with psql (plain) or pg_restore (custom).
export async function restoreInto(pg: PgCluster, database: string, dump: Buffer, format: DumpFormat): Promise<void> {
  await pg.createDatabase(database);
  const conn = ['-h', pg.host, '-p', String(pg.port), '-U', pg.superuser, '-d', database];
  const env = { PGPASSWORD: pg.password };
  if (format === 'plain') {
    await execa(path.join(pg.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...conn], { input: dump, env });
  } else {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'restore-'));
    try {
      const file = path.join(dir, 'backup.dump');
      await fs.writeFile(file, dump);
      await execa(path.join(pg.binDir, 'pg_restore'), ['--exit-on-error', '--no-owner', ...conn, file], { env });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

// An extra pipeline stage that holds the first chunk until whileHeld() settles: the dump is then provably
// in progress (pg_dump connected, streaming, blocked on a full pipe) for as long as the test needs.
export function holdFirstChunk(whileHeld: () => Promise<void>): ExtraStage {
  return {
    name: 'age',
    create() {
      let first = true;
      return new Transform({
        transform(chunk: Buffer, _e, callback) {
          if (!first) return callback(null, chunk);
          first = false;
          whileHeld().then(
            () => callback(null, chunk),
            (error: unknown) => callback(error as Error),
          );
        },
      });
    },
  };
}
