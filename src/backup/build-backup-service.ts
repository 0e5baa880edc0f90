import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { BackupService } from './backup-service.ts';
import { runBackupJob, type BackupJobDeps, type RunContext } from './job.ts';
import { withGlobals } from './globals.ts';
import type { BackupResult } from './result.ts';
import { parseDatabaseUrl } from './connection.ts';
import type { Config } from '../config/types.ts';
import { createEncryptStream, isEncryptionEnabled } from '../crypto/age-encrypt.ts';
import type { Destination } from '../destinations/destination.ts';
import { Heartbeat } from '../heartbeat/heartbeat.ts';
import { backupEndReport } from '../heartbeat/ping-message.ts';
import type { Logger } from '../logger.ts';
import { listConnectableDatabases } from '../sets/list-databases.ts';
import { BackupSetsRunner } from '../sets/run-sets.ts';
import type { BackupStore } from '../storage/store.ts';

// How the configuration becomes a backup service (and, with several databases, its runner): the wiring
// `serve` and `backup` share.

// Everything one backup run needs, from the configuration (undefined in monitor-only mode).
function buildBackupJobDeps(config: Config, store: BackupStore, logger: Logger, destinations?: readonly Destination[]): BackupJobDeps | undefined {
  if (config.backup === undefined) return undefined;
  const encryption = config.encryption;
  return {
    settings: config.backup,
    location: config.location,
    store,
    destinations,
    logger: logger.child({ component: 'backup' }),
    extraStage: isEncryptionEnabled(encryption) ? { name: 'age', create: () => createEncryptStream(encryption) } : undefined,
  };
}

// With BACKUP_DATABASES: the runner that backs up every database of the selection as its own set.
// setName (SENTINEL_CONFIG): the set each database is. destinations: several (the first being `store`),
// each database's one dump copied to each.
export function buildBackupSetsRunner(
  config: Config,
  store: BackupStore,
  logger: Logger,
  setName?: (database: string) => string,
  destinations?: readonly Destination[],
): BackupSetsRunner | undefined {
  const deps = buildBackupJobDeps(config, store, logger, destinations);
  const backup = config.backup;
  if (deps === undefined || backup === undefined || config.databases === undefined) return undefined;
  return new BackupSetsRunner({
    job: deps,
    base: config.location,
    selection: config.databases,
    concurrency: backup.concurrency ?? 1,
    listDatabases: () => listConnectableDatabases(parseDatabaseUrl(backup.databaseUrl)),
    logger: logger.child({ component: 'backup' }),
    ...(setName === undefined ? {} : { setName }),
  });
}

// onGlobals: told the globals result of each run (BACKUP_GLOBALS), its own beside the database's.
// sets (BACKUP_DATABASES): each run backs up every set (buildBackupSetsRunner).
// gate (SENTINEL_CONFIG): what each run waits for first (its server's turn, src/sets/set-runtime.ts).
// destinations: several (the first being `store`): one dump, a copy in each.
export function buildBackupService(
  config: Config,
  store: BackupStore,
  logger: Logger,
  registry?: Registry,
  onGlobals?: (result: BackupResult) => void,
  sets?: BackupSetsRunner,
  gate?: (run: () => Promise<BackupResult>) => Promise<BackupResult>,
  destinations?: readonly Destination[],
): BackupService | undefined {
  const deps = buildBackupJobDeps(config, store, logger, destinations);
  if (deps === undefined || config.backup === undefined) return undefined;
  const url = config.alerts.backupHeartbeatUrl;
  const heartbeat = url === undefined ? undefined : new Heartbeat({ name: 'backup', url, logger, registry });
  const runDatabase =
    sets !== undefined
      ? (run: RunContext) => runSetsBackup(sets, run, heartbeat, config.alerts.name)
      : heartbeat === undefined
        ? (run: RunContext) => runBackupJob(deps, run)
        : (run: RunContext) => runTimedBackup(deps, run, heartbeat, config.alerts.name);
  const runBackup = config.backup.globals === true ? withGlobals(runDatabase, deps, onGlobals) : runDatabase;
  return new BackupService({
    runBackup: gate === undefined ? runBackup : (run) => gate(() => runBackup(run)),
    cron: config.backup.cron,
    timezone: config.cronTimezone,
    logger: logger.child({ component: 'backup-service' }),
  });
}

// A backup run that BACKUP_HEARTBEAT_URL times: a start ping once it holds the lock, the end ping
// (success or failure form) after it; one run id pairs them where the service supports it.
async function runTimedBackup(deps: BackupJobDeps, run: RunContext, heartbeat: Heartbeat, name: string): Promise<BackupResult> {
  const pingId = randomUUID();
  const result = await runBackupJob({ ...deps, onStarted: async () => { await heartbeat.ping('start', `${name}: backup ${run.runId} started`, pingId); } }, run);
  const report = backupEndReport(result, name);
  if (report !== undefined) await heartbeat.ping(report.event, report.message, pingId);
  return result;
}

// A run over every backup set; BACKUP_HEARTBEAT_URL (when set) times the whole run: a start ping when it
// begins, the end ping from the run's overall result (failed when any set failed).
async function runSetsBackup(sets: BackupSetsRunner, run: RunContext, heartbeat: Heartbeat | undefined, name: string): Promise<BackupResult> {
  const pingId = randomUUID();
  if (heartbeat !== undefined) await heartbeat.ping('start', `${name}: backup ${run.runId} started`, pingId);
  const { aggregate } = await sets.run(run);
  const report = heartbeat === undefined ? undefined : backupEndReport(aggregate, name);
  if (heartbeat !== undefined && report !== undefined) await heartbeat.ping(report.event, report.message, pingId);
  return aggregate;
}
