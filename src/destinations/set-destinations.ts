import type { Config } from '../config/types.ts';
import { pairKey, splitPair, type Finding } from '../core/findings.ts';
import type { Destination } from './destination.ts';

// Backup sets in several destinations: every set's backups reach each of its destinations (its
// `destinations` in SENTINEL_CONFIG, else every one) under the same keys as in one storage, and each
// (set, destination) is watched, pruned and verified on its own under its pairKey.

// A finding of one (set, destination): both named in the finding, and in its summary for people.
export function tagPair(key: string, finding: Finding): Finding {
  const { set, destination } = splitPair(key);
  return { ...finding, set, destination, summary: `${set} in ${destination}: ${finding.summary}` };
}

// The destinations that hold a set's copies: those the set's `destinations` (SENTINEL_CONFIG) name, else
// every one. `set` is --set's value (`<name>/<database>` for a database of a set with `databases`).
// The one rule for where a set is: the commands that act on every copy of a set (check, prune, doctor,
// restore, list, verify) and the service's units read it here; the set's folder is its own
// configuration's location (configOfSet), the same in each of its destinations.
export function setDestinationsAmong<D extends Destination>(all: readonly D[], config: Pick<Config, 'sets'>, set: string | undefined): D[] {
  const name = set?.split('/')[0];
  const names = name === undefined ? undefined : config.sets?.find((s) => s.name === name)?.destinations;
  return names === undefined ? [...all] : all.filter((d) => names.includes(d.name));
}


// The units of a set: one per destination it writes to.
export function pairsOfSet(config: Pick<Config, 'sets'>, destinations: readonly Destination[], set: string): string[] {
  return setDestinationsAmong(destinations, config, set).map((d) => pairKey(set, d.name));
}
