import { configOfSet } from '../config/load-sets.ts';
import type { Config, Location } from '../config/types.ts';
import { pairKey, splitPair, type Finding } from '../core/findings.ts';
import { databaseLocation } from '../core/naming.ts';
import type { Destination } from './destination.ts';

// Backup sets in several destinations: every set's backups reach each of its destinations (its
// `destinations` in SENTINEL_CONFIG, else every one) under the same keys as in one storage, and each
// (set, destination) is watched, pruned and verified on its own under its pairKey.

// A finding of one (set, destination): both named in the finding, and in its summary for people.
export function tagPair(key: string, finding: Finding): Finding {
  const { set, destination } = splitPair(key);
  return { ...finding, set, destination, summary: `${set} in ${destination}: ${finding.summary}` };
}

// Whether the units are (set, destination) pairs: backup sets (BACKUP_DATABASES or SENTINEL_CONFIG
// sets) with several destinations.
export function hasSetDestinations(config: Pick<Config, 'sets' | 'databases' | 'destinations'>): boolean {
  return (config.destinations?.length ?? 0) > 1 && (config.sets !== undefined || config.databases !== undefined);
}

// The file set (of SENTINEL_CONFIG) a set name belongs to: `name`, or `name/<database>` of a set with databases.
function fileSetOf(config: Config, set: string): { config: Config; location: Location } | undefined {
  const whole = config.sets?.find((s) => s.name === set && s.databases === undefined);
  if (whole !== undefined) {
    const own = configOfSet(config, whole);
    return { config: own, location: own.location };
  }
  const slash = set.indexOf('/');
  const parent = slash < 0 ? undefined : config.sets?.find((s) => s.name === set.slice(0, slash) && s.databases !== undefined);
  if (parent === undefined) return undefined;
  const own = configOfSet(config, parent);
  return { config: own, location: databaseLocation(own.location, set.slice(slash + 1)) };
}

// The destinations of one backup set, each with its store and where the set's backups are in it: a set
// of SENTINEL_CONFIG (`name` or `name/<database>`) writes to its own `destinations`; a database of
// BACKUP_DATABASES to every destination. `destinations` are the created ones (createDestinations).
// Commands that act on every copy of a set (prune, doctor, restore, list) read from here.
export function destinationsOfSet(config: Config, destinations: readonly Destination[], set: string): { name: string; store: Destination['store']; location: Location }[] {
  const location = (config.sets === undefined ? undefined : fileSetOf(config, set))?.location ?? databaseLocation(config.location, set);
  return setDestinationsAmong(destinations, config, set).map((d) => ({ name: d.name, store: d.store, location }));
}

// The destinations that hold a set's copies: those the set's `destinations` (SENTINEL_CONFIG) name, else
// every one. `set` is --set's value (`<name>/<database>` for a database of a set with `databases`).
export function setDestinationsAmong<D extends Destination>(all: readonly D[], config: Pick<Config, 'sets'>, set: string | undefined): D[] {
  const name = set?.split('/')[0];
  const names = name === undefined ? undefined : config.sets?.find((s) => s.name === name)?.destinations;
  return names === undefined ? [...all] : all.filter((d) => names.includes(d.name));
}


// The units of a set: one per destination it writes to.
export function pairsOfSet(config: Config, destinations: readonly Destination[], set: string): string[] {
  return destinationsOfSet(config, destinations, set).map((d) => pairKey(set, d.name));
}
