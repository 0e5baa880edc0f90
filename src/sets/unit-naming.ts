import type { Config } from '../config/types.ts';
import { pairKey, splitPair, type Finding } from '../core/findings.ts';
import type { UnitLabel } from '../core/unit-labels.ts';
import { tagDestination } from '../destinations/destination-sets.ts';
import { tagPair } from '../destinations/set-destinations.ts';
import { tagFinding } from './set-monitors.ts';

// What the units the service watches are, and how each is named: in its findings (alerts, /health,
// /status) and in its metric series. Decided once, here, from the configuration, and handed to every
// consumer, so that an alert and a metric can never name the same unit differently.

export interface UnitNaming {
  // What a unit is, which is also the label(s) its metric series carry (unitLabelling):
  // 'set' backup sets in the one storage (or the one database in one place), 'destination' the one
  // database in each of several destinations, 'set+destination' each (set, destination) of backup sets
  // in several destinations, named by pairKey.
  readonly kind: UnitLabel;
  // A finding of one unit, naming it (tagFinding, tagDestination or tagPair).
  readonly tag: (unit: string, finding: Finding) => Finding;
  // A finding about a whole set before it reached any destination (its databases could not be listed):
  // named by the set alone, whatever the units are.
  readonly tagSet: (set: string, finding: Finding) => Finding;
  // The set a unit is about: a pair's set, else the unit itself (a destination's unit is the "set"
  // named after it).
  readonly setOf: (unit: string) => string;
  // The destination a unit is in: a pair's destination, a destination's unit itself; undefined for
  // sets in the one storage.
  readonly destinationOf: (unit: string) => string | undefined;
  // The unit of `set` in `destination`: the pair with several destinations, else the set.
  readonly unitOf: (set: string, destination: string) => string;
  // BACKUP_GLOBALS: the roles are a set of their own (`@globals`), a pair in each of several
  // destinations even when the database is one (the units then being destinations).
  readonly globals: UnitNaming;
}

const SETS: UnitNaming = {
  kind: 'set',
  tag: tagFinding,
  tagSet: tagFinding,
  setOf: (unit) => unit,
  destinationOf: () => undefined,
  unitOf: (set) => set,
  get globals() {
    return SETS;
  },
};

const PAIRS: UnitNaming = {
  kind: 'set+destination',
  tag: tagPair,
  tagSet: tagFinding,
  setOf: (unit) => splitPair(unit).set,
  destinationOf: (unit) => splitPair(unit).destination,
  unitOf: pairKey,
  get globals() {
    return PAIRS;
  },
};

const DESTINATIONS: UnitNaming = {
  kind: 'destination',
  tag: tagDestination,
  tagSet: tagFinding,
  setOf: (unit) => unit,
  destinationOf: (unit) => unit,
  unitOf: (_set, destination) => destination,
  globals: PAIRS,
};

// The naming of the units of `config` written to `destinations` (those created, in order): backup sets
// (BACKUP_DATABASES or SENTINEL_CONFIG) in several destinations are pairs; the one database in several
// destinations is a unit per destination; else sets (the one database in one place has a single monitor,
// whose findings name no unit).
export function unitNaming(config: Pick<Config, 'sets' | 'databases'>, destinations: readonly { name: string }[]): UnitNaming {
  if (destinations.length <= 1) return SETS;
  return config.sets !== undefined || config.databases !== undefined ? PAIRS : DESTINATIONS;
}
