import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { BackupService } from './backup/backup-service.ts';
import { runBackupJob, type BackupJobDeps } from './backup/job.ts';
import type { BackupResult } from './backup/result.ts';
import type { Config } from './config/types.ts';
import { createEncryptStream, isEncryptionEnabled } from './crypto/age-encrypt.ts';
import { createHttpApp } from './http/app.ts';
import type { Logger } from './logger.ts';
import { createStore } from './storage/create-store.ts';
import type { BackupStore } from './storage/store.ts';

// The composition root: the only place that wires adapters together. cli.ts loads the configuration
// and makes the root logger; commands call in here.

// Everything one backup run needs, from the configuration (undefined in monitor-only mode).
export function buildBackupJobDeps(config: Config, store: BackupStore, logger: Logger): BackupJobDeps | undefined {
  if (config.backup === undefined) return undefined;
  const encryption = config.encryption;
  return {
    settings: config.backup,
    location: config.location,
    store,
    logger: logger.child({ component: 'backup' }),
    extraStage: isEncryptionEnabled(encryption) ? { name: 'age', create: () => createEncryptStream(encryption) } : undefined,
  };
}

export function buildBackupService(config: Config, store: BackupStore, logger: Logger): BackupService | undefined {
  const deps = buildBackupJobDeps(config, store, logger);
  if (deps === undefined || config.backup === undefined) return undefined;
  return new BackupService({
    runBackup: (run) => runBackupJob(deps, run),
    cron: config.backup.cron,
    logger: logger.child({ component: 'backup-service' }),
  });
}

// A summary of a run for /status and people (no error objects, no secrets).
export function describeResult(result: BackupResult | undefined): Record<string, unknown> | undefined {
  if (result === undefined) return undefined;
  const base = { runId: result.runId, trigger: result.trigger, status: result.status, startedAt: result.startedAt.toISOString(), durationMs: result.durationMs };
  if (result.status === 'success') return { ...base, key: result.key, size: result.manifest.size, sha256: result.manifest.sha256 };
  if (result.status === 'failed') return { ...base, stage: result.stage, error: result.shortMessage, hint: result.error.hint };
  return { ...base, reason: result.reason, message: result.message };
}

export interface StartOptions {
  config: Config;
  logger: Logger;
  // Where the HTTP server listens; 0.0.0.0 in a container, 127.0.0.1 for the demo and tests.
  host?: string;
  // Overrides config.http.port (0: any free port).
  port?: number;
  store?: BackupStore;
}

export interface Sentinel {
  store: BackupStore;
  registry: Registry;
  // undefined in monitor-only mode (no BACKUP_DATABASE_URL).
  backupService: BackupService | undefined;
  server: Server;
  // The port the HTTP server listens on.
  port: number;
  stop(): Promise<void>;
}

// Starts the long-running service: backup schedule (unless monitor-only) and the HTTP server.
export async function startSentinel(options: StartOptions): Promise<Sentinel> {
  const { config, logger } = options;
  const store = options.store ?? createStore(config);
  const registry = new Registry();
  const backupService = buildBackupService(config, store, logger);
  if (backupService === undefined) {
    logger.warn(
      { storage: store.description },
      'monitor-only mode: BACKUP_DATABASE_URL is not set, so this service takes no backups (set it to back up a database)',
    );
  }
  const app = createHttpApp({
    registry,
    logger: logger.child({ component: 'http' }),
    name: config.alerts.name,
    status: () => ({
      storage: store.description,
      backup:
        backupService === undefined
          ? { enabled: false, reason: 'BACKUP_DATABASE_URL is not set (monitor-only)' }
          : {
              enabled: true,
              schedule: config.backup?.cron,
              timezone: 'UTC',
              running: backupService.isRunning,
              nextRunAt: backupService.nextRunAt()?.toISOString() ?? null,
              lastResult: describeResult(backupService.lastResult) ?? null,
              lastSuccess: describeResult(backupService.lastSuccess) ?? null,
              lastSkipped: describeResult(backupService.lastSkipped) ?? null,
            },
    }),
  });
  const host = options.host ?? '0.0.0.0';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.port ?? config.http.port, host, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? config.http.port);
  logger.info({ host, port, storage: store.description }, `HTTP server listening on ${host}:${port} (/livez /readyz /health /status /metrics)`);
  backupService?.start({ runOnStartup: config.backup?.runOnStartup ?? false });
  let stopped: Promise<void> | undefined;
  return {
    store,
    registry,
    backupService,
    server,
    port,
    stop() {
      stopped ??= (async () => {
        await backupService?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        logger.info('stopped');
      })();
      return stopped;
    },
  };
}
