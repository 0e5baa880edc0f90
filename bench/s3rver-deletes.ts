import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

// s3rver's filesystem store, after deleting an object's files, removes the folders the key leaves empty,
// and finds out whether a folder is empty with a synchronous readdir of the whole folder: once per
// deleted key. A prune deleting 2,158 of 2,200 objects in one folder (three files each) so reads about
// 7 million directory entries, and the profile of the bench's S3 server put 6 of the 7 s its
// DeleteObjects took there. S3, R2 and MinIO have no folders and no such cost growing with the number of
// other keys under the prefix. Here the same folders go the same way, by an rmdir that fails at once
// while the folder holds anything: each delete costs what it costs on a real S3, so the bench measures
// our requests and not s3rver's clean-up. For the bench's server only; the tests keep s3rver as it is.

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  getBucketPath(bucket: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
}

export function makeS3rverDeletesConstantTime(): void {
  const require = createRequire(import.meta.url);
  const Store = require('s3rver/lib/stores/filesystem.js') as { prototype: FilesystemStore };
  Store.prototype.deleteObject = async function deleteObject(this: FilesystemStore, bucket: string, key: string): Promise<void> {
    const ignoreMissing = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    };
    await Promise.all(['object', 'object.md5', 'metadata.json'].map((resource) => fs.unlink(this.getResourcePath(bucket, key, resource)).catch(ignoreMissing)));
    // The folders of the key, innermost first, as s3rver walks them (the last part is the file name).
    const parts = key.split('/').slice(0, -1);
    for (; parts.length > 0; parts.pop()) {
      try {
        await fs.rmdir(path.join(this.getBucketPath(bucket), ...parts));
      } catch (error) {
        // Not empty (another object is there), or already removed by a concurrent delete: done.
        if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) return;
        throw error;
      }
    }
  };
}
