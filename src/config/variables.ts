// Every environment variable the service reads, for docs and for the test that keeps docs and code in
// step. The parsing itself lives in load-config.ts.

export interface VariableDoc {
  name: string;
  group: 'storage' | 'backup' | 'monitor' | 'alerts' | 'retention' | 'verify' | 'encryption' | 'service';
  default: string;
  secret: boolean;
  description: string;
}

const v = (
  group: VariableDoc['group'],
  name: string,
  defaultValue: string,
  description: string,
  secret = false,
): VariableDoc => ({ name, group, default: defaultValue, secret, description });

export const VARIABLES: readonly VariableDoc[] = [
  v('storage', 'AWS_ACCESS_KEY_ID', '—', 'Access key id of the bucket token'),
  v('storage', 'AWS_SECRET_ACCESS_KEY', '—', 'Secret access key of the bucket token', true),
  v('storage', 'AWS_S3_BUCKET', '—', 'Bucket name; when unset, backups go to BACKUP_DIR'),
  v('storage', 'AWS_S3_ENDPOINT', 'AWS', 'Custom endpoint, e.g. https://<ACCOUNT_ID>.r2.cloudflarestorage.com'),
  v('storage', 'AWS_S3_REGION', 'auto', 'Region (R2: auto)'),
  v('storage', 'AWS_S3_FORCE_PATH_STYLE', 'false', 'Path-style URLs (true for R2 and MinIO)'),
  v('storage', 'SUPPORT_OBJECT_LOCK', 'false', 'Send the SHA-256 checksum that object-lock buckets require'),
  v('storage', 'BUCKET_SUBFOLDER', '—', 'Folder inside the bucket'),
  v('storage', 'BACKUP_FILE_PREFIX', 'backup-', 'File name prefix, e.g. vlvt_backup_'),
  v('storage', 'BACKUP_DIR', './backups', 'Local-directory storage (the embedded default when no bucket is set)'),
  v('backup', 'BACKUP_DATABASE_URL', '—', 'Connection string of the database to back up; unset = monitor-only', true),
  v('backup', 'BACKUP_CRON_SCHEDULE', '0 3 * * *', 'When to back up (cron, in CRON_TZ)'),
  v('backup', 'RUN_ON_STARTUP', 'false', 'Run one backup at start, then follow the schedule'),
  v('backup', 'SINGLE_SHOT_MODE', 'false', 'Run one backup and exit 0 or non-zero'),
  v('backup', 'BACKUP_FORMAT', 'plain', 'plain (SQL text) or custom (pg_restore format)'),
  v('backup', 'BACKUP_COMPRESSION', 'gzip', 'gzip, zstd or none, optional level: gzip:6, zstd:3'),
  v('backup', 'BACKUP_OPTIONS', '—', 'Extra pg_dump arguments, split like a shell would (never run through one)'),
  v('backup', 'PG_DUMP_PATH', 'auto', 'Absolute path of an executable pg_dump; auto picks the one matching the server'),
  v('backup', 'BACKUP_STALL_TIMEOUT_MINUTES', '5', 'A backup that moves no bytes for this long fails, aborts its upload and frees the lock (decimals allowed)'),
  v('backup', 'BACKUP_GLOBALS', 'false', 'Also back up roles and tablespaces (pg_dumpall --globals-only) each run, under the @globals folder'),
  v('monitor', 'MONITOR_CRON', '0 * * * *', 'When to check the storage (cron, in CRON_TZ); also at start and after each backup'),
  v('monitor', 'MAX_BACKUP_AGE_HOURS', '25', 'Newest backup older than this is stale'),
  v('monitor', 'SIZE_WINDOW', '7', 'How many previous backups the size median is taken over'),
  v('monitor', 'SIZE_DROP_RATIO', '0.5', 'Anomaly when the newest backup is smaller than median × this'),
  v('monitor', 'SIZE_GROWTH_RATIO', '3', 'Anomaly when the newest backup is larger than median × this'),
  v('monitor', 'SIZE_MIN_DIFF_BYTES', '1048576', 'Size differences smaller than this never count as anomalies; unset, half the median when that is smaller (small databases)'),
  v('monitor', 'EMPTY_BACKUP_MAX_BYTES', '1024', 'A newest backup no larger than this is reported empty'),
  v('alerts', 'SENTINEL_NAME', 'bucket name', 'Name used in alert subjects'),
  v('alerts', 'SLACK_WEBHOOK_URL', '—', 'Slack incoming webhook', true),
  v('alerts', 'SMTP_URL', '—', 'smtp:// or smtps://user:pass@host:port (or the SMTP_* variables)', true),
  v('alerts', 'SMTP_HOST', '—', 'SMTP server host'),
  v('alerts', 'SMTP_PORT', '587 (465 with SMTP_SECURE)', 'SMTP server port'),
  v('alerts', 'SMTP_USER', '—', 'SMTP user'),
  v('alerts', 'SMTP_PASSWORD', '—', 'SMTP password', true),
  v('alerts', 'SMTP_SECURE', 'false', 'TLS from the first byte (port 465)'),
  v('alerts', 'ALERT_EMAIL_FROM', 'SMTP user', 'Sender address'),
  v('alerts', 'ALERT_EMAIL_TO', '—', 'Recipients, comma-separated'),
  v('alerts', 'ALERT_REPEAT_HOURS', '24', 'Reminder interval while a problem keeps firing'),
  v('alerts', 'STATE_DIR', '<tmp>/backup-sentinel', 'Local copy of the alert state, reconciled with the one in storage; mount a volume here on platforms with ephemeral disks'),
  v('alerts', 'RUNBOOK_URL', 'docs/BACKUP_CONFIGURATION.md on GitHub', 'Base URL of the runbook linked from alerts (anchors #stale, #empty, ...)'),
  v('retention', 'RETENTION_DAYS', '30', 'Keep backups this many days; 0 turns retention off'),
  v('retention', 'RETENTION_MODE', 'auto', 'lifecycle (bucket rule) or prune (delete old backups); auto picks'),
  v('retention', 'MANAGE_LIFECYCLE', 'false', 'Create/update the bucket lifecycle rule for our prefix'),
  v('retention', 'MIN_BACKUPS_KEPT', '7', 'Prune never deletes the newest N backups'),
  v('retention', 'RETENTION_MARGIN_DAYS', '2', 'Backups older than RETENTION_DAYS + this mean the rule is not working'),
  v('verify', 'VERIFY_CRON', '30 4 * * *', 'When to verify the newest backup (cron, in CRON_TZ)'),
  v('verify', 'VERIFY_RESTORE_URL', '—', 'A scratch PostgreSQL server for restore drills', true),
  v('verify', 'RESTORE_TARGET_URL', '—', 'Database `restore` writes into when --target-url is not given (keeps its password out of ps)', true),
  v('encryption', 'BACKUP_ENCRYPTION_RECIPIENTS', '—', 'age public keys (age1...) to encrypt backups to'),
  v('encryption', 'BACKUP_ENCRYPTION_PASSPHRASE', '—', 'Passphrase (age scrypt) instead of recipients', true),
  v('encryption', 'BACKUP_ENCRYPTION_IDENTITY', '—', 'age private key or key file, for restore and verify only', true),
  v('service', 'CRON_TZ', 'UTC', 'IANA time zone of every cron schedule, e.g. Europe/Berlin'),
  v('service', 'PORT', '8080', 'HTTP port for /livez /readyz /health /status /metrics'),
  v('service', 'HOST', ':: (0.0.0.0 without IPv6)', 'Address the HTTP server listens on; the default accepts IPv6 and IPv4'),
  v('service', 'LEADER_LEASE_SECONDS', '60', 'Leader lease TTL: of several replicas only the lease holder alerts and runs retention and verification; 0 = no lease'),
  v('service', 'LOG_LEVEL', 'info', 'trace, debug, info, warn, error, fatal or silent'),
];
