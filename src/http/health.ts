import { unitOf, type CheckName, type Finding, type Severity } from '../core/findings.ts';

// Pure builder of the `application/health+json` body (draft-inadmissible-rfc-health-check) from the
// monitor's stored state. No I/O: /health reads memory only.

export type HealthStatus = 'pass' | 'warn' | 'fail';

// What the /health provider returns: the current findings and when they were computed.
export interface HealthState {
  findings: readonly Finding[];
  // undefined: no check has finished yet.
  checkedAt: Date | undefined;
  // Checks that ran and are clear get a `pass` entry; defaults to none.
  checks?: readonly CheckName[];
  // With BACKUP_DATABASES: each set's checks, listed as `backup:<set>:<check>`.
  setChecks?: readonly { set: string; checks: readonly CheckName[] }[];
}

interface HealthCheckEntry {
  componentId: string;
  status: HealthStatus;
  time?: string;
  output?: string;
  observedValue?: number | string;
  observedUnit?: string;
  affectedEndpoints?: string[];
  values?: Record<string, number | string>;
  hint?: string;
}

export interface HealthReport {
  status: HealthStatus;
  version?: string;
  serviceId: string;
  description: string;
  output?: string;
  notes?: string[];
  checks: Record<string, HealthCheckEntry[]>;
}

// The worst severity wins; no findings is `pass`.
export function worstStatus(severities: readonly Severity[]): HealthStatus {
  if (severities.includes('fail')) return 'fail';
  if (severities.includes('warn')) return 'warn';
  return 'pass';
}

// Builds the health report; before the first check the service is `warn` ("no check yet"), not `fail`,
// so an uptime monitor does not page during start-up.
export function buildHealthReport(state: HealthState | undefined, options: { name: string; version?: string }): HealthReport {
  const base = { serviceId: options.name, description: 'backup-sentinel: PostgreSQL backups and their freshness' };
  const version = options.version === undefined ? {} : { version: options.version };
  if (state === undefined) {
    return { status: 'pass', ...version, ...base, output: 'no monitor configured in this process', checks: {} };
  }
  const time = state.checkedAt?.toISOString();
  const checks: Record<string, HealthCheckEntry[]> = {};
  for (const name of state.checks ?? []) {
    if (state.findings.some((f) => f.check === name)) continue;
    checks[`backup:${name}`] = [{ componentId: name, status: 'pass', ...(time === undefined ? {} : { time }) }];
  }
  for (const { set, checks: names } of state.setChecks ?? []) {
    for (const name of names) {
      if (state.findings.some((f) => f.check === name && unitOf(f) === set)) continue;
      checks[`backup:${set}:${name}`] = [{ componentId: set, status: 'pass', ...(time === undefined ? {} : { time }) }];
    }
  }
  for (const finding of state.findings) {
    const entry: HealthCheckEntry = {
      componentId: unitOf(finding) ?? finding.check,
      status: finding.severity,
      output: finding.summary,
      values: finding.values,
      ...(time === undefined ? {} : { time }),
      ...(finding.hint === undefined ? {} : { hint: finding.hint }),
    };
    const unit = unitOf(finding);
    const key = unit === undefined ? `backup:${finding.check}` : `backup:${unit}:${finding.check}`;
    (checks[key] ??= []).push(entry);
  }
  if (state.checkedAt === undefined && state.findings.length === 0) {
    return { status: 'warn', ...version, ...base, output: 'no check has finished yet', checks };
  }
  const status = worstStatus(state.findings.map((f) => f.severity));
  const output = state.findings.map((f) => f.summary).join('; ');
  return { status, ...version, ...base, ...(output === '' ? {} : { output }), checks };
}
