// `npm run demo`: backup-sentinel on embedded defaults. Starts a throwaway PostgreSQL cluster with
// sample data (as the test harness does), stores backups in .demo/backups, takes one backup at start
// and then follows a short schedule. Ctrl-C stops the service and the cluster; nothing keeps running.
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../src/config/load-config.ts';
import { ConfigError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { startSentinel, type Sentinel } from '../src/main.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.ts';

const root = path.resolve(import.meta.dirname, '..');
const demoDir = path.join(root, '.demo');
const backupDir = path.join(demoDir, 'backups');
const cron = process.env.DEMO_CRON ?? '*/2 * * * *';

async function createSampleData(pg: PgCluster): Promise<void> {
  await pg.createDatabase('shop');
  await pg.psql(
    `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, created_at timestamptz NOT NULL);
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2), details jsonb, placed_at timestamptz);
     CREATE INDEX orders_customer ON orders(customer_id);
     INSERT INTO customers (name, email, created_at)
       SELECT 'Customer ' || i, 'customer' || i || '@example.com', now() - i * interval '1 hour' FROM generate_series(1, 20000) i;
     INSERT INTO orders (customer_id, total, details, placed_at)
       SELECT 1 + (i % 20000), round((random() * 500)::numeric, 2),
              jsonb_build_object('sku', md5(i::text), 'qty', 1 + i % 5, 'gift', i % 7 = 0), now() - i * interval '5 minutes'
       FROM generate_series(1, 100000) i;`,
    'shop',
  );
}

async function main(): Promise<void> {
  let starting: Promise<PgCluster> | undefined;
  let sentinel: Sentinel | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (code: number) => {
    stopping ??= (async () => {
      process.stdout.write('\nStopping: service, then the PostgreSQL cluster...\n');
      await sentinel?.stop().catch(() => {});
      // A cluster still starting is waited for, then stopped: nothing is left running.
      const pg = await starting?.catch(() => undefined);
      await pg?.stop().catch(() => {});
      process.stdout.write(`Stopped; nothing is left running. The backups stay in ${path.relative(process.cwd(), backupDir) || backupDir} (delete .demo/ to remove them).\n`);
      process.exit(code);
    })();
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  try {
    process.stdout.write('Starting a throwaway PostgreSQL cluster with sample data...\n');
    starting = startPgCluster();
    const pg = await starting;
    await createSampleData(pg);
    await fs.mkdir(backupDir, { recursive: true });
    const port = process.env.PORT ? Number(process.env.PORT) : await freePort();
    // A fresh environment: the demo never picks up a real bucket or database from the shell.
    const config = loadConfig({
      BACKUP_DATABASE_URL: pg.url('shop'),
      BACKUP_DIR: backupDir,
      BACKUP_FILE_PREFIX: 'shop_',
      BACKUP_CRON_SCHEDULE: cron,
      RUN_ON_STARTUP: 'true',
      BACKUP_COMPRESSION: process.env.BACKUP_COMPRESSION ?? 'gzip',
      PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      SENTINEL_NAME: 'backup-sentinel demo',
    });
    const logger = createLogger(config.logLevel);
    process.stdout.write(
      [
        '',
        `PostgreSQL   postgres://${pg.superuser}:***@127.0.0.1:${pg.port}/shop  (password: ${pg.password})`,
        `Backups      ${backupDir}  (one now, then every "${cron}" UTC)`,
        `HTTP         http://127.0.0.1:${port}/status   /livez  /health  /metrics`,
        `List them    BACKUP_DIR=${backupDir} BACKUP_FILE_PREFIX=shop_ npm run cli -- list`,
        'Stop         Ctrl-C (stops the service and the cluster)',
        '',
        '',
      ].join('\n'),
    );
    if (stopping) return;
    sentinel = await startSentinel({ config, logger, host: '127.0.0.1', port });
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
    stop(1);
  }
}

await main();
