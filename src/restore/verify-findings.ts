import type { Finding } from '../core/findings.ts';

// The findings the last verification and drill amount to (pure): 'verify_failed' and 'drill_failed'.

export interface CheckRecord {
  key: string | undefined;
  ok: boolean;
  checkedAt: Date;
  problems: { message: string; hint?: string | undefined; warnOnly?: boolean }[];
}

function summarize(what: string, record: CheckRecord): string {
  const first = record.problems[0]?.message ?? 'unknown problem';
  const more = record.problems.length > 1 ? ` (+${record.problems.length - 1} more)` : '';
  return `${what}: ${first}${more}`;
}

export function verifyFindings(verify: CheckRecord | undefined, drill: CheckRecord | undefined): Finding[] {
  const findings: Finding[] = [];
  if (verify && !verify.ok) {
    // A vanished table may be a deliberate migration: a warning, unless something else is wrong too.
    const severity = verify.problems.every((p) => p.warnOnly) ? 'warn' : 'fail';
    const hint = verify.problems.find((p) => p.hint)?.hint;
    findings.push({
      check: 'verify_failed',
      severity,
      summary: summarize(`backup ${verify.key ?? '(none)'} failed verification`, verify),
      values: { key: verify.key ?? '', problems: verify.problems.length, checkedAt: verify.checkedAt.toISOString() },
      ...(hint ? { hint } : {}),
    });
  }
  if (drill && !drill.ok) {
    findings.push({
      check: 'drill_failed',
      severity: 'fail',
      summary: summarize(`restore drill of ${drill.key ?? '(no backup)'} failed`, drill),
      values: { key: drill.key ?? '', problems: drill.problems.length, checkedAt: drill.checkedAt.toISOString() },
      hint: drill.problems.find((p) => p.hint)?.hint ?? 'run `backup-sentinel restore --latest --target-url <scratch database> --create` by hand to see the whole error; see docs/restore.md',
    });
  }
  return findings;
}
