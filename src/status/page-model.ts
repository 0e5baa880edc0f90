import type { Finding } from '../core/findings.ts';
import type { PageFinding, PageSet, StatusPageModel, Verdict } from '../http/status-page.ts';
import { HISTORY_POINTS, relativeTime } from '../http/status-page.ts';
import type { MonitorSnapshot } from '../monitor/state.ts';
import type { VerifyState } from '../restore/verify-service.ts';
import type { RetentionStatus } from '../retention/retention-status.ts';

// Turns the services' stored state into what the status page shows (pure: no I/O, time as an argument).

interface PageSetInput {
  name?: string | undefined;
  snapshot: MonitorSnapshot;
  nextBackupAt?: Date | undefined;
  retention: RetentionStatus | { mode: 'off' };
  retentionDays: number;
  verify?: VerifyState | undefined;
}

export interface PageModelInput {
  name: string;
  version?: string | undefined;
  now: Date;
  verdict: Verdict;
  findings: readonly (Finding & { set?: string | undefined })[];
  role?: string | undefined;
  sets: readonly PageSetInput[];
}

function retentionLine(status: RetentionStatus | { mode: 'off' }, days: number, now: Date): string {
  if (status.mode === 'off') return 'off (RETENTION_DAYS=0): backups are kept until deleted by hand';
  const how = status.mode === 'lifecycle' ? `a lifecycle rule in the bucket deletes backups after ${days} days` : `this service deletes backups older than ${days} days`;
  const problem = status.lifecycleProblem ? ` — problem: ${status.lifecycleProblem.message}` : '';
  const last = status.lastRunAt ? `; last run ${relativeTime(status.lastRunAt, now)}${status.lastRunOk === false ? ' (failed)' : ''}` : '';
  return `${how}${problem}${last}`;
}

function verificationLines(state: VerifyState | undefined, now: Date): string[] {
  if (state === undefined) return [];
  const lines: string[] = [];
  const v = state.lastVerify;
  if (v === undefined) lines.push('not verified yet');
  else if (v.key === undefined) lines.push(`verification ${relativeTime(v.checkedAt, now)}: no backup to verify`);
  else lines.push(`verification ${relativeTime(v.checkedAt, now)}: ${v.ok ? 'readable' : 'FAILED'} — ${v.key}, ${v.tables.length} tables${v.sha256Checked ? ', sha256 matched' : ''}`);
  const d = state.lastDrill;
  if (d !== undefined && d.key !== undefined) lines.push(`restore drill ${relativeTime(d.checkedAt, now)}: ${d.ok ? 'restored' : 'FAILED'} — ${d.tables} tables, ${d.rows} rows`);
  return lines;
}

// Single-quoted for a POSIX shell.
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function pageSet(input: PageSetInput, now: Date): PageSet {
  const { snapshot } = input;
  const { inventory } = snapshot;
  const durations = new Map(snapshot.backupRuns.recentRuns.filter((r) => r.key !== undefined && r.durationMs !== undefined).map((r) => [r.key, r.durationMs]));
  const newest = inventory.newest;
  const last = snapshot.backupRuns.lastAttempt;
  return {
    name: input.name,
    where: snapshot.where,
    newest: newest ? { key: newest.key, time: newest.time, sizeBytes: newest.size } : undefined,
    maxAgeHours: snapshot.policy.maxAgeHours,
    count: inventory.count,
    totalBytes: inventory.totalBytes,
    history: inventory.recent.slice(-HISTORY_POINTS).map((b) => ({ time: b.time, sizeBytes: b.size, durationMs: durations.get(b.key) })),
    lastRun: last ? { status: last.result, at: last.finishedAt, durationMs: last.durationMs, error: last.error } : undefined,
    nextBackupAt: input.nextBackupAt,
    retention: retentionLine(input.retention, input.retentionDays, now),
    verification: verificationLines(input.verify, now),
    // The target URL through the environment, so its password stays out of `ps` and shell history.
    restoreCommand: newest
      ? `RESTORE_TARGET_URL='postgres://USER:PASSWORD@HOST:5432/DATABASE' \\\n  backup-sentinel restore --key ${shellQuote(newest.key)} --create`
      : undefined,
  };
}

export function buildStatusPageModel(input: PageModelInput): StatusPageModel {
  const findings: PageFinding[] = input.findings.map((f) => ({ check: f.check, severity: f.severity, summary: f.summary, hint: f.hint, set: f.set }));
  // Failures first, then warnings, as the banner shows the first ones.
  findings.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'fail' ? -1 : 1));
  const first = input.sets[0]?.snapshot;
  return {
    name: input.name,
    version: input.version,
    now: input.now,
    verdict: input.verdict,
    findings,
    sets: input.sets.map((s) => pageSet(s, input.now)),
    lastCheckAt: first?.lastCheck?.at,
    nextCheckAt: first?.nextCheckAt,
    role: input.role,
  };
}
