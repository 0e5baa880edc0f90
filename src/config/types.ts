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

export interface DirSettings {
  kind: 'dir';
  dir: string;
}

export type StorageSettings = S3Settings | DirSettings;

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
}

export interface MonitorSettings {
  cron: string;
  maxAgeHours: number;
  sizeWindow: number;
  // Anomaly when newest < median * sizeDropRatio or newest > median * sizeGrowthRatio ...
  sizeDropRatio: number;
  sizeGrowthRatio: number;
  // ... and |newest - median| >= sizeMinDiffBytes, so small databases do not flap.
  sizeMinDiffBytes: number;
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
  repeatHours: number;
  runbookUrl: string;
}

export type RetentionMode = 'lifecycle' | 'prune';

export interface RetentionSettings {
  // 0 turns retention off.
  days: number;
  // undefined: lifecycle where the storage supports it, prune elsewhere.
  mode: RetentionMode | undefined;
  manageLifecycle: boolean;
  minKept: number;
  // Backups older than days + marginDays mean the lifecycle rule is not working.
  marginDays: number;
}

export interface VerifySettings {
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

export interface Config {
  storage: StorageSettings;
  location: Location;
  // undefined: monitor-only mode (no BACKUP_DATABASE_URL).
  backup: BackupSettings | undefined;
  monitor: MonitorSettings;
  alerts: AlertSettings;
  retention: RetentionSettings;
  verify: VerifySettings;
  encryption: EncryptionSettings;
  http: { port: number };
  // The leader lease (which instance alerts and runs retention/verification); 0 seconds: no lease.
  leader: { leaseSeconds: number };
  logLevel: string;
}
