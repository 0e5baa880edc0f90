import { createNotifiers } from '../alerts/create-alert-service.ts';
import { describeDelivery, NO_CHANNEL_HINT, sendTestAlert } from '../alerts/send-test-alert.ts';
import type { Config } from '../config/types.ts';
import { isHttpAuthEnabled, isLoopbackHost } from '../http/auth.ts';
import { errForLog } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { Heartbeat } from '../heartbeat/heartbeat.ts';
import type { DoctorCheck } from './checklist.ts';
import { checkDatabase } from './database.ts';
import { checkLifecycleAccess, probeStorage } from './storage-probe.ts';

// What `doctor` checks, in the order it prints them. Each check catches its own errors.

// The configuration loaded (the CLI stops before any command when it does not): what it amounts to.
function describeConfiguration(config: Config, store: BackupStore): DoctorCheck[] {
  const checks: DoctorCheck[] = [
    {
      name: 'configuration',
      status: 'ok',
      summary: `valid; storage ${store.description}, ${config.backup === undefined ? 'monitor-only (BACKUP_DATABASE_URL is not set: no backups are taken)' : `backups on "${config.backup.cron}" (${config.cronTimezone})`}`,
    },
  ];
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
  if (backupHeartbeatUrl !== undefined) {
    const heartbeat = new Heartbeat({ name: 'backup', url: backupHeartbeatUrl, logger });
    checks.push({ name: 'backup heartbeat', status: 'ok', summary: `configured (${heartbeat.description}); pinged at each backup's start and end, not by doctor` });
  }
  return checks;
}

export interface DoctorOptions {
  config: Config;
  store: BackupStore;
  logger: Logger;
  // Deliver a test message through each alert channel (else they are only listed).
  send: boolean;
  signal: AbortSignal;
  now: () => Date;
}

// Every check of `backup-sentinel doctor`.
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const { config, store } = options;
  const checks = describeConfiguration(config, store);
  if (config.backup === undefined) {
    checks.push({ name: 'database', status: 'skip', summary: 'monitor-only: BACKUP_DATABASE_URL is not set' });
  } else {
    checks.push(...(await checkDatabase(config.backup, { full: true })));
  }
  checks.push(await probeStorage(store, config.location.subfolder, options.now(), options.signal));
  const lifecycle = await checkLifecycleAccess(config);
  if (lifecycle !== undefined) checks.push(lifecycle);
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
