import type { ChannelTarget } from '../alerts/channel-urls.ts';
import type { Secret } from './secret.ts';

export type CompressionAlgorithm = 'gzip' | 'zstd' | 'none';
export type DumpFormat = 'plain' | 'custom';

export interface Compression {
  algorithm: CompressionAlgorithm;
  // undefined: the algorithm's own default (gzip 6, zstd 3).
  level: number | undefined;
}

export interface S3Settings {
  kind: 's3';
  bucket: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string | undefined;
  secretAccessKey: Secret | undefined;
  // SUPPORT_OBJECT_LOCK: send the checksum that object-lock buckets require.
  objectLock: boolean;
}

interface DirSettings {
  kind: 'dir';
  dir: string;
}

export type StorageSettings = S3Settings | DirSettings;

// One place a backup is written to, by name ('s3' and 'dir' when set by environment).
export interface DestinationSettings {
  name: string;
  storage: StorageSettings;
  // A destination of SENTINEL_CONFIG: an environment storage variable -> how to name its key in the file
  // (hints then say `endpoint of destination "r2" in SENTINEL_CONFIG`, not AWS_S3_ENDPOINT).
  settingNames?: Readonly<Record<string, string>> | undefined;
}

// Where backups live inside the storage: `[subfolder/]<prefix>YYYY-MM-DD_HH-MM-SS.<ext>`.
export interface Location {
  subfolder: string;
  prefix: string;
}

export interface BackupSettings {
  databaseUrl: Secret;
  cron: string;
  runOnStartup: boolean;
  singleShot: boolean;
  format: DumpFormat;
  compression: Compression;
  // Extra pg_dump arguments, already split like a shell would, never run through one.
  options: string[];
  pgDumpPath: string | undefined;
  // A run that moves no bytes for this long fails (BACKUP_STALL_TIMEOUT_MINUTES); default 5 min.
  stallTimeoutMs?: number;
  // BACKUP_CONCURRENCY: with several databases, how many pg_dumps one run starts at once; default 1.
  concurrency?: number;
  // BACKUP_GLOBALS: also dump roles and tablespaces (pg_dumpall --globals-only) each run.
  globals?: boolean;
}

// BACKUP_DATABASES: which databases on the server of BACKUP_DATABASE_URL are backed up, each as a
// backup set in its own folder. `all`: every database the user can connect to (templates left out),
// resolved at each run, minus `exclude` (BACKUP_EXCLUDE_DATABASES).
export type DatabaseSelection = { kind: 'names'; names: string[] } | { kind: 'all'; exclude: string[] };

export interface MonitorSettings {
  cron: string;
  maxAgeHours: number;
  sizeWindow: number;
  // Anomaly when newest < median * sizeDropRatio or newest > median * sizeGrowthRatio ...
  sizeDropRatio: number;
  sizeGrowthRatio: number;
  // ... and |newest - median| >= the minimum difference: sizeMinDiffBytes, or half the median when that
  // is smaller, so a small database's drop is seen; exactly sizeMinDiffBytes when sizeMinDiffFixed (the
  // variable was set explicitly).
  sizeMinDiffBytes: number;
  sizeMinDiffFixed?: boolean;
  // A newest backup no larger than this is "empty" (an empty database compresses to a few hundred bytes).
  emptyMaxBytes: number;
}

export interface EmailSettings {
  host: string;
  port: number;
  secure: boolean;
  user: string | undefined;
  password: Secret | undefined;
  from: string;
  to: string[];
}

export interface AlertSettings {
  name: string;
  slackWebhookUrl: Secret | undefined;
  email: EmailSettings | undefined;
  // ALERT_URLS: Discord, Telegram, ntfy, Teams and generic webhooks, in the order given.
  channels: ChannelTarget[];
  // ALERT_WEBHOOK_SECRET: the HMAC key of the generic webhook's signature header.
  webhookSecret: Secret | undefined;
  // HEARTBEAT_URL: pinged after every monitor check; BACKUP_HEARTBEAT_URL: at backup start and end.
  heartbeatUrl: Secret | undefined;
  backupHeartbeatUrl: Secret | undefined;
  repeatHours: number;
  runbookUrl: string;
  // STATE_DIR: where the local copy of the alert state is kept.
  stateDir: string;
}

// KEEP_DAILY/WEEKLY/MONTHLY/YEARLY (0: that tier keeps nothing), counted in CRON_TZ's calendar.
export interface RetentionTiers {
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
  // CRON_TZ: the IANA zone whose calendar days, weeks, months and years the tiers count.
  timeZone: string;
  // RETENTION_DAYS when set explicitly (restic's --keep-within: everything younger is kept too);
  // undefined when it was left at its default, which then adds nothing.
  keepWithinDays: number | undefined;
}

type RetentionMode = 'lifecycle' | 'prune';

export interface RetentionSettings {
  // 0 turns retention off.
  days: number;
  // undefined: lifecycle where the storage supports it, prune elsewhere.
  mode: RetentionMode | undefined;
  manageLifecycle: boolean;
  minKept: number;
  // Backups older than days + marginDays mean the lifecycle rule is not working.
  marginDays: number;
  // KEEP_DAILY/WEEKLY/MONTHLY/YEARLY; undefined when none is set (RETENTION_DAYS alone decides, as before).
  tiers?: RetentionTiers | undefined;
}

interface VerifySettings {
  cron: string;
  restoreUrl: Secret | undefined;
  // RESTORE_TARGET_URL: where `restore` writes when --target-url is not given (keeps a password out of ps).
  restoreTargetUrl: Secret | undefined;
}

export interface EncryptionSettings {
  recipients: string[];
  passphrase: Secret | undefined;
  // A private key (AGE-SECRET-KEY-1...) or the path of a file holding one; only restore/verify need it.
  identity: Secret | undefined;
}

// Who may read the HTTP endpoints. No token and no basic credentials: every endpoint is open.
export interface HttpAuthSettings {
  // HTTP_AUTH_TOKEN: accepted as "Authorization: Bearer <token>".
  token: Secret | undefined;
  // HTTP_BASIC_AUTH, split at its first colon (a password may hold colons, a user name may not).
  basic: { user: Secret; password: Secret } | undefined;
  // HTTP_AUTH_HEALTH: the probe endpoints (/livez /readyz /health) need the credentials too.
  health: boolean;
}

// One backup set of SENTINEL_CONFIG: the settings a set may give, each already merged with the
// environment's (a key the set leaves out has the variable's value). configOfSet makes a whole Config.
export interface BackupSetConfig {
  name: string;
  location: Location;
  // undefined: the set only monitors (no databaseUrl in the set, no BACKUP_DATABASE_URL).
  backup: BackupSettings | undefined;
  // The set's `databases`: each database is then a set `<name>/<database>` in its own folder.
  databases: DatabaseSelection | undefined;
  monitor: MonitorSettings;
  retention: RetentionSettings;
  encryption: EncryptionSettings;
  // The names of the destinations the set writes to (its `destinations`); undefined: every destination.
  destinations?: string[] | undefined;
  // Its `heartbeatUrl`, else BACKUP_HEARTBEAT_URL (the other alert settings are service-wide).
  backupHeartbeatUrl?: Secret | undefined;
  // How hints name the variables the set's entry in the file gave (setSettingNames).
  settingNames?: Readonly<Record<string, string>> | undefined;
}

export interface Config {
  // A set of SENTINEL_CONFIG's configuration (configOfSet): how hints name the variables its entry in
  // the file gave (`databaseUrl of set "app" in SENTINEL_CONFIG`). Undefined: the environment's names.
  settingNames?: Readonly<Record<string, string>> | undefined;
  // The first (or only) destination's storage: what every single-storage part uses.
  storage: StorageSettings;
  // Several destinations (AWS_S3_BUCKET with BACKUP_DIR set too), the first being `storage`;
  // undefined: the one destination `storage`, as before.
  destinations?: DestinationSettings[] | undefined;
  location: Location;
  // undefined: monitor-only mode (no BACKUP_DATABASE_URL).
  backup: BackupSettings | undefined;
  // undefined: one database (the one in BACKUP_DATABASE_URL), stored as before under `location` itself.
  databases?: DatabaseSelection | undefined;
  // CRON_TZ: the IANA time zone every cron expression (backup, monitor, verify) is read in.
  cronTimezone: string;
  monitor: MonitorSettings;
  alerts: AlertSettings;
  retention: RetentionSettings;
  verify: VerifySettings;
  encryption: EncryptionSettings;
  // host: HOST, the bind address; undefined: "::" (dual-stack) where the host has IPv6, else 0.0.0.0.
  http: { port: number; host: string | undefined; auth: HttpAuthSettings };
  // The leader lease (which instance alerts and runs retention/verification); 0 seconds: no lease.
  leader: { leaseSeconds: number };
  logLevel: string;
  // SENTINEL_CONFIG: the backup sets of the file (undefined without it: everything as before).
  sets?: BackupSetConfig[] | undefined;
}
