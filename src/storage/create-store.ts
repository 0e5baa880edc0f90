import type { Config } from '../config/types.ts';
import { DirStore } from './dir-store.ts';
import { S3Store, type S3StoreOptions } from './s3-store.ts';
import type { BackupStore, ConditionalStore } from './store.ts';

// The backup storage the configuration names: an S3-compatible bucket, or a local directory.
export function createStore(config: Pick<Config, 'storage'>, s3Options: S3StoreOptions = {}): BackupStore & ConditionalStore {
  const storage = config.storage;
  return storage.kind === 's3' ? new S3Store(storage, s3Options) : new DirStore(storage.dir);
}
