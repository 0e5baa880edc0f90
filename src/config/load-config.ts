import path from 'node:path';
import { parseArgsStringToArgv } from 'string-argv';
import { ConfigError } from '../errors.ts';
import { EnvReader, type Env } from './parse.ts';
import { maskUrl, Secret } from './secret.ts';
import { MALFORMED_ESCAPE_HINT, splitPgUrl, tryParseUrl } from '../util/pg-url.ts';
import type {
  AlertSettings,
  BackupSettings,
  Compression,
  Config,
  EmailSettings,
  EncryptionSettings,
  Location,
  StorageSettings,
} from './types.ts';

export const DEFAULT_BACKUP_CRON = '0 3 * * *';
export const DEFAULT_MONITOR_CRON = '0 * * * *';
export const DEFAULT_VERIFY_CRON = '30 4 * * *';
export const DEFAULT_BACKUP_DIR = './backups';
export const DEFAULT_PREFIX = 'backup-';

// Loads and validates the whole configuration once; throws ConfigError listing every problem.
export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const config: Config = {
    storage: readStorage(r),
    location: readLocation(r),
    backup: readBackup(r),
    monitor: {
      cron: r.cron('MONITOR_CRON', DEFAULT_MONITOR_CRON),
      maxAgeHours: r.number('MAX_BACKUP_AGE_HOURS', 25, { min: 0.01 }),
      sizeWindow: r.number('SIZE_WINDOW', 7, { min: 1, max: 1000, integer: true }),
      sizeDropRatio: r.number('SIZE_DROP_RATIO', 0.5, { min: 0, max: 1 }),
      sizeGrowthRatio: r.number('SIZE_GROWTH_RATIO', 3, { min: 1 }),
      sizeMinDiffBytes: r.number('SIZE_MIN_DIFF_BYTES', 1024 * 1024, { min: 0, integer: true }),
      emptyMaxBytes: r.number('EMPTY_BACKUP_MAX_BYTES', 1024, { min: 0, integer: true }),
    },
    alerts: readAlerts(r),
    retention: {
      days: r.number('RETENTION_DAYS', 30, { min: 0, max: 36500, integer: true }),
      mode: r.oneOf('RETENTION_MODE', ['lifecycle', 'prune'] as const, undefined),
      manageLifecycle: r.bool('MANAGE_LIFECYCLE', false),
      minKept: r.number('MIN_BACKUPS_KEPT', 7, { min: 1, integer: true }),
      marginDays: r.number('RETENTION_MARGIN_DAYS', 2, { min: 0, integer: true }),
    },
    verify: {
      cron: r.cron('VERIFY_CRON', DEFAULT_VERIFY_CRON),
      restoreUrl: r.secret('VERIFY_RESTORE_URL'),
      restoreTargetUrl: r.secret('RESTORE_TARGET_URL'),
    },
    encryption: readEncryption(r),
    http: { port: r.number('PORT', 8080, { min: 0, max: 65535, integer: true }) },
    leader: { leaseSeconds: r.number('LEADER_LEASE_SECONDS', 60, { min: 0, max: 3600 }) },
    logLevel: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
  };
  if (config.retention.mode === 'lifecycle' && config.storage.kind === 'dir') {
    r.problem('RETENTION_MODE', 'prune or unset with directory storage (BACKUP_DIR): a directory has no lifecycle rules', '"lifecycle"');
  }
  if (config.leader.leaseSeconds > 0 && config.leader.leaseSeconds < 1) {
    r.problem('LEADER_LEASE_SECONDS', '0 (no lease: every instance alerts) or a number of seconds from 1 to 3600 (default 60)', JSON.stringify(String(config.leader.leaseSeconds)));
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

function readStorage(r: EnvReader): StorageSettings {
  const bucket = r.optionalString('AWS_S3_BUCKET');
  const dir = r.optionalString('BACKUP_DIR');
  if (bucket === undefined) {
    for (const name of ['AWS_S3_ENDPOINT', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (r.has(name) && dir === undefined) {
        r.problem('AWS_S3_BUCKET', `a bucket name, since ${name} is set`, 'nothing');
        break;
      }
    }
    return { kind: 'dir', dir: path.resolve(dir ?? DEFAULT_BACKUP_DIR) };
  }
  if (dir !== undefined) {
    r.problem('BACKUP_DIR', 'to be unset when AWS_S3_BUCKET is set (choose one storage)', JSON.stringify(dir));
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    r.problem('AWS_S3_BUCKET', 'a bucket name of 3-63 lowercase letters, digits, dots and hyphens', JSON.stringify(bucket));
  }
  const endpoint = r.optionalString('AWS_S3_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
    r.problem('AWS_S3_ENDPOINT', 'an http(s) URL like https://<ACCOUNT_ID>.r2.cloudflarestorage.com', JSON.stringify(maskUrl(endpoint)));
  }
  const accessKeyId = r.optionalString('AWS_ACCESS_KEY_ID');
  const secretAccessKey = r.secret('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const missing = accessKeyId === undefined ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY';
    const other = accessKeyId === undefined ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
    r.problem(missing, `a value, since ${other} is set`, 'nothing');
  }
  const region = r.string('AWS_S3_REGION', 'auto');
  if (endpoint === undefined && region === 'auto') {
    r.problem('AWS_S3_REGION', 'an AWS region such as eu-central-1 when AWS_S3_ENDPOINT is unset (AWS S3); "auto" only works with an endpoint such as R2', '"auto"');
  }
  return {
    kind: 's3',
    bucket,
    endpoint,
    region,
    forcePathStyle: r.bool('AWS_S3_FORCE_PATH_STYLE', false),
    accessKeyId,
    secretAccessKey,
    objectLock: r.bool('SUPPORT_OBJECT_LOCK', false),
  };
}

function readLocation(r: EnvReader): Location {
  const subfolder = (r.optionalString('BUCKET_SUBFOLDER') ?? '').replace(/^\/+|\/+$/g, '');
  const prefix = r.string('BACKUP_FILE_PREFIX', DEFAULT_PREFIX);
  if (prefix.includes('/')) {
    r.problem('BACKUP_FILE_PREFIX', 'a file name prefix without "/" (use BUCKET_SUBFOLDER for folders)', JSON.stringify(prefix));
  }
  return { subfolder, prefix };
}

function readBackup(r: EnvReader): BackupSettings | undefined {
  const databaseUrl = r.secret('BACKUP_DATABASE_URL');
  const cron = r.cron('BACKUP_CRON_SCHEDULE', DEFAULT_BACKUP_CRON);
  const runOnStartup = r.bool('RUN_ON_STARTUP', false);
  const singleShot = r.bool('SINGLE_SHOT_MODE', false);
  const format = r.oneOf('BACKUP_FORMAT', ['plain', 'custom'] as const, 'plain');
  const compression = readCompression(r);
  const options = readOptions(r);
  const pgDumpPath = r.optionalString('PG_DUMP_PATH');
  if (databaseUrl === undefined) {
    if (singleShot) r.problem('BACKUP_DATABASE_URL', 'a postgres:// connection string, since SINGLE_SHOT_MODE is set', 'nothing');
    return undefined;
  }
  const parsedUrl = tryParseUrl(databaseUrl.reveal());
  if (!/^postgres(ql)?:\/\//.test(databaseUrl.reveal()) || parsedUrl === undefined) {
    r.problem('BACKUP_DATABASE_URL', 'a connection string like postgres://user:password@host:5432/database', `"${maskUrl(databaseUrl.reveal())}"`);
  } else if (splitPgUrl(parsedUrl) === undefined) {
    r.problem('BACKUP_DATABASE_URL', `a URL whose escapes decode (${MALFORMED_ESCAPE_HINT})`, 'a malformed "%" escape (value not shown: it may hold the password)');
  }
  return { databaseUrl, cron, runOnStartup, singleShot, format, compression, options, pgDumpPath };
}

function readCompression(r: EnvReader): Compression {
  const value = r.string('BACKUP_COMPRESSION', 'gzip').toLowerCase();
  const match = /^(gzip|zstd|none)(?:[:-](\d+))?$/.exec(value);
  const expected = 'gzip, zstd or none, with an optional level such as gzip:6 (1-9) or zstd:3 (1-19)';
  if (!match) {
    r.problem('BACKUP_COMPRESSION', expected, JSON.stringify(value));
    return { algorithm: 'gzip', level: undefined };
  }
  const algorithm = match[1] as Compression['algorithm'];
  const level = match[2] === undefined ? undefined : Number(match[2]);
  const max = algorithm === 'gzip' ? 9 : algorithm === 'zstd' ? 19 : -1;
  if (level !== undefined && (level < 1 || level > max)) {
    r.problem('BACKUP_COMPRESSION', expected, JSON.stringify(value));
    return { algorithm, level: undefined };
  }
  return { algorithm, level };
}

function readOptions(r: EnvReader): string[] {
  const value = r.optionalString('BACKUP_OPTIONS');
  if (value === undefined) return [];
  const quotes = (value.match(/(?<!\\)"/g)?.length ?? 0) + (value.match(/(?<!\\)'/g)?.length ?? 0);
  const args = parseArgsStringToArgv(value);
  if (quotes % 2 === 1 && !/"[^"]*'[^"]*"|'[^']*"[^']*'/.test(value)) {
    r.problem('BACKUP_OPTIONS', 'pg_dump arguments with balanced quotes, e.g. --exclude-table="audit log"', JSON.stringify(value));
  }
  const forbidden = args.filter((a) => /^(-f|--file|-F.*|--format(=.*)?|-d|--dbname(=.*)?|-Z.*|--compress(=.*)?)$/.test(a));
  if (forbidden.length > 0) {
    r.problem(
      'BACKUP_OPTIONS',
      'extra pg_dump arguments other than output, format, compression and connection ones (use BACKUP_FORMAT, BACKUP_COMPRESSION, BACKUP_DATABASE_URL)',
      JSON.stringify(forbidden.join(' ')),
    );
  }
  return args;
}

function readAlerts(r: EnvReader): AlertSettings {
  const slackWebhookUrl = r.secret('SLACK_WEBHOOK_URL');
  if (slackWebhookUrl !== undefined && !/^https?:\/\//.test(slackWebhookUrl.reveal())) {
    r.problem('SLACK_WEBHOOK_URL', 'an https:// incoming-webhook URL', 'a value that is not a URL (not shown: it is a secret)');
  }
  return {
    name: r.string('SENTINEL_NAME', r.optionalString('AWS_S3_BUCKET') ?? 'backup-sentinel'),
    slackWebhookUrl,
    email: readEmail(r),
    repeatHours: r.number('ALERT_REPEAT_HOURS', 24, { min: 0.01 }),
    runbookUrl: r.string('RUNBOOK_URL', 'https://github.com/backup-sentinel/backup-sentinel/blob/main/docs/BACKUP_CONFIGURATION.md'),
  };
}

function readEmail(r: EnvReader): EmailSettings | undefined {
  const smtpUrl = r.secret('SMTP_URL');
  const host = r.optionalString('SMTP_HOST');
  const to = (r.optionalString('ALERT_EMAIL_TO') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const fromValue = r.optionalString('ALERT_EMAIL_FROM');
  if (smtpUrl === undefined && host === undefined) {
    if (to.length > 0) r.problem('SMTP_URL', 'an smtp:// or smtps:// URL (or SMTP_HOST), since ALERT_EMAIL_TO is set', 'nothing');
    return undefined;
  }
  let settings: Omit<EmailSettings, 'from' | 'to'>;
  if (smtpUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(smtpUrl.reveal());
    } catch {
      url = undefined;
    }
    if (url === undefined || !['smtp:', 'smtps:'].includes(url.protocol)) {
      r.problem('SMTP_URL', 'a URL like smtps://user:pass@smtp.example.com:465', `"${maskUrl(smtpUrl.reveal())}"`);
      return undefined;
    }
    const secure = url.protocol === 'smtps:';
    settings = {
      host: url.hostname,
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      user: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? new Secret(decodeURIComponent(url.password)) : undefined,
    };
  } else {
    const secure = r.bool('SMTP_SECURE', false);
    settings = {
      host: host ?? '',
      port: r.number('SMTP_PORT', secure ? 465 : 587, { min: 1, max: 65535, integer: true }),
      secure,
      user: r.optionalString('SMTP_USER'),
      password: r.secret('SMTP_PASSWORD'),
    };
  }
  if (to.length === 0) r.problem('ALERT_EMAIL_TO', 'one or more addresses separated by commas, since SMTP is configured', 'nothing');
  const badTo = to.filter((a) => !/^[^@\s]+@[^@\s]+$/.test(a));
  if (badTo.length > 0) r.problem('ALERT_EMAIL_TO', 'e-mail addresses separated by commas', JSON.stringify(badTo.join(',')));
  const from = fromValue ?? (settings.user?.includes('@') ? settings.user : `backup-sentinel@${settings.host || 'localhost'}`);
  return { ...settings, from, to };
}

function readEncryption(r: EnvReader): EncryptionSettings {
  const recipients = (r.optionalString('BACKUP_ENCRYPTION_RECIPIENTS') ?? '')
    .split(/[\s,]+/)
    .filter((s) => s !== '');
  const bad = recipients.filter((k) => !/^age1[02-9ac-hj-np-z]{58}$/.test(k));
  if (bad.length > 0) {
    r.problem('BACKUP_ENCRYPTION_RECIPIENTS', 'age public keys (age1..., 62 characters) separated by commas or spaces', JSON.stringify(bad.join(',')));
  }
  const passphrase = r.secret('BACKUP_ENCRYPTION_PASSPHRASE');
  if (passphrase !== undefined && recipients.length > 0) {
    r.problem('BACKUP_ENCRYPTION_PASSPHRASE', 'to be unset when BACKUP_ENCRYPTION_RECIPIENTS is set (age allows one or the other)', 'a passphrase (not shown)');
  }
  return { recipients, passphrase, identity: r.secret('BACKUP_ENCRYPTION_IDENTITY') };
}
