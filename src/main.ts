import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { GLOBALS_FOLDER } from './backup/globals.ts';
import { Heartbeat } from './heartbeat/heartbeat.ts';
import { checkReport } from './heartbeat/ping-message.ts';
import type { BackupResult } from './backup/result.ts';
import type { Config } from './config/types.ts';
import { createEncryptStream, isEncryptionEnabled } from './crypto/age-encrypt.ts';
import { createHttpApp } from './http/app.ts';
import { listenHttp } from './http/listen.ts';
import { isHttpAuthEnabled, isLoopbackHost } from './http/auth.ts';
import { errForLog, SentinelError, shortMessageOf, StartupError } from './errors.ts';
import type { Logger } from './logger.ts';
import { createAlertService } from './alerts/create-alert-service.ts';
import type { AlertService } from './alerts/alert-service.ts';
import { toBackupRunRecord } from './monitor/backup-runs.ts';
import { MONITOR_CHECKS } from './monitor/checks.ts';
import { unitOf, type CheckName, type Finding } from './core/findings.ts';
import { registerMetrics } from './monitor/metrics.ts';
import { MonitorRunner } from './monitor/runner.ts';
import { registerRestoreMetrics } from './restore/metrics.ts';
import type { VerifyService } from './restore/verify-service.ts';
import { buildStatusPageModel } from './status/page-model.ts';
import { worstStatus } from './http/health.ts';
import type { RetentionService } from './retention/retention-service.ts';
import type { UploadSweepState } from './storage/upload-sweeper.ts';
import type { UploadSweepers } from './storage/upload-sweepers.ts';
import { registerUploadSweepMetrics } from './storage/upload-sweep-metrics.ts';
import type { BackupService } from './backup/backup-service.ts';
import { BackupSetsRunner, type SetResult } from './sets/run-sets.ts';
import type { FileSets } from './sets/set-runtime.ts';
import type { SetMonitors } from './sets/set-monitors.ts';
import { SetVerify } from './sets/set-verify.ts';
import type { CheckResult, MonitorSnapshot } from './monitor/state.ts';
import { leaseKey } from './leader/lease.ts';
import { LeaderLease, newInstanceId, SoleLeadership, type Leadership } from './leader/leader-lease.ts';
import { registerLeaderMetrics } from './leader/metrics.ts';
import { describeKeyIn } from './alerts/state-store.ts';
import { readVersion } from './version.ts';
import { supportsConditionalWrites, type BackupStore } from './storage/store.ts';
import { createDestinations, type Destination } from './destinations/destination.ts';
import { feedDestinationMonitors } from './destinations/destination-sets.ts';
import { resultAt } from './backup/result.ts';
import { assembleUnits } from './sets/assemble.ts';

// The composition root: the only place that wires adapters together. cli.ts loads the configuration
// and makes the root logger; commands call in here.

// The backup wiring moved to its own module; tests and the bench still reach it here.
export { buildBackupService, buildBackupSetsRunner } from './backup/build-backup-service.ts';

// tag: names the globals in the finding (`@globals`, or with several destinations `@globals` in one destination).
function globalsFailure(result: BackupResult & { status: 'failed' }, tag: (finding: Finding) => Finding): Finding {
  return tag({
    check: 'backup_failed',
    severity: 'fail',
    summary: `roles and tablespaces (BACKUP_GLOBALS) were not backed up in run ${result.runId}: ${result.shortMessage}`,
    values: { stage: result.stage, runId: result.runId, finishedAt: result.finishedAt.toISOString() },
    ...(result.error.hint === undefined ? {} : { hint: result.error.hint }),
  });
}

// With several databases, a run that could not tell which databases to back up (listing failed, none
// selected): the runner's problem as the run's backup_failed; undefined once a run resolved it.
function selectionFailure(runner: BackupSetsRunner, result: BackupResult): Finding | undefined {
  const problem = runner.problem;
  if (problem === undefined) return undefined;
  return {
    check: 'backup_failed',
    severity: 'fail',
    summary: `backup run ${result.runId} failed: ${problem.shortMessage}`,
    values: { stage: problem.stage, runId: result.runId, finishedAt: result.finishedAt.toISOString() },
    ...(problem.hint === undefined ? {} : { hint: problem.hint }),
  };
}

// A summary of a run for /status and people (no error objects, no secrets).
function describeResult(result: BackupResult | undefined): Record<string, unknown> | undefined {
  if (result === undefined) return undefined;
  const base = {
    runId: result.runId,
    trigger: result.trigger,
    status: result.status,
    startedAt: result.startedAt.toISOString(),
    durationMs: result.durationMs,
    ...((result.status === 'success' || result.status === 'failed') && result.destinations !== undefined
      ? { destinations: result.destinations.map((d) => ({ name: d.destination, storage: d.where, status: d.result.status, ...(d.result.status === 'success' ? { key: d.result.key } : { stage: d.result.stage, error: d.result.shortMessage }) })) }
      : {}),
  };
  if (result.status === 'success') return { ...base, key: result.key, size: result.manifest.size, sha256: result.manifest.sha256 };
  if (result.status === 'failed' || result.status === 'cancelled') {
    return { ...base, stage: result.stage, error: result.shortMessage, hint: result.error.hint, ...(result.leftoverUpload ? { leftoverUpload: result.leftoverUpload } : {}) };
  }
  return { ...base, reason: result.reason, message: result.message };
}

// A backup service's schedule and last runs for /status.
function describeBackupService(backupService: BackupService | undefined, config: Config): Record<string, unknown> {
  if (backupService === undefined) return { enabled: false, reason: 'BACKUP_DATABASE_URL is not set (monitor-only)' };
  return {
    enabled: true,
    schedule: config.backup?.cron,
    timezone: config.cronTimezone,
    running: backupService.isRunning,
    nextRunAt: backupService.nextRunAt()?.toISOString() ?? null,
    lastResult: describeResult(backupService.lastResult) ?? null,
    lastSuccess: describeResult(backupService.lastSuccess) ?? null,
    lastSkipped: describeResult(backupService.lastSkipped) ?? null,
  };
}

// The sweep's state for /status (dates as ISO strings).
function describeSweep(state: UploadSweepState): Record<string, unknown> {
  return {
    lastSweepAt: state.lastSweepAt?.toISOString() ?? null,
    incomplete: state.incomplete ?? null,
    unremoved: state.unremoved.map((u) => ({ key: u.key, uploadId: u.uploadId, reason: u.reason, initiatedAt: u.initiatedAt?.toISOString() ?? null })),
    abortedTotal: state.abortedTotal,
    lastError: state.lastError ?? null,
  };
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  // Where the HTTP server listens (127.0.0.1 for the demo and tests); overrides HOST, whose default
  // is "::" (IPv6 and IPv4) where the host has IPv6, else 0.0.0.0.
  host?: string;
  // Overrides config.http.port (0: any free port).
  port?: number;
  store?: BackupStore;
  // Instead of the configured destinations (tests); the first is `store`.
  destinations?: Destination[];
  // Aborted when a stop is requested (serve's SIGTERM): a start still waiting on the storage (the first
  // round of the leader lease) ends at once, and nothing further is started.
  signal?: AbortSignal;
}

export interface Sentinel {
  store: BackupStore;
  registry: Registry;
  // undefined in monitor-only mode (no BACKUP_DATABASE_URL), and with SENTINEL_CONFIG (see fileSets).
  backupService: BackupService | undefined;
  // SENTINEL_CONFIG: each set of the file, with its own backup service.
  fileSets: FileSets | undefined;
  // The monitor of the one database; throws with BACKUP_DATABASES (see `sets`).
  readonly monitor: MonitorRunner;
  // With BACKUP_DATABASES: the monitor of each set, and each set's verification.
  sets: SetMonitors | undefined;
  setVerify: SetVerify | undefined;
  // The alert service of the current (or last) leadership term: a new one, with the state loaded
  // from storage again, each time this instance becomes leader.
  readonly alerts: AlertService;
  // Which instance sends alerts and runs retention and verification (see docs/leader.md).
  leadership: Leadership;
  // Mode 'off' when RETENTION_DAYS=0.
  retention: RetentionService;
  // undefined in monitor-only mode and for directory storage.
  uploadSweeper: UploadSweepers | undefined;
  verify: VerifyService;
  // Every current finding: the monitor's, retention's and verification's.
  findings(): Finding[];
  server: Server;
  // The port the HTTP server listens on.
  port: number;
  stop(): Promise<void>;
}

const VERIFY_CHECKS: readonly CheckName[] = ['verify_failed', 'drill_failed'];
const RETENTION_CHECKS: readonly CheckName[] = ['retention'];
const UPLOAD_CHECKS: readonly CheckName[] = ['incomplete_uploads'];
const STORAGE_CHECKS: readonly CheckName[] = ['storage_unreachable'];
const MONITOR_CHECKS_WITHOUT_OWN_RUN: readonly CheckName[] = MONITOR_CHECKS.filter((c) => c !== 'backup_failed');

// The checks a monitor result speaks for. backup_failed is known only to the process that ran the
// backup: until this process has attempted one itself, it neither raises nor resolves that alert
// (a new instance in a rolling deploy must not resolve the failure its predecessor reported).
export function monitorAlertScope(takesBackups: boolean, attemptedBackup: boolean): readonly CheckName[] {
  return takesBackups && !attemptedBackup ? MONITOR_CHECKS_WITHOUT_OWN_RUN : MONITOR_CHECKS;
}

// The lease when one is configured and the storage can do conditional writes, else every instance leads.
function buildLeadership(config: Config, store: BackupStore, logger: Logger): Leadership {
  const instance = newInstanceId();
  if (config.leader.leaseSeconds === 0) return new SoleLeadership(instance);
  if (!supportsConditionalWrites(store)) {
    logger.warn({ storage: store.description }, 'this storage cannot do conditional writes: no leader lease, so every replica sends alerts (keep one replica)');
    return new SoleLeadership(instance);
  }
  const key = leaseKey(config.location.subfolder);
  return new LeaderLease({ store, key, location: describeKeyIn(store.description, key), ttlMs: config.leader.leaseSeconds * 1000, instance, logger });
}

// Checks an encryption setting that only shows its problems when a stream is made (a recipient whose
// checksum is wrong), so the service stops at start instead of failing every backup.
function checkEncryptionAtStart(config: Config): void {
  if (config.backup !== undefined && isEncryptionEnabled(config.encryption)) createEncryptStream(config.encryption).destroy();
  // SENTINEL_CONFIG: each set's own recipients too.
  for (const set of config.sets ?? []) if (set.backup !== undefined && isEncryptionEnabled(set.encryption)) createEncryptStream(set.encryption).destroy();
}

// Each service names its own log component (logger.child inside it), so they get the root logger.
// Starts the long-running service: backup schedule (unless monitor-only), the monitor, alerts,
// retention, verification and the HTTP server. Failures inside any of them are findings, never crashes.
export async function startSentinel(options: StartOptions): Promise<Sentinel> {
  const { config, logger } = options;
  checkEncryptionAtStart(config);
  const version = readVersion();
  const destinations = options.destinations ?? (options.store === undefined ? createDestinations(config, {}, logger) : [{ name: config.storage.kind, store: options.store }]);
  // The first destination keeps the alert state and the leader lease; with several, each is watched on its own.
  const store = (destinations[0] as Destination).store;
  const several = destinations.length > 1 ? destinations : undefined;
  const registry = new Registry();
  // BACKUP_GLOBALS: the roles' own result. A failure is a backup_failed of its own ("globals"), alerted
  // apart from the databases' and resolved by the next globals run that succeeds.
  // With several destinations, one per destination whose copy failed (`@globals` in `<destination>`).
  let globalsFindings: Finding[] = [];
  let onGlobalsResult: (result: BackupResult) => Promise<void> = () => Promise.resolve();
  const { fileSets, setsRunner, backupService, backupServices, setMonitors, singleMonitor, monitorFindings, retention, setRetention, verify, setVerify, uploadSweeper, addSet, feed, naming } = assembleUnits({
    config,
    logger,
    registry,
    destinations,
    onGlobals: (result) => void onGlobalsResult(result),
  });
  const heartbeatUrl = config.alerts.heartbeatUrl;
  const heartbeat = heartbeatUrl === undefined ? undefined : new Heartbeat({ name: 'monitor', url: heartbeatUrl, logger, registry });
  if (backupServices.length === 0) {
    logger.warn(
      { storage: store.description },
      'monitor-only mode: BACKUP_DATABASE_URL is not set, so this service takes no backups (set it to back up a database)',
    );
  }
  let alerts = createAlertService({ config, store, logger, registry });
  const leadership = buildLeadership(config, store, logger);
  if (config.retention.days === 0) logger.warn('retention is off (RETENTION_DAYS=0): backups are kept until deleted by hand');

  // With BACKUP_DATABASES, a run that could not tell which databases to back up (listing failed, none
  // selected) has no set to pin its failure on: it is a service-wide backup_failed until a run resolves
  // (key ''); the same for each set of the file with `databases`, under the file set's name.
  const selectionFindings = new Map<string, Finding>();
  const findings = (): Finding[] => [
    ...monitorFindings(),
    ...selectionFindings.values(),
    ...globalsFindings,
    ...retention.findings(),
    ...(setRetention?.findings() ?? []),
    ...verify.findings(),
    ...(setVerify?.findings() ?? []),
    ...alerts.findings(),
    ...(uploadSweeper?.findings() ?? []),
  ];
  registerMetrics({ registry, snapshot: () => (singleMonitor as MonitorRunner).snapshot(), ...(setMonitors === undefined ? {} : { sets: () => setMonitors.snapshots(), setLabel: naming.kind }), findings, version, monitorCron: config.monitor.cron, cronTimezone: config.cronTimezone });
  if (uploadSweeper === undefined) registerUploadSweepMetrics(registry, () => undefined);
  registerRestoreMetrics(registry, () => verify.state(), undefined, setVerify === undefined ? undefined : () => setVerify.states(), naming.kind);
  registerLeaderMetrics(registry, leadership);

  // With sets in the one storage (BACKUP_DATABASES, SENTINEL_CONFIG; not several destinations, each its own
  // storage): the storage is unreachable while any set's last check could not list it; `result` is the
  // check of `set` that just ended.
  // With sets in several destinations each destination is such a storage, shared by the sets in it: one
  // outage per destination, named by it (`destination`, no set).
  const sharedStorage = setMonitors !== undefined && naming.kind !== 'destination';
  const storageOutage = (set: string, result: CheckResult): Finding[] => {
    // The destination whose outage the set's check speaks for (undefined: the one storage).
    const destination = naming.destinationOf(set);
    const lastOf = (name: string): readonly Finding[] => (name === set ? result.findings : (setMonitors?.get(name)?.snapshot().lastCheck?.findings ?? []));
    const failing = (setMonitors?.names() ?? [])
      .filter((name) => destination === undefined || naming.destinationOf(name) === destination)
      .map((name) => ({ name: naming.setOf(name), finding: lastOf(name).find((f) => f.check === 'storage_unreachable') }))
      .filter((s): s is { name: string; finding: Finding } => s.finding !== undefined);
    const first = failing[0];
    if (first === undefined) return [];
    const which = failing.length === 1 ? `backup set ${first.name}` : `${failing.length} backup sets (${failing.map((s) => s.name).join(', ')})`;
    if (destination === undefined) return [{ ...first.finding, summary: `${first.finding.summary} (${which})` }];
    return [{ ...first.finding, destination, summary: `${destination}: ${first.finding.summary} (${which})` }];
  };
  // Findings flow to alerts: the monitor's every check (hourly, at start, after each backup) also
  // carries retention's current state; verification reports when it has run.
  // Every instance checks (for /health and /metrics); only the leader turns findings into alerts.
  const afterCheck = async (result: CheckResult, snapshot: MonitorSnapshot, set: string | undefined): Promise<void> => {
    if (result.quiet === true) return;
    const tagged = set === undefined ? result.findings : result.findings.map((f) => naming.tag(set, f));
    // Sets in one storage: its outage is one service-wide alert (not one per set); each set's check
    // still reports it in /health and its metrics. Per set it is only ever resolved (an alert of an
    // older version clears).
    const outage = set !== undefined && sharedStorage ? storageOutage(set, result) : undefined;
    const current = outage === undefined ? tagged : tagged.filter((f) => f.check !== 'storage_unreachable');
    if (!leadership.isLeader()) {
      await (outage === undefined ? alertStorageOutageWithoutLeader(current, result.at, set) : alertStorageOutageWithoutLeader(outage, result.at, naming.destinationOf(set as string)));
      return;
    }
    const scope = monitorAlertScope(backupServices.length > 0, snapshot.backupRuns.lastAttempt !== undefined);
    await alerts.process(current, result.at, scope, set);
    if (outage !== undefined) await alerts.process(outage, result.at, STORAGE_CHECKS, naming.destinationOf(set as string));
    // With retention off, its alert is neither raised nor resolved (an alert left from before stays as it was).
    if (set !== undefined && setRetention !== undefined) {
      if (!setRetention.offOf(set)) await alerts.process(setRetention.findingsOf(set, result.at), result.at, RETENTION_CHECKS, set);
    } else if (retention.status().mode !== 'off') await alerts.process(retention.findings(result.at), result.at, RETENTION_CHECKS);
    // Uploads a failed run left are retried hourly (with the check), not only at the daily sweep; the
    // sweep's listener below alerts about its findings.
    if (uploadSweeper?.hasLeftovers() === true) await uploadSweeper.sweep();
    // The dead man's switch: only the leader pings, like only the leader alerts (docs/alerts.md).
    if (heartbeat !== undefined) {
      const report = checkReport(findings(), config.alerts.name);
      await heartbeat.ping(report.event, report.message);
    }
  };
  singleMonitor?.onCheck((result, snapshot) => afterCheck(result, snapshot, undefined));
  setMonitors?.onCheck((set, result, snapshot) => afterCheck(result, snapshot, set));
  uploadSweeper?.onSweep(async () => {
    if (!leadership.isLeader()) return;
    await alerts.process(uploadSweeper.findings(), new Date(), UPLOAD_CHECKS);
  });
  setVerify?.onResult(async (set, verifyFindings) => {
    if (!leadership.isLeader()) return;
    await alerts.process(verifyFindings, new Date(), VERIFY_CHECKS, set);
  });
  verify.onResult(async (_run, verifyFindings) => {
    if (!leadership.isLeader()) return;
    await alerts.process(verifyFindings, new Date(), VERIFY_CHECKS);
  });
  // Leading: load the alert state (a fresh service, so what another leader sent meanwhile is known),
  // then run retention and verification; a takeover checks at once instead of at the next MONITOR_CRON.
  // Standing by: stop them. Changes arrive one at a time, in order.
  let monitorStarted = false;
  let alertsUsed = false;
  let outageAlerted = false;
  const freshAlerts = async (): Promise<void> => {
    // What the previous service sent is saved before the new one loads the state: a standby that alerted
    // an outage and takes the lease while that save is still in flight would otherwise start without
    // the alert, and never send its RESOLVED.
    if (alertsUsed) {
      await alerts.settled();
      await alerts.stop();
      alerts = createAlertService({ config, store, logger, registry });
    }
    alertsUsed = true;
    await alerts.start();
  };
  leadership.onChange(async (leader) => {
    if (leader) {
      outageAlerted = false;
      await freshAlerts();
      retention.start();
      setRetention?.start();
      if (setVerify === undefined) verify.start();
      else setVerify.start();
      uploadSweeper?.start();
      if (monitorStarted) void (singleMonitor?.runCheck() ?? setMonitors?.runChecks());
    } else {
      await Promise.all([retention.stop(), setRetention?.stop(), verify.stop(), setVerify?.stop(), uploadSweeper?.stop(), alerts.stop()]);
    }
  });
  // Nobody can hold the lease while the storage that holds it is unreachable from every replica: rather
  // than stay silent, a standby that cannot reach the lease alerts storage_unreachable itself (several
  // such replicas each send it: doubled beats silent), and sends its RESOLVED once the storage answers.
  // Its alert state then lives in the local copy (STATE_DIR) until the storage takes it again.
  async function alertStorageOutageWithoutLeader(current: readonly Finding[], at: Date, set: string | undefined): Promise<void> {
    const unreachable = current.some((f) => f.check === 'storage_unreachable');
    if (!outageAlerted && !(unreachable && leadership.status().problem !== undefined)) return;
    if (!outageAlerted) await freshAlerts();
    outageAlerted = unreachable;
    await alerts.process(current, at, STORAGE_CHECKS, set);
    if (!outageAlerted) await alerts.stop();
  }
  // Uploads a failed run left (even one cut off by shutdown): told to the sweep of the destination each
  // was left in. A run without copies per destination wrote to one: the one its leftover names, else the
  // only (first) destination.
  function noteLeftovers(result: BackupResult): void {
    const failed = (r: BackupResult) => r.status === 'failed' || r.status === 'cancelled';
    const copies = destinations.map((d) => ({ d, at: resultAt(result, d.name) })).filter(({ at }) => at !== result);
    for (const { d, at } of copies) if (failed(at) && at.leftoverUpload !== undefined) uploadSweeper?.noteLeftover(at.leftoverUpload, d.name);
    if (copies.length === 0 && failed(result) && result.leftoverUpload !== undefined) {
      uploadSweeper?.noteLeftover(result.leftoverUpload, result.leftoverUpload.destination ?? (destinations[0] as Destination).name);
    }
  }
  backupService?.onRunFinished((result) => {
    noteLeftovers(result);
    if (naming.kind === 'destination' && setMonitors !== undefined) feedDestinationMonitors(setMonitors, destinations, result);
    if (singleMonitor === undefined) return;
    const record = toBackupRunRecord(result);
    if (record !== undefined) void singleMonitor.afterBackupRun(record);
  });
  // fileSet: the set of the file whose runner this is; undefined for BACKUP_DATABASES' one runner.
  const watchSelection = (runner: BackupSetsRunner, fileSet?: string) => async (result: BackupResult) => {
    if (result.status !== 'failed' && result.status !== 'success') return;
    const failure = selectionFailure(runner, result);
    if (failure === undefined) selectionFindings.delete(fileSet ?? '');
    else selectionFindings.set(fileSet ?? '', fileSet === undefined ? failure : naming.tagSet(fileSet, failure));
    const current = selectionFindings.get(fileSet ?? '');
    if (leadership.isLeader()) await alerts.process(current === undefined ? [] : [current], result.finishedAt, ['backup_failed'], fileSet);
  };
  if (setsRunner !== undefined) backupService?.onRunFinished(watchSelection(setsRunner));
  // SENTINEL_CONFIG: a set of the file without `databases` is one set, told its run's result; one with
  // them reports each database's result (onSetResult below) and its selection's problem by its name.
  for (const fileSet of fileSets?.list ?? []) {
    const runner = fileSet.runner;
    fileSet.backupService?.onRunFinished(
      runner === undefined
        ? (result) => {
            noteLeftovers(result);
            feed(fileSet.name, result);
          }
        : watchSelection(runner, fileSet.name),
    );
    fileSet.runner?.onSetResult((r) => onSetResult(r));
  }
  onGlobalsResult = async (result) => {
    if (result.status !== 'failed' && result.status !== 'success') return;
    // Each destination's copy as that destination saw it (a failed pg_dumpall failed everywhere); with
    // one destination its unit is the globals' folder and its result the run's.
    const units = destinations.map((d) => ({ unit: naming.globals.unitOf(GLOBALS_FOLDER, d.name), at: resultAt(result, d.name) }));
    globalsFindings = units.flatMap(({ unit, at }) => (at.status === 'failed' ? [globalsFailure(at, (f) => naming.globals.tag(unit, f))] : []));
    if (!leadership.isLeader()) return;
    for (const { unit } of units) await alerts.process(globalsFindings.filter((f) => unitOf(f) === unit), result.finishedAt, ['backup_failed'], unit);
  };
  // Each set's result goes to its own monitor as soon as that database is done.
  function onSetResult({ set, result }: SetResult): void {
    noteLeftovers(result);
    feed(set, result);
  }

  setsRunner?.onSetResult((r) => onSetResult(r));

  // /health per set: the set's retention check beside its monitor checks.
  const withSetRetention = <T extends { setChecks: readonly { set: string; checks: readonly CheckName[] }[] }>(state: T): T => ({
    ...state,
    setChecks: state.setChecks.map((s) => ({ set: s.set, checks: [...s.checks, ...(setRetention?.checksOf(s.set) ?? []), ...(setVerify?.checksOf(s.set) ?? [])] })),
  });
  const app = createHttpApp({
    registry,
    logger: logger.child({ component: 'http' }),
    name: config.alerts.name,
    version,
    auth: config.http.auth,
    ready: () => (setMonitors ?? (singleMonitor as MonitorRunner)).readyState(),
    health: () => {
      const state = setMonitors === undefined ? (singleMonitor as MonitorRunner).healthState() : withSetRetention(setMonitors.healthState());
      const checks = [...(state.checks ?? []), ...retention.checks(), ...verify.checks(), ...alerts.checks(), ...(uploadSweeper?.checks() ?? [])];
      return { ...state, findings: findings(), checks };
    },
    page: () => {
      const current = findings();
      // One section per backup set (BACKUP_DATABASES), or the one database's.
      const sets =
        setMonitors === undefined
          ? [{ snapshot: (singleMonitor as MonitorRunner).snapshot(), nextBackupAt: backupService?.nextRunAt(), retention: retention.describe(), retentionDays: config.retention.days, verify: verify.state() }]
          : setMonitors.names().map((set) => ({
              name: set,
              snapshot: (setMonitors.get(set) as MonitorRunner).snapshot(),
              nextBackupAt: (fileSets?.of(naming.setOf(set))?.fileSet.backupService ?? backupService)?.nextRunAt(),
              retention: setRetention?.describeOf(set) ?? retention.describe(),
              retentionDays: (fileSets?.of(naming.setOf(set))?.config ?? config).retention.days,
              verify: setVerify?.states().get(set),
            }));
      const checked = sets.length > 0 && sets.every((s) => s.snapshot.lastCheck !== undefined);
      const verdict = !checked && current.length === 0 ? 'warn' : worstStatus(current.map((f) => f.severity));
      return buildStatusPageModel({
        name: config.alerts.name,
        version,
        now: new Date(),
        verdict,
        findings: current,
        role: leadership.status().role === 'standby' ? 'standby: another instance leads (alerts, retention, verification)' : undefined,
        sets,
      });
    },
    status: () => ({
      ...(singleMonitor?.status({ nextBackupAt: backupService?.nextRunAt() }) ?? { nextBackupAt: backupService?.nextRunAt()?.toISOString() ?? null, sets: setMonitors?.statuses(fileSets === undefined ? undefined : (set) => fileSets.of(naming.setOf(set))?.fileSet.backupService?.nextRunAt()) }),
      role: leadership.status().role,
      leader: leadership.status(),
      storage: store.description,
      ...(several === undefined ? {} : { destinations: several.map((d) => ({ name: d.name, storage: d.store.description })) }),
      backup:
        fileSets !== undefined
          ? { enabled: backupServices.length > 0, sets: Object.fromEntries(fileSets.list.map((f) => [f.name, describeBackupService(f.backupService, f.config)])) }
          : describeBackupService(backupService, config),
      findings: findings(),
      alerts: { firing: alerts.firing(), undelivered: alerts.pendingDeliveries() },
      retention: setRetention?.describe() ?? retention.describe(),
      verify:
        setVerify === undefined
          ? { schedule: config.verify.cron, nextRunAt: verify.nextRunAt()?.toISOString() ?? null, ...verify.state() }
          : { schedule: config.verify.cron, nextRunAt: setVerify.nextRunAt()?.toISOString() ?? null, sets: Object.fromEntries(setVerify.states()) },
      incompleteUploads: uploadSweeper === undefined ? { sweeping: false } : { sweeping: true, ...describeSweep(uploadSweeper.state()) },
    }),
  });
  // The HTTP server first: a port that cannot be bound ends the start (StartupError naming PORT)
  // before any check, backup or alert runs.
  const { server, host, port } = await listenHttp(app, options.port ?? config.http.port, options.host ?? config.http.host);
  logger.info({ host, port, storage: store.description, version }, `HTTP server listening on ${host}:${port} (/livez /readyz /health /status /metrics)`);
  if (!isHttpAuthEnabled(config.http.auth) && !isLoopbackHost(host)) {
    logger.warn(
      { host, port },
      `/status and /metrics are open to anyone who can reach ${host}:${port} (a public domain, e.g. one Railway generates, makes them public): set HTTP_AUTH_TOKEN or HTTP_BASIC_AUTH to require credentials`,
    );
  }

  let stopped: Promise<void> | undefined;
  const sentinel: Sentinel = {
    store,
    registry,
    backupService,
    fileSets,
    get monitor() {
      if (singleMonitor === undefined) throw new Error('with BACKUP_DATABASES, SENTINEL_CONFIG or several destinations each set (destination) has its own monitor: use sentinel.sets');
      return singleMonitor;
    },
    sets: setMonitors,
    setVerify,
    get alerts() {
      return alerts;
    },
    leadership,
    retention,
    uploadSweeper,
    verify,
    findings,
    server,
    port,
    stop() {
      stopped ??= (async () => {
        await Promise.all(backupServices.map((s) => s.stop()));
        await Promise.all([singleMonitor?.stop(), setMonitors?.stop(), retention.stop(), setRetention?.stop(), verify.stop(), setVerify?.stop(), uploadSweeper?.stop()]);
        await alerts.stop();
        // Last, so alerts in flight were sent under the lease; the next instance takes over at once.
        await leadership.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        logger.info('stopped');
      })();
      return stopped;
    },
  };
  // A part that fails to start stops what already started (each stop tolerates a part that never
  // started): `serve` then exits non-zero with the error, never leaving a half-started process.
  // Leading starts alerts, retention, verification and the upload sweep (leadership.onChange above).
  try {
    const stopLeadership = () => void leadership.stop();
    options.signal?.addEventListener('abort', stopLeadership, { once: true });
    try {
      if (options.signal?.aborted !== true) await leadership.start();
    } finally {
      options.signal?.removeEventListener('abort', stopLeadership);
    }
    if (options.signal?.aborted === true) return sentinel;
    singleMonitor?.start();
    setMonitors?.start();
    monitorStarted = true;
    // BACKUP_DATABASES=*: the sets on the server now, so each is watched before its first backup here.
    if (config.databases?.kind === 'all' && setsRunner !== undefined) {
      void setsRunner
        .resolve()
        .then((names) => names.forEach((set) => addSet(set)))
        .catch((error: unknown) => logger.warn({ err: errForLog(error) }, 'could not list the databases at start; the first backup run lists them again'));
    }
    if (fileSets !== undefined) {
      void fileSets
        .resolve()
        .then((names) => names.forEach((set) => addSet(set)))
        .catch((error: unknown) => logger.warn({ err: errForLog(error) }, 'could not list the databases of a set at start; its first backup run lists them again'));
    }
    backupService?.start({ runOnStartup: config.backup?.runOnStartup ?? false });
    for (const f of fileSets?.list ?? []) f.backupService?.start({ runOnStartup: f.config.backup?.runOnStartup ?? false });
  } catch (error) {
    await sentinel.stop();
    throw error instanceof SentinelError ? error : new StartupError(`backup-sentinel could not start: ${shortMessageOf(error)}`, { cause: error });
  }
  return sentinel;
}
