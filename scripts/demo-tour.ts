import { Writable } from 'node:stream';
import { buildEmailBody } from '../src/alerts/email-body.ts';
import { messageContext } from '../src/alerts/create-alert-service.ts';
import { formatMessage } from '../src/alerts/format-message.ts';
import { emptyAlertState, evaluateAlerts } from '../src/alerts/policy.ts';
import { buildSlackPayload } from '../src/alerts/slack-payload.ts';
import type { BackupResult } from '../src/backup/result.ts';
import { listCommand } from '../src/commands/list.ts';
import type { Config } from '../src/config/types.ts';
import type { Logger } from '../src/logger.ts';
import type { Sentinel } from '../src/main.ts';
import { checkStale } from '../src/monitor/checks.ts';
import type { CheckResult } from '../src/monitor/state.ts';

// The newcomer's tour, printed once the first backup and the check after it are done: where to look
// (URLs), what is stored (the `list` command's own output), the health verdict, a few key metrics and
// what an alert would say (rendered by the alerts module, for a sample "stale" finding).

// The key metrics shown in the tour (the full set is at /metrics).
const TOUR_METRICS = [
  'backup_sentinel_last_backup_success',
  'backup_sentinel_last_backup_success_timestamp_seconds',
  'backup_sentinel_last_backup_size_bytes',
  'backup_sentinel_stored_backups',
];

// Resolves with the first backup run that ran (success or failure) and the first check that started
// after it, so the check has seen that backup. Subscribe before the run can finish (right after start).
export function waitForFirstBackupAndCheck(sentinel: Sentinel): Promise<{ backup: BackupResult; check: CheckResult }> {
  const checks: CheckResult[] = [];
  return new Promise((resolve) => {
    let backup: BackupResult | undefined;
    const settle = (): void => {
      const check = backup === undefined ? undefined : checks.find((c) => c.at.getTime() >= (backup?.finishedAt.getTime() ?? Infinity));
      if (backup === undefined || check === undefined) return;
      offCheck();
      offRun?.();
      resolve({ backup, check });
    };
    const offCheck = sentinel.monitor.onCheck((result) => {
      checks.push(result);
      settle();
    });
    const offRun = sentinel.backupService?.onRunFinished((result) => {
      if (result.status === 'skipped') return;
      backup = result;
      settle();
    });
    backup = sentinel.backupService?.lastResult;
    settle();
  });
}

export interface TourInput {
  sentinel: Sentinel;
  config: Config;
  logger: Logger;
  backup: BackupResult;
  // How backups are stored, for people: "in-process S3 server at http://127.0.0.1:PORT, bucket demo-backups".
  storageLine: string;
  // What happens to the backups when the demo stops.
  keptLine: string;
  alertsLine: string;
}

// Gathers everything first (HTTP answers, the listing) and returns the tour as one text, so log lines
// of the running service do not cut through it.
export async function renderTour(input: TourInput): Promise<string> {
  const { sentinel, config, backup } = input;
  const base = `http://127.0.0.1:${sentinel.port}`;
  const [health, metrics, listing] = await Promise.all([fetchHealth(`${base}/health`), fetchMetrics(`${base}/metrics`), runList(input)]);
  const lines: string[] = [
    '',
    '================ backup-sentinel demo: the tour ================',
    '',
    backup.status === 'success'
      ? `First backup  ${backup.key} taken in ${(backup.durationMs / 1000).toFixed(1)} s`
      : `First backup  FAILED (${backup.status === 'failed' ? backup.shortMessage : backup.status}); see the log lines above`,
    `Storage       ${input.storageLine}`,
    '',
    'Look around (the service keeps running):',
    `  ${base}/status    everything the service knows, as JSON`,
    `  ${base}/health    the verdict for uptime monitors (health+json; 503 on fail)`,
    `  ${base}/metrics   Prometheus metrics`,
    `  ${base}/livez     liveness (never depends on storage)`,
    '',
    '$ backup-sentinel list',
    ...listing.trimEnd().split('\n').map((l) => `  ${l}`),
    '',
    `Health        ${health}`,
    '',
    'Key metrics (from /metrics):',
    ...metrics.map((l) => `  ${l}`),
    '',
    ...renderAlertPreview(sentinel, config),
    '',
    `Alerts        ${input.alertsLine}`,
    `Next backup   ${sentinel.backupService?.nextRunAt()?.toISOString() ?? 'none scheduled'} (DEMO_CRON "${config.backup?.cron ?? ''}", UTC)`,
    `On exit       ${input.keptLine}`,
    '',
    'Stop with Ctrl-C: it stops the service, the S3 server (if any) and PostgreSQL.',
    '================================================================',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

// What Slack and e-mail would say if backups stopped: the real check (checkStale) at a moment just past
// MAX_BACKUP_AGE_HOURS, through the real alert policy and formatting. Nothing is sent.
function renderAlertPreview(sentinel: Sentinel, config: Config): string[] {
  const newest = sentinel.monitor.snapshot().inventory.newest;
  const context = messageContext(config, sentinel.store);
  const later = new Date((newest?.time.getTime() ?? Date.now()) + (config.monitor.maxAgeHours + 2) * 3_600_000);
  const finding = checkStale(newest, config.monitor, later, sentinel.monitor.snapshot().where);
  if (finding === undefined) return ['Alert preview: (no stale finding could be made)'];
  const { notification } = evaluateAlerts(emptyAlertState(), [finding], later, { repeatHours: config.alerts.repeatHours });
  if (notification === undefined) return ['Alert preview: (the policy would send nothing)'];
  const message = formatMessage(notification, context);
  const email = buildEmailBody(message);
  const slack = buildSlackPayload(message);
  return [
    `Alert preview: if no backup were taken for ${config.monitor.maxAgeHours + 2} h (limit MAX_BACKUP_AGE_HOURS=${config.monitor.maxAgeHours}), at the next check:`,
    '',
    '  Slack notification line:',
    `    ${slack.text}`,
    '',
    '  E-mail (plain-text part):',
    ...email.text.trimEnd().split('\n').map((l) => `    ${l}`),
  ];
}

async function fetchHealth(url: string): Promise<string> {
  try {
    const response = await fetch(url);
    const body = (await response.json()) as { status?: string; output?: string };
    return `${body.status ?? '?'} (HTTP ${response.status})${body.output ? `: ${body.output}` : ''}`;
  } catch (error) {
    return `could not ask ${url}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

async function fetchMetrics(url: string): Promise<string[]> {
  try {
    const text = await (await fetch(url)).text();
    return text.split('\n').filter((line) => TOUR_METRICS.some((name) => line.startsWith(`${name} `) || line.startsWith(`${name}{`)));
  } catch (error) {
    return [`could not ask ${url}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

// Runs the real `list` command on the demo's configuration and returns what it printed.
async function runList(input: TourInput): Promise<string> {
  let out = '';
  const collect = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  try {
    await listCommand.run([], { config: input.config, logger: input.logger, stdout: collect, stderr: collect, stopSignal: new AbortController().signal });
  } catch (error) {
    out += `list failed: ${error instanceof Error ? error.message : String(error)}\n`;
  }
  return out;
}
