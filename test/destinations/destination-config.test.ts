import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { destinationSettings } from '../../src/destinations/destination.ts';
import { problemsOf } from '../config/fixtures.ts';

const BUCKET = { AWS_S3_BUCKET: 'my-backups', AWS_S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com', AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'very-secret' };

describe('destinations from the environment', () => {
  it('AWS_S3_BUCKET with BACKUP_DIR set means two destinations, the bucket first, named s3 and dir', () => {
    const config = loadConfig({ ...BUCKET, BACKUP_DIR: '/mnt/backups' });
    assert.equal(config.storage.kind, 's3', 'the first destination stays the storage every single-storage part uses');
    assert.deepEqual(
      destinationSettings(config).map((d) => [d.name, d.storage.kind === 'dir' ? d.storage.dir : d.storage.bucket]),
      [
        ['s3', 'my-backups'],
        ['dir', path.resolve('/mnt/backups')],
      ],
    );
  });

  it('one storage stays one destination, named after its kind', () => {
    assert.equal(loadConfig(BUCKET).destinations, undefined);
    assert.deepEqual(destinationSettings(loadConfig(BUCKET)).map((d) => d.name), ['s3']);
    assert.deepEqual(destinationSettings(loadConfig({ BACKUP_DIR: '/mnt/backups' })).map((d) => d.name), ['dir']);
  });

  it('takes BACKUP_DATABASES and BACKUP_GLOBALS to both destinations', () => {
    const config = loadConfig({ ...BUCKET, BACKUP_DIR: '/mnt/backups', BACKUP_DATABASE_URL: 'postgres://u:p@db/app', BACKUP_DATABASES: 'app,shop', BACKUP_GLOBALS: 'true' });
    assert.deepEqual(config.destinations?.map((d) => d.name), ['s3', 'dir']);
    assert.deepEqual(config.databases, { kind: 'names', names: ['app', 'shop'] });
    assert.equal(config.backup?.globals, true);
  });

  it('takes SENTINEL_CONFIG with two destinations: a missing file is its own problem', () => {
    const problems = problemsOf({ ...BUCKET, BACKUP_DIR: '/mnt/backups', SENTINEL_CONFIG: '/nonexistent/sentinel.yaml' });
    assert.match(problems.message, /SENTINEL_CONFIG: expected the path of a readable YAML file/);
    assert.doesNotMatch(problems.message, /unset with AWS_S3_BUCKET and BACKUP_DIR/);
  });
});
