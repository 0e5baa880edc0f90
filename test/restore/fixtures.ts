import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { Command } from '../../src/commands/command.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { Secret } from '../../src/config/secret.ts';
import type { CompressionAlgorithm, DumpFormat, Location } from '../../src/config/types.ts';
import { runBackupJob, type ExtraStage } from '../../src/backup/job.ts';
import type { BackupManifest } from '../../src/backup/manifest.ts';
import { backupKey, manifestKey } from '../../src/core/naming.ts';
import { silentLogger, type Logger } from '../../src/logger.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import type { PgCluster } from '../helpers/pg-cluster.ts';

export const LOCATION: Location = { subfolder: 'db', prefix: 'app_' };

export async function tempDirStore(): Promise<{ store: DirStore; dir: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'restore-test-'));
  return { store: new DirStore(dir), dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

// Sample data with awkward names: a table with a space, text with tabs/newlines/backslashes, JSON.
export async function seedDatabase(pg: PgCluster, db: string, rows = 500): Promise<void> {
  await pg.createDatabase(db);
  await pg.psql(
    `CREATE TABLE customers (id int PRIMARY KEY, name text, note text, data jsonb);
     INSERT INTO customers SELECT g, 'name ' || g, E'tab\\there\\nnewline \\\\ backslash ' || g, jsonb_build_object('n', g)
       FROM generate_series(1, ${rows}) g;
     CREATE TABLE "order items" (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), qty int);
     INSERT INTO "order items" (customer_id, qty) SELECT 1 + (g % ${rows}), g FROM generate_series(1, ${rows * 2}) g;
     CREATE SCHEMA audit;
     CREATE TABLE audit.log (at timestamptz DEFAULT now(), msg text);
     INSERT INTO audit.log (msg) VALUES ('one'), ('two');
     CREATE TABLE empty_table (x int);
     ANALYZE;`,
    db,
  );
}

// One backup through the real backup pipeline (pg_dump -> compression -> store + manifest).
export async function takeBackup(
  pg: PgCluster,
  db: string,
  store: BackupStore,
  options: { format: DumpFormat; compression: CompressionAlgorithm; at: Date; logger?: Logger; location?: Location; extraStage?: ExtraStage },
): Promise<string> {
  const result = await runBackupJob(
    {
      settings: {
        databaseUrl: new Secret(pg.url(db)),
        cron: '0 3 * * *',
        runOnStartup: false,
        singleShot: true,
        format: options.format,
        compression: { algorithm: options.compression, level: options.compression === 'gzip' ? 1 : undefined },
        options: [],
        pgDumpPath: undefined,
      },
      location: options.location ?? LOCATION,
      store,
      logger: options.logger ?? silentLogger(),
      clock: () => options.at,
      extraStage: options.extraStage,
    },
    { runId: `test-${options.at.getTime()}`, trigger: 'manual' },
  );
  if (result.status !== 'success') throw new Error(`test backup failed: ${JSON.stringify(result)}`);
  return result.key;
}

// Stores hand-made bytes as a backup with a correct manifest (e.g. a dump that is broken on purpose).
export async function storeRawBackup(store: BackupStore, at: Date, format: DumpFormat, body: Buffer, location: Location = LOCATION): Promise<string> {
  const key = backupKey(location, at, { format, compression: 'none', encrypted: false });
  await store.put(key, Readable.from([body]));
  const manifest: BackupManifest = {
    manifestVersion: 1,
    key,
    sha256: createHash('sha256').update(body).digest('hex'),
    size: body.length,
    uncompressedSize: body.length,
    format,
    compression: 'none',
    compressionLevel: undefined,
    encryption: 'none',
    pgDumpVersion: '15',
    serverVersion: '15',
    database: 'hand-made',
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    durationMs: 0,
    parts: 1,
    runId: 'hand-made',
  };
  await store.put(manifestKey(key), Readable.from([Buffer.from(JSON.stringify(manifest))]));
  return key;
}

export async function readObject(dir: string, key: string): Promise<Buffer> {
  return await fs.readFile(path.join(dir, key));
}

export async function writeObject(dir: string, key: string, body: Buffer): Promise<void> {
  await fs.writeFile(path.join(dir, key), body);
}

export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

// Runs a CLI command in-process with the configuration `env` describes, and keeps what it printed.
export async function runCommand(command: Command, args: string[], env: Record<string, string>): Promise<CommandOutcome> {
  const out: string[] = [];
  const err: string[] = [];
  const into = (chunks: string[]) => new Writable({ write: (c: Buffer, _e, cb) => { chunks.push(c.toString()); cb(); } });
  const code = await command.run(args, {
    config: loadConfig(env),
    logger: silentLogger(),
    stdout: into(out),
    stderr: into(err),
    stopSignal: new AbortController().signal,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
