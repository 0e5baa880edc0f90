import type { Config, MonitorSettings, StorageSettings } from '../config/types.ts';
import type { Finding } from '../core/findings.ts';
import type { Logger } from '../logger.ts';
import { resultAt, type BackupResult } from '../backup/result.ts';
import { toBackupRunRecord } from '../monitor/backup-runs.ts';
import { SetMonitors } from '../sets/set-monitors.ts';
import type { SetRetentionOptions } from '../sets/set-retention.ts';
import type { SetVerifyScope } from '../sets/set-verify.ts';
import type { BackupStore } from '../storage/store.ts';
import type { Destination } from './destination.ts';

// Several destinations reuse the per-set services (monitor, retention, verification): each destination is
// a "set" named after it, whose backups are at the configured location in its own store. Findings carry
// the destination in their `destination` field (tagDestination); alerts, /health and /status name it where
// they would name a set (its alert key is the one a set of that name would have), and metrics carry a
// `destination` label.

// A finding of one destination (of the one database): named in the finding and its summary.
export function tagDestination(destination: string, finding: Finding): Finding {
  return { ...finding, destination, summary: `${destination}: ${finding.summary}` };
}

export function storeOf(destinations: readonly Destination[], name: string): Destination {
  const found = destinations.find((d) => d.name === name);
  if (found === undefined) throw new Error(`no destination named "${name}" (known: ${destinations.map((d) => d.name).join(', ')})`);
  return found;
}

export function destinationMonitors(
  destinations: readonly Destination[],
  options: { config: Pick<Config, 'location' | 'cronTimezone'>; settings: MonitorSettings; logger: Logger; firstBackupAtStart: boolean; tag: (destination: string, finding: Finding) => Finding },
): SetMonitors {
  const monitors = new SetMonitors({
    store: (destinations[0] as Destination).store,
    storeOf: (name) => storeOf(destinations, name).store,
    settings: options.settings,
    timezone: options.config.cronTimezone,
    logger: options.logger,
    location: () => options.config.location,
    firstBackupAtStart: options.firstBackupAtStart,
    tag: options.tag,
  });
  for (const d of destinations) monitors.ensure(d.name);
  return monitors;
}

// Retention per destination: the configured location in each destination's own store and storage kind.
export function destinationRetentionScope(destinations: readonly Destination[], config: Pick<Config, 'location' | 'storage'>): Pick<SetRetentionOptions, 'location' | 'storeOf'> {
  return {
    location: () => config.location,
    storeOf: (name): { store: BackupStore; storage: StorageSettings } => {
      const d = storeOf(destinations, name);
      return { store: d.store, storage: d.storage ?? config.storage };
    },
  };
}

export function destinationVerifyScope(destinations: readonly Destination[], config: Pick<Config, 'location'>): SetVerifyScope {
  return { location: () => config.location, store: (name) => storeOf(destinations, name).store };
}

// A run's result told to each destination's monitor as that destination saw it.
export function feedDestinationMonitors(monitors: SetMonitors, destinations: readonly Destination[], result: BackupResult): void {
  for (const d of destinations) {
    const record = toBackupRunRecord(resultAt(result, d.name));
    if (record !== undefined) void monitors.get(d.name)?.afterBackupRun(record);
  }
}
