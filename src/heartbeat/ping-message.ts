import type { BackupResult } from '../backup/result.ts';
import type { Finding } from '../core/findings.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { printableKey } from '../util/printable-key.ts';
import type { HeartbeatEvent } from './ping-request.ts';

// What a heartbeat ping says. Pure.

export interface PingReport {
  event: HeartbeatEvent;
  message: string;
}

// After a monitor check: the failure form when any current finding fails (severity fail); warnings
// still pass (they are alerted, but the backups are there). The text lists the findings.
export function checkReport(findings: readonly Finding[], name: string): PingReport {
  const failing = findings.some((f) => f.severity === 'fail');
  const lines = findings.map((f) => `${f.severity.toUpperCase()} ${f.check}: ${f.summary}`);
  const head = failing ? `${name}: check failed` : `${name}: check passed${findings.length > 0 ? ' with warnings' : ''}`;
  return { event: failing ? 'fail' : 'success', message: [head, ...lines].join('\n') };
}

// The end of a backup run (skipped runs send nothing: the replica that holds the lock reports its own).
export function backupEndReport(result: BackupResult, name: string): PingReport | undefined {
  switch (result.status) {
    case 'success':
      return { event: 'success', message: `${name}: backup stored: ${printableKey(result.key)}, ${formatBytes(result.manifest.size)} in ${formatDuration(result.durationMs)}` };
    case 'failed':
      return { event: 'fail', message: `${name}: backup failed (${result.stage}): ${result.shortMessage}` };
    case 'cancelled':
      return { event: 'fail', message: `${name}: backup cancelled: the service stopped during the run` };
    case 'skipped':
      return undefined;
  }
}
