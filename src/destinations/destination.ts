import type { Config, DestinationSettings, StorageSettings } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import { createStore } from '../storage/create-store.ts';
import type { S3StoreOptions } from '../storage/s3-store.ts';
import type { BackupStore, ConditionalStore } from '../storage/store.ts';
import { withSettingNames } from '../config/setting-names.ts';

// One place a backup is written to: a name (in findings, alerts, metrics, `--destination`) and its
// store. A value, so a list of them can come from any configuration source.
export interface Destination {
  readonly name: string;
  readonly store: BackupStore;
  // Its settings, when it came from the configuration (retention reads the kind and the bucket's rules).
  readonly storage?: StorageSettings | undefined;
}

// The destinations the configuration names, in order: several (AWS_S3_BUCKET with BACKUP_DIR), or the
// one storage, named after its kind ('s3' or 'dir').
export function destinationSettings(config: Pick<Config, 'storage' | 'destinations'>): DestinationSettings[] {
  return config.destinations ?? [{ name: config.storage.kind, storage: config.storage }];
}

export function createDestinations(
  config: Pick<Config, 'storage' | 'destinations'>,
  s3Options: S3StoreOptions = {},
  logger?: Logger,
): (Destination & { store: BackupStore & ConditionalStore; storage: StorageSettings })[] {
  return destinationSettings(config).map((d) => ({ name: d.name, storage: d.storage, store: withSettingNames(createStore({ storage: d.storage }, s3Options, logger), d.settingNames) }));
}
