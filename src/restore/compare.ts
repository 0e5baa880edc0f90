// Pure decisions of verification and drills: which tables vanished, which row counts are off.

// Tables of the previous backup that the newer one no longer has, in the previous backup's order.
export function findVanishedTables(previous: readonly string[], newest: readonly string[]): string[] {
  const present = new Set(newest);
  return previous.filter((t) => !present.has(t));
}

export interface RowTolerance {
  // A restored count may differ from the source's estimate by this fraction of the estimate ...
  ratio: number;
  // ... or by this many rows, whichever is larger (estimates of small tables are coarse).
  minRows: number;
}

// Estimates are the planner's, and the source keeps changing after the backup: only gross
// differences (a table restored empty, or with a fraction of its rows) fail a drill.
export const DEFAULT_ROW_TOLERANCE: RowTolerance = { ratio: 0.5, minRows: 1000 };

export interface RowMismatch {
  table: string;
  restored: number | undefined;
  expected: number;
  // What expected is: the dump's own COPY rows, or the source database's estimate.
  against: 'dump' | 'source estimate';
}

// Restored exact counts against the rows the dump itself loaded: these must match exactly.
export function compareWithDump(restored: ReadonlyMap<string, number>, dumpRows: ReadonlyMap<string, number>): RowMismatch[] {
  const mismatches: RowMismatch[] = [];
  for (const [table, expected] of dumpRows) {
    const count = restored.get(table);
    // Names the dump writes differently from quote_ident (rare keywords) are skipped, not guessed.
    if (count === undefined) continue;
    if (count !== expected) mismatches.push({ table, restored: count, expected, against: 'dump' });
  }
  return mismatches;
}

// Restored exact counts against the source's estimates, within the tolerance. A source table missing
// from the restore counts only when it is large (a small one may simply be newer than the backup).
export function compareWithEstimates(
  restored: ReadonlyMap<string, number>,
  estimates: ReadonlyMap<string, number | undefined>,
  tolerance: RowTolerance = DEFAULT_ROW_TOLERANCE,
): RowMismatch[] {
  const mismatches: RowMismatch[] = [];
  for (const [table, estimate] of estimates) {
    if (estimate === undefined) continue;
    const allowed = Math.max(tolerance.ratio * estimate, tolerance.minRows);
    const count = restored.get(table);
    if (count === undefined) {
      if (estimate > allowed) mismatches.push({ table, restored: undefined, expected: estimate, against: 'source estimate' });
      continue;
    }
    if (Math.abs(count - estimate) > allowed) mismatches.push({ table, restored: count, expected: Math.round(estimate), against: 'source estimate' });
  }
  return mismatches;
}

export function describeMismatch(m: RowMismatch): string {
  if (m.restored === undefined) return `${m.table} is missing from the restore (the source has about ${m.expected} rows)`;
  return m.against === 'dump'
    ? `${m.table} has ${m.restored} rows after restoring, the dump loaded ${m.expected}`
    : `${m.table} has ${m.restored} rows after restoring, the source database has about ${m.expected}`;
}
