import type { Config } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import { DirStore } from './dir-store.ts';
import { S3Store, type S3StoreOptions } from './s3-store.ts';
import type { BackupStore, ConditionalStore } from './store.ts';

// The backup storage the configuration names: an S3-compatible bucket, or a local directory. The
// logger receives the directory store's warnings (links it does not list).
export function createStore(config: Pick<Config, 'storage'>, s3Options: S3StoreOptions = {}, logger?: Logger): BackupStore & ConditionalStore {
  const storage = config.storage;
  return storage.kind === 's3' ? new S3Store(storage, s3Options) : new DirStore(storage.dir, logger ? { logger } : {});
}
