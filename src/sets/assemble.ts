import type { Registry } from 'prom-client';
import type { BackupService } from '../backup/backup-service.ts';
import { buildBackupService, buildBackupSetsRunner } from '../backup/build-backup-service.ts';
import { BackupHeartbeats } from '../heartbeat/backup-heartbeat.ts';
import { globalsLocation } from '../backup/globals.ts';
import type { BackupResult } from '../backup/result.ts';
import type { Config, Location } from '../config/types.ts';
import type { Finding } from '../core/findings.ts';
import { databaseLocation, isSetBackupKey, keyPrefix } from '../core/naming.ts';
import type { Destination } from '../destinations/destination.ts';
import { destinationMonitors, destinationRetentionScope, destinationVerifyScope, storeOf } from '../destinations/destination-sets.ts';
import { pairsOfSet } from '../destinations/set-destinations.ts';
import { toBackupRunRecord } from '../monitor/backup-runs.ts';
import { resultAt } from '../backup/result.ts';
import type { Logger } from '../logger.ts';
import { MonitorRunner } from '../monitor/runner.ts';
import { buildVerifyService } from '../restore/build-verify-service.ts';
import type { VerifyService } from '../restore/verify-service.ts';
import { createRetentionService, type RetentionService } from '../retention/retention-service.ts';
import { hasIncompleteUploads, type BackupStore, type IncompleteUploadStore } from '../storage/store.ts';
import { UploadSweeper } from '../storage/upload-sweeper.ts';
import { UploadSweepers } from '../storage/upload-sweepers.ts';
import type { BackupSetsRunner } from './run-sets.ts';
import { FileSets } from './set-runtime.ts';
import { SetMonitors } from './set-monitors.ts';
import { SetRetention } from './set-retention.ts';
import { SetVerify } from './set-verify.ts';
import { unitNaming, type UnitNaming } from './unit-naming.ts';

// The units the service watches, assembled from the configuration: the one database in one place, the
// sets (BACKUP_DATABASES, SENTINEL_CONFIG) or the destinations, each with its backup service(s), monitor,
// retention and verification. main.ts wires what comes back to alerts, HTTP and the lease.

export interface UnitsOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
  // In order; the first keeps the alert state and the lease.
  destinations: readonly Destination[];
  // BACKUP_GLOBALS: told each run's globals result.
  onGlobals: (result: BackupResult) => void;
}

export interface Units {
  // SENTINEL_CONFIG: each set of the file, with its own backup service.
  fileSets: FileSets | undefined;
  // BACKUP_DATABASES: the runner over the databases.
  setsRunner: BackupSetsRunner | undefined;
  // The one backup service (undefined in monitor-only mode and with SENTINEL_CONFIG).
  backupService: BackupService | undefined;
  // Every backup service (SENTINEL_CONFIG: one per set of the file).
  backupServices: BackupService[];
  // A monitor per unit, or the one monitor (exactly one of the two is defined).
  setMonitors: SetMonitors | undefined;
  singleMonitor: MonitorRunner | undefined;
  monitorFindings: () => Finding[];
  retention: RetentionService;
  setRetention: SetRetention | undefined;
  verify: VerifyService;
  setVerify: SetVerify | undefined;
  uploadSweeper: UploadSweepers | undefined;
  // A set becomes known (configured, listed or backed up): its unit's (with several destinations: each
  // of its units') monitor, retention and verification from then on.
  addSet: (set: string) => void;
  // A set's backup result, told to its unit's monitor (each destination's as that destination saw it).
  feed: (set: string, result: BackupResult) => void;
  // What the units are and how findings and metrics name them: every consumer names a unit this way.
  naming: UnitNaming;
}

export function assembleUnits({ config, logger, registry, destinations, onGlobals }: UnitsOptions): Units {
  const store = (destinations[0] as Destination).store;
  const several = destinations.length > 1 ? destinations : undefined;
  const naming = unitNaming(config, destinations);
  // Sets in several destinations: each (set, destination) is a unit of its own, named by pairKey.
  const pairs = naming.kind === 'set+destination';
  // Names the configuration checked: an unknown one is a wiring bug, thrown rather than read as the first.
  const byName = (name: string): Destination => storeOf(destinations, name);
  // A set's own destinations (SENTINEL_CONFIG `destinations`), as created; the first holds its store.
  const ownDestinations = (own: Config): readonly Destination[] => (own.destinations === undefined ? destinations : own.destinations.map((d) => byName(d.name)));
  // SENTINEL_CONFIG: each set of the file backs up on its own schedule; the one service below is then unused.
  // Sets sharing BACKUP_HEARTBEAT_URL share its heartbeat: one set's success must not hide another's failure.
  const heartbeats = new BackupHeartbeats(logger, registry);
  const fileSets =
    config.sets === undefined
      ? undefined
      : new FileSets(config, {
          setsRunner: (own, setName) => {
            const mine = ownDestinations(own);
            return buildBackupSetsRunner(own, (mine[0] as Destination).store, logger, setName, pairs ? mine : undefined);
          },
          backupService: (name, own, runner, gate) => {
            const mine = ownDestinations(own);
            return buildBackupService(own, (mine[0] as Destination).store, logger.child({ set: name }), {
              registry,
              sets: runner,
              gate,
              destinations: pairs ? mine : undefined,
              set: name,
              heartbeats,
            });
          },
        });
  const setsRunner = fileSets === undefined ? buildBackupSetsRunner(config, store, logger, undefined, pairs ? several : undefined) : undefined;
  const backupService = fileSets === undefined ? buildBackupService(config, store, logger, { registry, onGlobals, sets: setsRunner, destinations: several }) : undefined;
  const backupServices = fileSets?.services() ?? (backupService === undefined ? [] : [backupService]);
  const firstBackupAtStart = backupService !== undefined && (config.backup?.runOnStartup ?? false);
  // BACKUP_DATABASES: a monitor per set, each on its own folder; several destinations: one per
  // destination (src/destinations); else the one monitor, as always.
  // SENTINEL_CONFIG: a set's folder and settings are its own (fileSets.of), else the database's folder.
  const setOf = naming.setOf;
  // Sets in several destinations: the destination a pair is in.
  const storeOfUnit = (unit: string): Destination => byName(naming.destinationOf(unit) as string);
  const locate = (unit: string): Location => {
    const set = setOf(unit);
    return fileSets?.location(set) ?? databaseLocation(config.location, set);
  };
  const setMonitors =
    config.databases === undefined && fileSets === undefined
      ? several && destinationMonitors(several, { config, settings: config.monitor, logger, firstBackupAtStart, tag: naming.tag })
      : new SetMonitors({
          store,
          settings: config.monitor,
          timezone: config.cronTimezone,
          logger,
          location: locate,
          firstBackupAtStart,
          ...(fileSets === undefined
            ? {}
            : {
                settingsOf: (unit: string) => fileSets.of(setOf(unit))?.config.monitor ?? config.monitor,
                settingNamesOf: (unit: string) => fileSets.of(setOf(unit))?.config.settingNames,
                firstBackupAtStartOf: (unit: string) => fileSets.of(setOf(unit))?.config.backup?.runOnStartup === true,
              }),
          tag: naming.tag,
          ...(pairs ? { storeOf: (unit: string) => storeOfUnit(unit).store } : {}),
        });
  const singleMonitor =
    setMonitors !== undefined
      ? undefined
      : new MonitorRunner({ store, location: config.location, settings: config.monitor, timezone: config.cronTimezone, logger, firstBackupAtStart });
  const monitorFindings = (): Finding[] => setMonitors?.findings() ?? singleMonitor?.snapshot().lastCheck?.findings ?? [];
  // Every configuration has a retention service; RETENTION_DAYS=0 is its mode 'off' (no runs, metrics say off).
  // With BACKUP_DATABASES each set has its own (setRetention, whose metrics carry the set) and this one stays off, without metrics.
  const retention =
    setMonitors === undefined
      ? createRetentionService(config, { store, logger, registry, currentFindings: () => monitorFindings() })
      : createRetentionService({ ...config, retention: { ...config.retention, days: 0 } }, { store, logger });
  const setRetention =
    setMonitors === undefined
      ? undefined
      : new SetRetention({
          config,
          store,
          logger,
          registry,
          location: locate,
          currentFindings: (set) => setMonitors.get(set)?.snapshot().lastCheck?.findings,
          naming,
          ...(fileSets === undefined ? {} : { configOf: (unit: string) => fileSets.of(setOf(unit))?.config ?? config }),
          ...(several && !pairs && destinationRetentionScope(several, config)),
          ...(pairs && {
            storeOf: (unit: string) => {
              const d = storeOfUnit(unit);
              return { store: d.store, storage: d.storage ?? config.storage };
            },
          }),
        });
  const verify = buildVerifyService(config, store, logger);
  // With BACKUP_DATABASES each set is verified on its own (and `verify` above stays unscheduled).
  const setVerify =
    setMonitors === undefined
      ? undefined
      : pairs
        ? new SetVerify(
            config,
            store,
            logger,
            (unit) => fileSets?.of(setOf(unit)) ?? { config: { ...config, location: locate(unit) }, database: setOf(unit) },
            { location: locate, store: (unit) => storeOfUnit(unit).store },
            naming.tag,
          )
        : naming.kind === 'destination'
          ? new SetVerify(config, store, logger, undefined, destinationVerifyScope(several as readonly Destination[], config), naming.tag)
          : new SetVerify(config, store, logger, fileSets === undefined ? undefined : (set) => fileSets.of(set), undefined, naming.tag);
  const unitsOf = (set: string): string[] => (pairs ? pairsOfSet(config, destinations, set) : [set]);
  const addSet = (set: string): void => {
    for (const unit of unitsOf(set)) {
      setRetention?.ensure(unit);
      setVerify?.ensure(unit);
      setMonitors?.ensure(unit);
    }
  };
  const feed = (set: string, result: BackupResult): void => {
    addSet(set);
    for (const unit of unitsOf(set)) {
      const destination = naming.destinationOf(unit);
      const record = toBackupRunRecord(destination === undefined ? result : resultAt(result, destination));
      if (record !== undefined) void setMonitors?.get(unit)?.afterBackupRun(record);
    }
  };
  // With SENTINEL_CONFIG, BACKUP_DATABASES is only each set's default (the sets are <name>/<database>).
  if (config.databases?.kind === 'names' && fileSets === undefined) for (const set of config.databases.names) addSet(set);
  for (const set of fileSets?.configured() ?? []) addSet(set);
  if (!pairs) for (const d of several ?? []) addSet(d.name);
  // Only where this service writes backups (so its key may abort uploads) and storage has multipart uploads.
  // Backup sets write under `[subfolder/]<set>/<prefix>...` and globals under `[subfolder/]@globals/<prefix>...`:
  // then the sweep lists the subfolder and keeps to those names; else only `[subfolder/]<prefix>`, as always.
  const globalsPrefix = config.backup?.globals === true ? keyPrefix(globalsLocation(config.location)) : undefined;
  const sweepsSubfolder = config.databases !== undefined || globalsPrefix !== undefined;
  const ownUpload = (key: string): boolean =>
    fileSets?.ownsKey(key) ??
    ((config.databases === undefined ? key.startsWith(keyPrefix(config.location)) : isSetBackupKey(config.location, key)) || (globalsPrefix !== undefined && key.startsWith(globalsPrefix)));
  // A sweeper per destination that has multipart uploads (every bucket of several), seen as one.
  const prefix = fileSets?.commonPrefix() ?? (!sweepsSubfolder ? keyPrefix(config.location) : config.location.subfolder === '' ? '' : `${config.location.subfolder}/`);
  const swept = backupServices.length === 0 ? [] : destinations.filter((d) => hasIncompleteUploads(d.store));
  const uploadSweeper =
    swept.length === 0
      ? undefined
      : new UploadSweepers(
          swept.map((d) => ({
            destination: d.name,
            where: `${d.store.description}/${prefix}`,
            sweeper: new UploadSweeper({ store: d.store as BackupStore & IncompleteUploadStore, prefix, ours: fileSets !== undefined || sweepsSubfolder ? ownUpload : undefined, logger: several ? logger.child({ destination: d.name }) : logger }),
          })),
          registry,
        );
  return { fileSets, setsRunner, backupService, backupServices, setMonitors, singleMonitor, monitorFindings, retention, setRetention, verify, setVerify, uploadSweeper, addSet, feed, naming };
}
