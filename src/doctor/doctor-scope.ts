import type { BackupSettings, Config, DatabaseSelection } from '../config/types.ts';
import type { Destination } from '../destinations/destination.ts';
import { setDestinationsAmong } from '../destinations/set-destinations.ts';

// What `doctor` checks with backup sets and several destinations: each set's database(s), and each
// set's folder in each destination. Pure; `label` names the thing in the checklist ("set app",
// "destination s3", "set app, destination s3"), undefined with one set and one destination, so the
// checklist of a plain deployment reads as before.

export interface DatabaseScope {
  label: string | undefined;
  // undefined: the set only monitors (no database to check).
  settings: BackupSettings | undefined;
  // BACKUP_DATABASES or the set's `databases`: each is checked on the server of the URL.
  databases: DatabaseSelection | undefined;
  // The set's name, for the name of each of its databases' sets ("<set>/<database>"); undefined for
  // BACKUP_DATABASES, whose sets are named after the database alone.
  setName: string | undefined;
  // A set of SENTINEL_CONFIG: how its hints name the keys its entry gave.
  settingNames?: Readonly<Record<string, string>> | undefined;
}

export interface StorageScope {
  label: string | undefined;
  destination: Destination;
  // The set's folder, where its probe object is written (a token may be limited to a prefix).
  subfolder: string;
}

export function databaseScopes(config: Pick<Config, 'backup' | 'databases' | 'sets'>): DatabaseScope[] {
  if (config.sets === undefined) return [{ label: undefined, settings: config.backup, databases: config.databases, setName: undefined }];
  return config.sets.map((s) => ({ label: `set ${s.name}`, settings: s.backup, databases: s.databases, setName: s.name, settingNames: s.settingNames }));
}

// The set name of one database of a scope with `databases`: "<set>/<database>", or the database alone.
export function databaseSetName(scope: DatabaseScope, database: string): string {
  return scope.setName === undefined ? database : `${scope.setName}/${database}`;
}

export function storageScopes(config: Pick<Config, 'location' | 'sets'>, destinations: readonly Destination[]): StorageScope[] {
  const several = destinations.length > 1;
  const folders =
    config.sets === undefined
      ? [{ set: undefined, subfolder: config.location.subfolder, names: undefined }]
      : config.sets.map((s) => ({ set: s.name, subfolder: s.location.subfolder }));
  // A set with `destinations` is probed in those only.
  return folders.flatMap(({ set, subfolder }) =>
    (set === undefined ? destinations : setDestinationsAmong(destinations, config, set)).map((destination) => {
      const parts = [set === undefined ? undefined : `set ${set}`, several ? `destination ${destination.name}` : undefined].filter((p) => p !== undefined);
      return { label: parts.length === 0 ? undefined : parts.join(', '), destination, subfolder };
    }),
  );
}

// A check's name under its scope's label: "set app: database: connection".
export function labelled<T extends { name: string }>(label: string | undefined, check: T): T {
  return label === undefined ? check : { ...check, name: `${label}: ${check.name}` };
}
