import { splitPair } from './findings.ts';

// The labels a per-unit metric series carries: `set` (backup sets in one storage), `destination` (one
// database in several destinations), or both (sets in several destinations, the unit named by pairKey).
export type UnitLabel = 'set' | 'destination' | 'set+destination';

export interface UnitLabelling {
  names: string[];
  of: (unit: string) => Record<string, string>;
}

export function unitLabelling(label: UnitLabel): UnitLabelling {
  if (label === 'set+destination') return { names: ['set', 'destination'], of: (unit) => splitPair(unit) };
  return { names: [label], of: (unit) => ({ [label]: unit }) };
}
