import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { pairKey, unitOf, type Finding } from '../../src/core/findings.ts';
import { unitLabelling } from '../../src/core/unit-labels.ts';
import { destinationSettings } from '../../src/destinations/destination.ts';
import { unitNaming, type UnitNaming } from '../../src/sets/unit-naming.ts';

const BUCKET = { AWS_S3_BUCKET: 'my-backups', AWS_S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com', AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'very-secret' };
const URL = { BACKUP_DATABASE_URL: 'postgres://u:p@db/app' };

// The one decision of what a unit is, from the configuration: how its findings (alerts, /health) and
// its metric series name it.
describe('unit naming', () => {
  const stale: Finding = { check: 'stale', severity: 'fail', summary: 'no new backup for 27 h', values: {} };
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'unit-naming-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const namingOf = (env: Record<string, string>): UnitNaming => {
    const config = loadConfig(env);
    return unitNaming(config, destinationSettings(config));
  };
  // What a metric series of the unit is labelled with must be what its finding names.
  const assertSameName = (naming: UnitNaming, unit: string): void => {
    const tagged = naming.tag(unit, stale);
    const labels = unitLabelling(naming.kind).of(unit);
    assert.deepEqual(labels, Object.fromEntries(Object.keys(labels).map((k) => [k, tagged[k as 'set' | 'destination']])), `the metric labels of ${unit} name it as its finding does`);
    assert.equal(unitOf(tagged), unit, 'the alert key is the unit');
  };

  it('backup sets in several destinations are (set, destination) pairs, named by both in findings and metrics', async () => {
    const naming = namingOf({ ...BUCKET, ...URL, BACKUP_DIR: '/mnt/backups', BACKUP_DATABASES: 'app,shop', BACKUP_GLOBALS: 'true' });
    assert.equal(naming.kind, 'set+destination');
    const unit = naming.unitOf('app', 'dir');
    assert.equal(unit, pairKey('app', 'dir'));
    const tagged = naming.tag(unit, stale);
    assert.deepEqual([tagged.set, tagged.destination, tagged.summary], ['app', 'dir', 'app in dir: no new backup for 27 h']);
    assert.deepEqual([naming.setOf(unit), naming.destinationOf(unit)], ['app', 'dir']);
    assertSameName(naming, unit);
    // A problem of the whole set before any destination (its databases could not be listed) names the set only.
    assert.deepEqual([naming.tagSet('app', stale).set, naming.tagSet('app', stale).destination], ['app', undefined]);
    assert.equal(naming.globals.kind, 'set+destination');

    const file = path.join(dir, 'sets.yaml');
    await fs.writeFile(file, 'destinations:\n  - name: r2\n    dir: /mnt/r2\n  - name: local\n    dir: /mnt/local\nsets:\n  - name: app\n    databaseUrl: postgres://u@db/app\n');
    const fromFile = namingOf({ SENTINEL_CONFIG: file });
    assert.equal(fromFile.kind, 'set+destination', 'SENTINEL_CONFIG sets in two destinations');
    assert.equal(fromFile.tag(pairKey('app', 'local'), stale).summary, 'app in local: no new backup for 27 h');
  });

  it('one database in several destinations is a unit per destination; its globals are pairs', () => {
    const naming = namingOf({ ...BUCKET, ...URL, BACKUP_DIR: '/mnt/backups', BACKUP_GLOBALS: 'true' });
    assert.equal(naming.kind, 'destination');
    const tagged = naming.tag('s3', stale);
    assert.deepEqual([tagged.set, tagged.destination, tagged.summary], [undefined, 's3', 's3: no new backup for 27 h']);
    assert.deepEqual([naming.unitOf('app', 's3'), naming.destinationOf('s3')], ['s3', 's3']);
    assertSameName(naming, 's3');
    const globals = naming.globals.tag(naming.globals.unitOf('@globals', 'dir'), stale);
    assert.deepEqual([globals.set, globals.destination], ['@globals', 'dir']);
  });

  it('sets in the one storage, and the one database in one place, are named by the set alone', () => {
    for (const naming of [namingOf({ ...BUCKET, ...URL, BACKUP_DATABASES: 'app,shop' }), namingOf({ ...BUCKET, ...URL })]) {
      assert.equal(naming.kind, 'set');
      const tagged = naming.tag('app', stale);
      assert.deepEqual([tagged.set, tagged.destination, tagged.summary], ['app', undefined, 'app: no new backup for 27 h']);
      assert.deepEqual([naming.unitOf('app', 's3'), naming.setOf('app'), naming.destinationOf('app')], ['app', 'app', undefined]);
      assertSameName(naming, 'app');
      assert.equal(naming.globals.tag('@globals', stale).destination, undefined);
    }
  });
});
