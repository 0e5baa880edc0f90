import type { Secret } from '../config/secret.ts';
import { nameSettings } from '../config/setting-names.ts';
import { createNotifiers } from '../alerts/create-alert-service.ts';
import { describeDelivery, NO_CHANNEL_HINT, sendTestAlert } from '../alerts/send-test-alert.ts';
import type { Config } from '../config/types.ts';
import { isHttpAuthEnabled, isLoopbackHost } from '../http/auth.ts';
import { errForLog, SentinelError, shortMessageOf } from '../errors.ts';
import type { Destination } from '../destinations/destination.ts';
import { currentSetNames } from '../sets/list-databases.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { Heartbeat } from '../heartbeat/heartbeat.ts';
import type { DoctorCheck } from './checklist.ts';
import { checkDatabase } from './database.ts';
import { databaseScopes, databaseSetName, labelled, storageScopes, type DatabaseScope } from './doctor-scope.ts';
import { checkLifecycleAccess, probeStorage } from './storage-probe.ts';

// What `doctor` checks, in the order it prints them. Each check catches its own errors.

// The configuration loaded (the CLI stops before any command when it does not): what it amounts to.
function describeConfiguration(config: Config, destinations: readonly Destination[]): DoctorCheck[] {
  const storage = destinations.length === 1 ? `storage ${destinations[0]?.store.description ?? ''}` : `${destinations.length} destinations: ${destinations.map((d) => `${d.name} (${d.store.description})`).join(', ')}`;
  const backups =
    config.sets !== undefined
      ? `${config.sets.length} backup set${config.sets.length === 1 ? '' : 's'} from SENTINEL_CONFIG: ${config.sets.map((s) => s.name).join(', ')}`
      : config.backup === undefined
        ? 'monitor-only (BACKUP_DATABASE_URL is not set: no backups are taken)'
        : `backups on "${config.backup.cron}" (${config.cronTimezone})`;
  const checks: DoctorCheck[] = [{ name: 'configuration', status: 'ok', summary: `valid; ${storage}, ${backups}` }];
  const host = config.http.host ?? '::';
  if (!isHttpAuthEnabled(config.http.auth) && !isLoopbackHost(host)) {
    checks.push({
      name: 'configuration: HTTP access',
      status: 'warn',
      summary: `/status and /metrics are open to anyone who can reach port ${config.http.port} on ${host}`,
      hint: 'set HTTP_AUTH_TOKEN or HTTP_BASIC_AUTH, especially behind a public domain (e.g. one Railway generates)',
    });
  }
  return checks;
}

async function checkAlertChannels(config: Config, send: boolean, logger: Logger, signal: AbortSignal): Promise<DoctorCheck[]> {
  const name = 'alerts';
  const notifiers = createNotifiers(config.alerts);
  if (notifiers.length === 0) return [{ name, status: 'warn', summary: 'no alert channel is configured: alerts go to the logs and metrics only', hint: NO_CHANNEL_HINT }];
  if (!send) {
    return notifiers.map((n) => ({ name: `alerts: ${n.channel}`, status: 'ok', summary: `configured (${n.description}); not tried: run doctor --send to deliver a test message` }));
  }
  const run = await sendTestAlert(config, logger, signal);
  return (run?.results ?? []).map((r) => {
    const { sent, text, hint } = describeDelivery(r);
    return { name: `alerts: ${r.channel}`, status: sent ? 'ok' : 'fail', summary: text, ...(hint === undefined ? {} : { hint }) };
  });
}

// HEARTBEAT_URL: pinged with --send (as after a passing check); BACKUP_HEARTBEAT_URL is only listed, since
// a test ping there would count as a backup run in the heartbeat service's history.
async function checkHeartbeats(config: Config, send: boolean, logger: Logger): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { heartbeatUrl, backupHeartbeatUrl } = config.alerts;
  if (heartbeatUrl !== undefined) {
    const heartbeat = new Heartbeat({ name: 'monitor', url: heartbeatUrl, logger });
    if (!send) checks.push({ name: 'heartbeat', status: 'ok', summary: `configured (${heartbeat.description}); not pinged: run doctor --send to ping it` });
    else {
      const problem = await heartbeat.ping('success', `${config.alerts.name}: test ping from backup-sentinel doctor`);
      checks.push(
        problem === undefined
          ? { name: 'heartbeat', status: 'ok', summary: `pinged ${heartbeat.description}` }
          : { name: 'heartbeat', status: 'fail', summary: `ping to ${heartbeat.description} failed: ${problem}`, hint: 'check HEARTBEAT_URL and that this host can reach the heartbeat service' },
      );
    }
  }
  const listed = (url: Secret, label: string | undefined, shared: string): DoctorCheck => {
    const heartbeat = new Heartbeat({ name: 'backup', url, logger });
    return labelled(label, { name: 'backup heartbeat', status: 'ok', summary: `configured (${heartbeat.description}${shared}); pinged at each backup's start and end, not by doctor` });
  };
  // Sets of SENTINEL_CONFIG: each set's own `heartbeatUrl`, else the shared one (named with its sets).
  const sets = config.sets ?? [];
  const sharing = sets.filter((s) => s.backupHeartbeatUrl !== undefined && s.backupHeartbeatUrl.reveal() === backupHeartbeatUrl?.reveal()).map((s) => s.name);
  if (backupHeartbeatUrl !== undefined && (sets.length === 0 || sharing.length > 0)) checks.push(listed(backupHeartbeatUrl, undefined, sets.length === 0 ? '' : `, shared by ${sharing.join(', ')}`));
  for (const s of sets) {
    if (s.backupHeartbeatUrl !== undefined && s.backupHeartbeatUrl.reveal() !== backupHeartbeatUrl?.reveal()) checks.push(listed(s.backupHeartbeatUrl, `set ${s.name}`, ''));
  }
  return checks;
}

// The database(s) of one set (or of the environment): each database of BACKUP_DATABASES or of the set's
// `databases` on its own (privileges differ per database), named after its set.
// Hints name the keys of the set's entry in SENTINEL_CONFIG where it gave them (setting-names.ts).
async function checkScopeDatabases(scope: DatabaseScope): Promise<DoctorCheck[]> {
  return (await checkDatabasesOf(scope)).map((c) => (c.hint === undefined ? c : { ...c, hint: nameSettings(c.hint, scope.settingNames) }));
}

async function checkDatabasesOf(scope: DatabaseScope): Promise<DoctorCheck[]> {
  const { settings } = scope;
  if (settings === undefined) {
    return [labelled(scope.label, { name: 'database', status: 'skip', summary: scope.setName === undefined ? 'monitor-only: BACKUP_DATABASE_URL is not set' : 'monitor-only: the set has no databaseUrl and BACKUP_DATABASE_URL is not set' })];
  }
  if (scope.databases === undefined) return (await checkDatabase(settings, { full: true })).map((c) => labelled(scope.label, c));
  let names: string[];
  try {
    names = await currentSetNames(scope.databases, settings.databaseUrl);
  } catch (error) {
    return [labelled(scope.label, { name: 'database: list the databases', status: 'fail', summary: shortMessageOf(error), ...(error instanceof SentinelError && error.hint !== undefined ? { hint: error.hint } : {}) })];
  }
  if (names.length === 0) {
    return [labelled(scope.label, { name: 'database', status: 'warn', summary: 'no database to back up: every database on the server is excluded', hint: 'check BACKUP_EXCLUDE_DATABASES (or the set\'s `exclude`)' })];
  }
  const checks: DoctorCheck[] = [];
  for (const name of names) checks.push(...(await checkDatabase(settings, { full: true, database: name })).map((c) => labelled(`set ${databaseSetName(scope, name)}`, c)));
  return checks;
}

export interface DoctorOptions {
  config: Config;
  // Every destination (one without several): each is probed, in each set's folder.
  destinations: readonly Destination[];
  logger: Logger;
  // Deliver a test message through each alert channel (else they are only listed).
  send: boolean;
  signal: AbortSignal;
  now: () => Date;
}

// Every check of `backup-sentinel doctor`.
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const { config, destinations } = options;
  const checks = describeConfiguration(config, destinations);
  for (const scope of databaseScopes(config)) checks.push(...(await checkScopeDatabases(scope)));
  // A destination that is down for every folder (unreachable, no such bucket) is probed once: with many
  // sets, each probe would wait out the S3 client's retries again.
  const down = new Map<string, DoctorCheck>();
  for (const scope of storageScopes(config, destinations)) {
    const check =
      down.get(scope.destination.name) ??
      (await probeStorage(scope.destination.store, scope.subfolder, options.now(), options.signal, (failed) =>
        down.set(scope.destination.name, { ...failed, summary: `not probed: ${scope.destination.store.description} failed above for every folder` }),
      ));
    checks.push(labelled(scope.label, check));
  }
  // Lifecycle rules belong to a bucket: checked once per destination, not per set.
  for (const d of destinations) {
    const lifecycle = await checkLifecycleAccess({ storage: d.storage ?? config.storage, retention: config.retention });
    if (lifecycle !== undefined) checks.push(labelled(destinations.length > 1 ? `destination ${d.name}` : undefined, lifecycle));
  }
  checks.push(...(await checkAlertChannels(config, options.send, options.logger, options.signal)));
  checks.push(...(await checkHeartbeats(config, options.send, options.logger)));
  return checks;
}

// The checks `serve` runs at start: the storage probe and whether the database answers. Logged, never
// fatal: a failure keeps the service running (the monitor's storage_unreachable finding and the backup
// run's own error report it as usual).
export async function runStartupChecks(options: { config: Config; store: BackupStore; logger: Logger; now?: () => Date; signal?: AbortSignal }): Promise<DoctorCheck[]> {
  const { config, store } = options;
  const log = options.logger.child({ component: 'doctor' });
  try {
    const checks = [await probeStorage(store, config.location.subfolder, (options.now ?? (() => new Date()))(), options.signal)];
    // A probe cut off by a stop says nothing about the storage: not a failure to warn about.
    if (options.signal?.aborted === true) {
      log.info('start-up checks cancelled (the service is stopping)');
      return [];
    }
    if (config.backup !== undefined) checks.push(...(await checkDatabase(config.backup, { full: false })));
    for (const check of checks) {
      if (check.status === 'fail') log.warn({ check: check.name, hint: check.hint }, `start-up check failed: ${check.name}: ${check.summary}`);
      else log.info({ check: check.name }, `start-up check passed: ${check.name}: ${check.summary}`);
    }
    return checks;
  } catch (error) {
    // The checks catch their own errors; this only keeps an unexpected one from ending the service.
    log.warn({ err: errForLog(error) }, 'start-up checks could not run');
    return [];
  }
}
