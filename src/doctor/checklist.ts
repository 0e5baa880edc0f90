// The result of `doctor` as a checklist: one line per check, what to do under each failure. Pure.

type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  // What was checked, e.g. "database: connection".
  name: string;
  status: CheckStatus;
  // One line: what was found ("PostgreSQL 16.4", "AccessDenied when writing ...").
  summary: string;
  // What to do, for a failure or a warning.
  hint?: string;
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function formatChecklist(checks: readonly DoctorCheck[]): string {
  const lines = checks.flatMap((c) => [`  [${MARK[c.status]}] ${c.name}: ${c.summary}`, ...(c.hint === undefined || c.status === 'ok' ? [] : [`         What to do: ${c.hint}`])]);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  const verdict =
    failed > 0
      ? `${failed} check${failed === 1 ? '' : 's'} failed${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}: fix ${failed === 1 ? 'it' : 'them'} and run doctor again.`
      : warned > 0
        ? `Every check passed, with ${warned} warning${warned === 1 ? '' : 's'}.`
        : 'Every check passed.';
  return `${lines.join('\n')}\n\n${verdict}\n`;
}

// 0 when nothing failed (warnings included), 1 otherwise.
export function doctorExitCode(checks: readonly DoctorCheck[]): number {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
