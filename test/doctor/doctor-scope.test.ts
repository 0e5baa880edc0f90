import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/types.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { storageScopes } from '../../src/doctor/doctor-scope.ts';
import type { BackupStore } from '../../src/storage/store.ts';

// Pure: which storage probes doctor runs. The stores are never called here, so a bare object stands in.
const destination = (name: string): Destination => ({ name, store: { description: `${name}:` } as BackupStore });
const location = (subfolder: string) => ({ subfolder, prefix: 'backup-' });

describe('doctor: what is probed', () => {
  it('one destination without sets: one probe, unlabelled, as before', () => {
    const scopes = storageScopes({ location: location('db'), sets: undefined }, [destination('s3')]);
    assert.deepEqual(scopes.map((s) => [s.label, s.destination.name, s.subfolder]), [[undefined, 's3', 'db']]);
  });

  it('sets × destinations: each set\'s folder in each destination, labelled with both', () => {
    const sets = [{ name: 'app', location: location('app') }, { name: 'crm', location: location('crm-backups') }] as Config['sets'];
    const scopes = storageScopes({ location: location(''), sets }, [destination('r2'), destination('dir')]);
    assert.deepEqual(
      scopes.map((s) => [s.label, s.destination.name, s.subfolder]),
      [
        ['set app, destination r2', 'r2', 'app'],
        ['set app, destination dir', 'dir', 'app'],
        ['set crm, destination r2', 'r2', 'crm-backups'],
        ['set crm, destination dir', 'dir', 'crm-backups'],
      ],
    );
  });

  it('a set with destinations of its own is probed in those only', () => {
    const sets = [{ name: 'app', location: location('app'), destinations: ['dir'] }, { name: 'crm', location: location('crm') }] as Config['sets'];
    const scopes = storageScopes({ location: location(''), sets }, [destination('r2'), destination('dir')]);
    assert.deepEqual(scopes.map((s) => s.label), ['set app, destination dir', 'set crm, destination r2', 'set crm, destination dir']);
  });
});
