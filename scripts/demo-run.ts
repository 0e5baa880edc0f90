// The demo itself (scripts/demo.ts reads the flags first and loads this only to run it): starts the
// storage, the cluster and the service, prints the tour, and on Ctrl-C stops what it started.
import fs from 'node:fs/promises';
import path from 'node:path';
import { createNotifiers, messageContext } from '../src/alerts/create-alert-service.ts';
import { dispatchMessage, realSleep } from '../src/alerts/dispatcher.ts';
import { formatTestMessage } from '../src/alerts/format-message.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createLogger } from '../src/logger.ts';
import { startSentinel, type Sentinel } from '../src/main.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../test/helpers/s3-server.ts';
import { pickAlertEnv, type DemoOptions } from './demo-args.ts';
import { createConsoleLogDestination } from './demo-log.ts';
import { renderTour, waitForFirstBackupAndCheck } from './demo-tour.ts';

const root = path.resolve(import.meta.dirname, '..');
const backupDir = path.resolve(process.env.DEMO_BACKUP_DIR ?? path.join(root, '.demo', 'backups'));
const cron = process.env.DEMO_CRON ?? '*/2 * * * *';
const BUCKET = 'demo-backups';
const PREFIX = 'shop_';

const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

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

// Things started so far, stopped in reverse order. Each entry awaits its start first, so a Ctrl-C
// while something is still starting waits for it and then stops it: nothing is left running.
const cleanups: { name: string; run: () => Promise<void> }[] = [];
let stopping: Promise<void> | undefined;
let keptLine = '';

function stop(code: number): void {
  if (stopping !== undefined) {
    say('Still stopping, one moment...');
    return;
  }
  stopping = (async () => {
    say(`\nStopping: ${cleanups.map((c) => c.name).reverse().join(', ') || 'nothing started yet'}...`);
    for (const cleanup of [...cleanups].reverse()) {
      await cleanup.run().catch((error: unknown) => {
        process.stderr.write(`Could not stop ${cleanup.name}: ${error instanceof Error ? error.message : String(error)}\n`);
      });
    }
    say(`Stopped; nothing is left running.${keptLine ? ` ${keptLine}` : ''}`);
    process.exit(code);
  })();
}

// Registers something that is starting; returns its start promise.
function track<T>(name: string, starting: Promise<T>, close: (started: T) => Promise<void>): Promise<T> {
  cleanups.push({
    name,
    run: async () => {
      const started = await starting.catch(() => undefined);
      if (started !== undefined) await close(started);
    },
  });
  return starting;
}

async function startStorage(options: DemoOptions): Promise<{ env: Record<string, string>; line: string; cli: string } | undefined> {
  if (options.dir) {
    await fs.mkdir(backupDir, { recursive: true });
    keptLine = `The backups stay in ${path.relative(process.cwd(), backupDir) || backupDir} (delete the folder to remove them).`;
    return {
      env: { BACKUP_DIR: backupDir },
      line: `local directory ${backupDir} (--dir)`,
      cli: `BACKUP_DIR=${backupDir} BACKUP_FILE_PREFIX=${PREFIX}`,
    };
  }
  say('Starting the in-process S3 server...');
  const s3 = await track<TestS3Server>('S3 server', startS3Server({ bucket: BUCKET }), (s) => s.close());
  if (stopping) return undefined;
  keptLine = 'The demo bucket goes with the S3 server: its temp dir is deleted (--dir keeps backups in .demo/backups).';
  const env = Object.entries(s3.env).map(([k, v]) => `${k}=${v}`).join(' ');
  return {
    // s3rver cannot keep lifecycle rules, so retention deletes old backups itself.
    env: { ...s3.env, RETENTION_MODE: 'prune' },
    line: `in-process S3 server ${s3.endpoint}, bucket "${BUCKET}" (files in ${s3.directory}, deleted on exit)`,
    cli: `${env} BACKUP_FILE_PREFIX=${PREFIX}`,
  };
}

async function main(options: DemoOptions): Promise<void> {
  const shellAlerts = pickAlertEnv(process.env);
  const alertEnv = options.alertsFromEnv ? shellAlerts : {};
  const alertNames = Object.keys(shellAlerts);
  if (!options.alertsFromEnv && alertNames.length > 0) {
    say(`Your shell sets ${alertNames.join(', ')}: the demo ignores them (it runs on a fresh environment). Pass --alerts-from-env to send the demo's alerts there.`);
  }
  if (options.alertsFromEnv && alertNames.length === 0) say('--alerts-from-env: your shell sets no SLACK_WEBHOOK_URL or SMTP_* variable; alerts go to the log.');
  if (options.alertsFromEnv && alertNames.length > 0) {
    say(`--alerts-from-env: the demo's alerts go to your ${alertNames.join(', ')} (values not shown); after the tour it sends one [TEST] message there.`);
  }
  const hasChannel = 'SLACK_WEBHOOK_URL' in alertEnv || 'SMTP_URL' in alertEnv || 'SMTP_HOST' in alertEnv;

  const storage = await startStorage(options);
  if (storage === undefined || stopping) return;
  say('Starting a throwaway PostgreSQL cluster with sample data...');
  const pg = await track<PgCluster>('PostgreSQL', startPgCluster(), (p) => p.stop());
  if (stopping) return;
  await createSampleData(pg);
  if (stopping) return;
  const port = process.env.PORT ? Number(process.env.PORT) : await freePort();
  // A fresh environment: the demo never picks up a real bucket, database or channel from the shell
  // (alert channels only with --alerts-from-env).
  const config = loadConfig({
    ...storage.env,
    ...alertEnv,
    BACKUP_DATABASE_URL: pg.url('shop'),
    BACKUP_FILE_PREFIX: PREFIX,
    BACKUP_CRON_SCHEDULE: cron,
    RUN_ON_STARTUP: 'true',
    BACKUP_COMPRESSION: process.env.BACKUP_COMPRESSION ?? 'gzip',
    PORT: String(port),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    SENTINEL_NAME: 'backup-sentinel demo',
  });
  const logger = options.jsonLogs ? createLogger(config.logLevel) : createLogger(config.logLevel, createConsoleLogDestination(process.stdout, { alertsToLog: !hasChannel }));
  say(
    [
      '',
      `PostgreSQL   postgres://${pg.superuser}:***@127.0.0.1:${pg.port}/shop  (password: ${pg.password})`,
      `Backups      ${storage.line}; one now, then every "${cron}" UTC`,
      `HTTP         http://127.0.0.1:${port}  (the tour below lists the URLs once the first backup is checked)`,
      `CLI          ${storage.cli} npm run cli -- list   (or check, verify)`,
      'Stop         Ctrl-C',
      '',
    ].join('\n'),
  );
  const sentinel = await track<Sentinel>('service', startSentinel({ config, logger, host: '127.0.0.1', port }), (s) => s.stop());
  if (stopping) return;
  const { backup } = await waitForFirstBackupAndCheck(sentinel);
  if (stopping) return;
  const channels = [alertEnv.SLACK_WEBHOOK_URL === undefined ? '' : 'Slack', alertEnv.SMTP_URL === undefined && alertEnv.SMTP_HOST === undefined ? '' : 'e-mail'].filter(Boolean);
  const tour = await renderTour({
    sentinel,
    config,
    logger,
    backup,
    storageLine: storage.line,
    keptLine: keptLine || 'nothing is kept',
    alertsLine: hasChannel
      ? `sent to your ${channels.join(' and ')} channel (--alerts-from-env), and logged`
      : 'no channel configured, so alerts go to the log lines marked ALERT (try a real one: export SLACK_WEBHOOK_URL or SMTP_*, then npm run demo -- --alerts-from-env)',
  });
  if (stopping) return;
  process.stdout.write(tour);
  if (hasChannel) await sendTestAlert(config, sentinel);
  if (options.exitAfterTour) {
    say('--exit-after-tour: stopping now.');
    stop(0);
  }
}

// A healthy demo fires no alert, so with --alerts-from-env it proves the channels with one [TEST] message
// (what `backup-sentinel alert-test` sends), and prints each channel's result.
async function sendTestAlert(config: ReturnType<typeof loadConfig>, sentinel: Sentinel): Promise<void> {
  const message = formatTestMessage(messageContext(config, sentinel.store), new Date());
  const results = await dispatchMessage(message, createNotifiers(config.alerts), {
    retry: { attempts: 2, baseDelayMs: 1_000, maxDelayMs: 5_000 },
    sleep: realSleep,
    signal: new AbortController().signal,
    logger: createLogger('silent'),
  });
  for (const r of results) {
    say(r.outcome === 'sent' ? `Test alert: sent to ${r.description}.` : `Test alert: ${r.channel} FAILED: ${r.error?.shortMessage ?? 'unknown error'}${r.error?.hint ? ` (what to do: ${r.error.hint})` : ''}`);
  }
}

export async function runDemo(options: DemoOptions): Promise<void> {
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  try {
    await main(options);
  } catch (error) {
    // Ctrl-C in a terminal also interrupts children (psql, pg_ctl), which then fail: give that SIGINT a
    // moment to arrive so a stop is not reported as a start-up failure.
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (stopping === undefined) {
      // startSentinel reports a taken port as a StartupError whose cause is the EADDRINUSE error.
      const failed = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
      const inUse = failed?.code === 'EADDRINUSE' || failed?.cause?.code === 'EADDRINUSE';
      const hint = inUse ? ` (PORT=${process.env.PORT ?? ''} is taken: choose another, or unset PORT and the demo picks a free one)` : '';
      process.stderr.write(`The demo could not start: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
      stop(1);
    }
  }
}
