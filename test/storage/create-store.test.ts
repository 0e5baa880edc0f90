import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../../src/config/secret.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';

describe('createStore', () => {
  it('makes an S3 store for a bucket, described without credentials', () => {
    const store = createStore({
      storage: {
        kind: 's3',
        bucket: 'my-backups',
        endpoint: 'https://user:pw@acct.r2.cloudflarestorage.com/?x=1',
        region: 'auto',
        forcePathStyle: true,
        accessKeyId: 'AKIA',
        secretAccessKey: new Secret('s3cr3t'),
        objectLock: false,
      },
    });
    assert.ok(store instanceof S3Store);
    assert.equal(store.description, 's3://my-backups at https://acct.r2.cloudflarestorage.com');
  });

  it('makes a directory store for BACKUP_DIR', () => {
    const store = createStore({ storage: { kind: 'dir', dir: '/var/backups/pg' } });
    assert.ok(store instanceof DirStore);
    assert.equal(store.description, 'dir:/var/backups/pg');
  });
});
