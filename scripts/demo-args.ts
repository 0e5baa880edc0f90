// The demo's command-line flags (pure: no I/O), and its --help text.

export interface DemoOptions {
  // Local directory storage in .demo/backups instead of the in-process S3 server.
  dir: boolean;
  // Stop by itself once the tour is printed (for tests and CI).
  exitAfterTour: boolean;
  // Pass the shell's SLACK_WEBHOOK_URL / SMTP_* / ALERT_* through, so demo alerts reach a real channel.
  alertsFromEnv: boolean;
  // The service's raw pino JSON lines instead of the short console lines.
  jsonLogs: boolean;
  help: boolean;
}

export const DEMO_HELP = `npm run demo [-- <flags>]: backup-sentinel on a throwaway PostgreSQL with sample data.

Starts PostgreSQL (temp dir, free port) and an in-process S3 server, runs \`serve\` with one backup at
start, then prints the HTTP URLs, the backups in storage, the health verdict and what an alert would
say. Ctrl-C stops everything and removes the temp dirs.

Flags:
  --dir              store backups in .demo/backups (kept after exit) instead of the in-process S3 server
  --alerts-from-env  send the demo's alerts to the SLACK_WEBHOOK_URL / SMTP_* / ALERT_EMAIL_* of your
                     shell (ignored by default: the demo runs on a fresh environment)
  --json-logs        print the service's logs as the JSON lines it writes in production
  --exit-after-tour  stop by itself once the tour is printed
  --help             this text

Environment: DEMO_CRON (backup schedule, default "*/2 * * * *"), DEMO_BACKUP_DIR (the --dir folder,
default .demo/backups), BACKUP_COMPRESSION (gzip), LOG_LEVEL (info), PORT (HTTP port, default a free one).
`;

// Parses argv (without node and the script); unknown flags are an error message naming them.
export function parseDemoArgs(args: readonly string[]): { options: DemoOptions } | { error: string } {
  const options: DemoOptions = { dir: false, exitAfterTour: false, alertsFromEnv: false, jsonLogs: false, help: false };
  const flags: Record<string, keyof DemoOptions> = {
    '--dir': 'dir',
    '--exit-after-tour': 'exitAfterTour',
    '--alerts-from-env': 'alertsFromEnv',
    '--json-logs': 'jsonLogs',
    '--help': 'help',
    '-h': 'help',
  };
  const unknown: string[] = [];
  for (const arg of args) {
    const name = flags[arg];
    if (name === undefined) unknown.push(arg);
    else options[name] = true;
  }
  if (unknown.length > 0) {
    return { error: `Unknown demo flag ${unknown.map((a) => JSON.stringify(a)).join(', ')}; expected --dir, --alerts-from-env, --json-logs, --exit-after-tour or --help.` };
  }
  return { options };
}

// The alert variables of the shell: the demo ignores them unless --alerts-from-env.
const ALERT_ENV_NAMES = [
  'SLACK_WEBHOOK_URL',
  'SMTP_URL',
  'SMTP_HOST',
  'SMTP_PORT',
  'SMTP_USER',
  'SMTP_PASSWORD',
  'SMTP_SECURE',
  'ALERT_EMAIL_FROM',
  'ALERT_EMAIL_TO',
  'ALERT_REPEAT_HOURS',
  'RUNBOOK_URL',
] as const;

// The alert variables set in `env` (names only: the values may be secrets).
export function pickAlertEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of ALERT_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') picked[name] = value;
  }
  return picked;
}
