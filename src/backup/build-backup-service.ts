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
import { BackupHeartbeats, type BackupHeartbeat } from '../heartbeat/backup-heartbeat.ts';
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
    settingNames: config.settingNames,
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

export interface BackupServiceOptions {
  registry?: Registry | undefined;
  // Told the globals result of each run (BACKUP_GLOBALS), its own beside the database's.
  onGlobals?: ((result: BackupResult) => void) | undefined;
  // BACKUP_DATABASES: each run backs up every set (buildBackupSetsRunner).
  sets?: BackupSetsRunner | undefined;
  // SENTINEL_CONFIG: what each run waits for first (its server's turn, src/sets/set-runtime.ts).
  gate?: ((run: () => Promise<BackupResult>) => Promise<BackupResult>) | undefined;
  // Several (the first being `store`): one dump, a copy in each.
  destinations?: readonly Destination[] | undefined;
  // SENTINEL_CONFIG: the set this service backs up, named in its heartbeat pings ...
  set?: string | undefined;
  // ... and the process's BACKUP_HEARTBEAT_URL heartbeats, which the services of sets sharing one URL
  // must share (backup-heartbeat.ts). Without it the service has its own.
  heartbeats?: BackupHeartbeats | undefined;
}

export function buildBackupService(config: Config, store: BackupStore, logger: Logger, options: BackupServiceOptions = {}): BackupService | undefined {
  const { sets, gate, onGlobals } = options;
  const deps = buildBackupJobDeps(config, store, logger, options.destinations);
  if (deps === undefined || config.backup === undefined) return undefined;
  const url = config.alerts.backupHeartbeatUrl;
  const heartbeat = url === undefined ? undefined : (options.heartbeats ?? new BackupHeartbeats(logger, options.registry)).for(url);
  const name = options.set === undefined ? config.alerts.name : `${config.alerts.name}, set ${options.set}`;
  const runDatabase =
    sets !== undefined
      ? (run: RunContext) => runSetsBackup(sets, run, heartbeat, name)
      : heartbeat === undefined
        ? (run: RunContext) => runBackupJob(deps, run)
        : (run: RunContext) => runTimedBackup(deps, run, heartbeat, name);
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
async function runTimedBackup(deps: BackupJobDeps, run: RunContext, heartbeat: BackupHeartbeat, name: string): Promise<BackupResult> {
  const pingId = randomUUID();
  const result = await runBackupJob({ ...deps, onStarted: () => heartbeat.start(`${name}: backup ${run.runId} started`, pingId) }, run);
  const report = backupEndReport(result, name);
  if (report !== undefined) await heartbeat.end(name, report, pingId);
  return result;
}

// A run over every backup set; BACKUP_HEARTBEAT_URL (when set) times the whole run: a start ping when it
// begins, the end ping from the run's overall result (failed when any set failed).
async function runSetsBackup(sets: BackupSetsRunner, run: RunContext, heartbeat: BackupHeartbeat | undefined, name: string): Promise<BackupResult> {
  const pingId = randomUUID();
  if (heartbeat !== undefined) await heartbeat.start(`${name}: backup ${run.runId} started`, pingId);
  const { aggregate } = await sets.run(run);
  const report = heartbeat === undefined ? undefined : backupEndReport(aggregate, name);
  if (heartbeat !== undefined && report !== undefined) await heartbeat.end(name, report, pingId);
  return aggregate;
}
