import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgsStringToArgv } from 'string-argv';
import { refusedDumpOptions } from '../backup/dump-options.ts';
import { DEFAULT_CRON_TIMEZONE } from '../core/cron.ts';
import { parseChannelUrls, type ChannelTarget } from '../alerts/channel-urls.ts';
import { ConfigError } from '../errors.ts';
import { describeTiers } from '../retention/tiers.ts';
import { isExecutable } from '../util/pg-client-dirs.ts';
import { parsePgUrl } from '../util/pg-url.ts';
import { readSetsFile } from './load-sets.ts';
import { EnvReader, type Env } from './parse.ts';
import { maskSecretsInText, maskUrl, Secret } from './secret.ts';
import type {
  AlertSettings,
  BackupSettings,
  Compression,
  Config,
  DatabaseSelection,
  DestinationSettings,
  EmailSettings,
  EncryptionSettings,
  HttpAuthSettings,
  Location,
  RetentionTiers,
  StorageSettings,
} from './types.ts';

const DEFAULT_BACKUP_CRON = '0 3 * * *';
const DEFAULT_MONITOR_CRON = '0 * * * *';
const DEFAULT_VERIFY_CRON = '30 4 * * *';
const DEFAULT_BACKUP_DIR = './backups';
const DEFAULT_PREFIX = 'backup-';
// Writable in every container; survives a process restart, not a redeploy (docs/alerts.md: mount a volume).
const DEFAULT_STATE_DIR = path.join(os.tmpdir(), 'backup-sentinel');

// What loadConfig asks of the machine (tests pass their own).
export interface ConfigProbe {
  // True for a regular file this process may execute.
  isExecutableFile(file: string): boolean;
}

const MACHINE: ConfigProbe = { isExecutableFile: isExecutable };

// Loads and validates the whole configuration once; throws ConfigError listing every problem.
// SENTINEL_CONFIG adds the backup sets of a YAML file, each validated by the same readers (load-sets.ts).
export function loadConfig(env: Env = process.env, probe: ConfigProbe = MACHINE): Config {
  const r = new EnvReader(env);
  const config = readConfig(r, probe);
  const file = r.optionalString('SENTINEL_CONFIG');
  if (file !== undefined) {
    const fromFile = readSetsFile(
      r,
      env,
      file,
      config,
      (setEnv) => {
        const sr = new EnvReader(setEnv);
        return { config: readConfig(sr, probe), problems: sr.problems };
      },
      (storageEnv) => {
        const sr = new EnvReader(storageEnv);
        return { storage: readStorage(sr), problems: sr.problems };
      },
    );
    config.sets = fromFile?.sets;
    if (fromFile?.destinations !== undefined) useFileDestinations(r, config, fromFile.destinations);
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

// Every setting of `r`'s environment, problems collected in r (never thrown).
function readConfig(r: EnvReader, probe: ConfigProbe): Config {
  const cronTimezone = r.timezone('CRON_TZ', DEFAULT_CRON_TIMEZONE);
  const backup = readBackup(r, probe, cronTimezone);
  const storage = readStorage(r);
  const config: Config = {
    storage,
    destinations: readDestinations(r, storage),
    location: readLocation(r),
    backup,
    databases: readDatabases(r, backup !== undefined),
    cronTimezone,
    monitor: {
      cron: r.cron('MONITOR_CRON', DEFAULT_MONITOR_CRON, cronTimezone),
      maxAgeHours: r.number('MAX_BACKUP_AGE_HOURS', 25, { min: 0.01 }),
      sizeWindow: r.number('SIZE_WINDOW', 7, { min: 1, max: 1000, integer: true }),
      sizeDropRatio: r.number('SIZE_DROP_RATIO', 0.5, { min: 0, max: 1 }),
      sizeGrowthRatio: r.number('SIZE_GROWTH_RATIO', 3, { min: 1 }),
      sizeMinDiffBytes: r.number('SIZE_MIN_DIFF_BYTES', 1024 * 1024, { min: 0, integer: true }),
      // Set explicitly, the minimum difference is exactly that (as before); by default it scales down
      // with the median (see minSizeDiff).
      sizeMinDiffFixed: r.has('SIZE_MIN_DIFF_BYTES'),
      emptyMaxBytes: r.number('EMPTY_BACKUP_MAX_BYTES', 1024, { min: 0, integer: true }),
    },
    alerts: readAlerts(r),
    retention: {
      days: r.number('RETENTION_DAYS', 30, { min: 0, max: 36500, integer: true }),
      mode: r.oneOf('RETENTION_MODE', ['lifecycle', 'prune'] as const, undefined),
      manageLifecycle: r.bool('MANAGE_LIFECYCLE', false),
      minKept: r.number('MIN_BACKUPS_KEPT', 7, { min: 1, integer: true }),
      marginDays: r.number('RETENTION_MARGIN_DAYS', 2, { min: 0, integer: true }),
      tiers: readTiers(r, cronTimezone),
    },
    verify: {
      cron: r.cron('VERIFY_CRON', DEFAULT_VERIFY_CRON, cronTimezone),
      restoreUrl: readPgUrl(r, 'VERIFY_RESTORE_URL'),
      restoreTargetUrl: readPgUrl(r, 'RESTORE_TARGET_URL'),
    },
    encryption: readEncryption(r),
    http: { port: r.number('PORT', 8080, { min: 0, max: 65535, integer: true }), host: readHost(r), auth: readHttpAuth(r) },
    leader: { leaseSeconds: r.number('LEADER_LEASE_SECONDS', 60, { min: 0, max: 3600 }) },
    logLevel: r.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
  };
  if (config.retention.mode === 'lifecycle' && config.storage.kind === 'dir') {
    r.problem('RETENTION_MODE', 'prune or unset with directory storage (BACKUP_DIR): a directory has no lifecycle rules', '"lifecycle"');
  }
  checkTiers(r, config);
  if (config.leader.leaseSeconds > 0 && config.leader.leaseSeconds < 1) {
    r.problem('LEADER_LEASE_SECONDS', '0 (no lease: every instance alerts) or a number of seconds from 1 to 3600 (default 60)', JSON.stringify(String(config.leader.leaseSeconds)));
  }
  return config;
}

// KEEP_DAILY/WEEKLY/MONTHLY/YEARLY: undefined when none is set, so a deployment without them keeps
// RETENTION_DAYS's meaning exactly.
function readTiers(r: EnvReader, timeZone: string): RetentionTiers | undefined {
  const count = (name: string) => r.number(name, 0, { min: 0, max: 100_000, integer: true });
  const tiers = { daily: count('KEEP_DAILY'), weekly: count('KEEP_WEEKLY'), monthly: count('KEEP_MONTHLY'), yearly: count('KEEP_YEARLY') };
  if (tiers.daily + tiers.weekly + tiers.monthly + tiers.yearly === 0) return undefined;
  // RETENTION_DAYS set explicitly is restic's --keep-within; its default adds nothing to the tiers.
  const keepWithinDays = r.has('RETENTION_DAYS') ? r.number('RETENTION_DAYS', 30, { min: 0, max: 36500, integer: true }) : undefined;
  return { ...tiers, timeZone, keepWithinDays };
}

// Settings that cannot work with tiers: lifecycle rules only know age, and RETENTION_DAYS=0 means off.
function checkTiers(r: EnvReader, config: Config): void {
  const tiers = config.retention.tiers;
  if (tiers === undefined) return;
  const set = describeTiers(tiers);
  if (config.retention.days <= 0) {
    r.problem('RETENTION_DAYS', `unset or at least 1 with ${set} (0 turns retention off; unset, the tiers alone decide)`, '"0"');
  }
  if (config.retention.mode === 'lifecycle') {
    r.problem(
      'RETENTION_MODE',
      `prune or unset with ${set}: a lifecycle rule only knows age and would delete the backups the tiers keep, so backup-sentinel prunes`,
      '"lifecycle"',
    );
  }
}

// AWS_S3_BUCKET with BACKUP_DIR set explicitly: both are destinations, the bucket first (it keeps the
// alert state and the leader lease, as with the bucket alone). undefined: one destination.
function readDestinations(r: EnvReader, storage: StorageSettings): DestinationSettings[] | undefined {
  const dir = r.optionalString('BACKUP_DIR');
  if (storage.kind !== 's3' || dir === undefined) return undefined;
  return [
    { name: 's3', storage },
    { name: 'dir', storage: { kind: 'dir', dir: path.resolve(dir) } },
  ];
}

// The destinations of SENTINEL_CONFIG replace the environment's storage: the first is `storage` (it
// keeps the alert state and the lease). BACKUP_DIR set too would be a destination silently unused.
function useFileDestinations(r: EnvReader, config: Config, destinations: DestinationSettings[]): void {
  if (r.has('BACKUP_DIR')) {
    r.problem('BACKUP_DIR', 'unset while SENTINEL_CONFIG lists "destinations" (the file\'s destinations replace AWS_S3_* and BACKUP_DIR): add the directory to the file\'s destinations as `dir:` and unset BACKUP_DIR', JSON.stringify(r.optionalString('BACKUP_DIR') ?? ''));
  }
  const first = destinations[0];
  if (first === undefined) return;
  config.storage = first.storage;
  config.destinations = destinations;
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
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    r.problem('AWS_S3_BUCKET', 'a bucket name of 3-63 lowercase letters, digits, dots and hyphens', JSON.stringify(bucket));
  }
  const endpoint = r.optionalString('AWS_S3_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^/\s?#]+(\/\S*)?$/.test(endpoint)) {
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
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(region) || region.length > 32) {
    r.problem('AWS_S3_REGION', 'a region name of lowercase letters, digits and hyphens, such as auto (R2), eu-central-1 (AWS) or us-east-1 (MinIO)', JSON.stringify(region));
  } else if (endpoint === undefined && region === 'auto') {
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
  const given = r.optionalString('BUCKET_SUBFOLDER') ?? '';
  const subfolder = given.replace(/\/+$/, '');
  if (given.startsWith('/')) {
    r.problem(
      'BUCKET_SUBFOLDER',
      'a folder path without a leading "/", e.g. backups/prod (object keys do not start with "/"; remove it — backups are then stored under "backups/prod/...")',
      JSON.stringify(given),
    );
  } else if (subfolder !== '' && subfolder.split('/').some((s) => s === '' || s === '.' || s === '..' || /[\\\u0000-\u001f\u007f]/.test(s))) {
    r.problem('BUCKET_SUBFOLDER', 'a folder path of names separated by single "/", without "." or ".." parts, backslashes or control characters, e.g. backups/prod', JSON.stringify(given));
  }
  const prefix = r.string('BACKUP_FILE_PREFIX', DEFAULT_PREFIX);
  if (prefix.includes('/')) {
    r.problem('BACKUP_FILE_PREFIX', 'a file name prefix without "/" (use BUCKET_SUBFOLDER for folders)', JSON.stringify(prefix));
  }
  return { subfolder, prefix };
}

function readBackup(r: EnvReader, probe: ConfigProbe, cronTimezone: string): BackupSettings | undefined {
  const databaseUrl = r.secret('BACKUP_DATABASE_URL');
  const cron = r.cron('BACKUP_CRON_SCHEDULE', DEFAULT_BACKUP_CRON, cronTimezone);
  const runOnStartup = r.bool('RUN_ON_STARTUP', false);
  const singleShot = r.bool('SINGLE_SHOT_MODE', false);
  const format = r.oneOf('BACKUP_FORMAT', ['plain', 'custom'] as const, 'plain');
  const compression = readCompression(r);
  const options = readOptions(r);
  const pgDumpPath = readPgDumpPath(r, probe);
  // Minutes, decimals allowed (0.05 = 3 s, for tests); at least 0.01 (0.6 s).
  const stallTimeoutMs = Math.round(r.number('BACKUP_STALL_TIMEOUT_MINUTES', 5, { min: 0.01, max: 1440 }) * 60_000);
  const concurrency = r.number('BACKUP_CONCURRENCY', 1, { min: 1, max: 64, integer: true });
  const globals = r.bool('BACKUP_GLOBALS', false);
  // The globals go under "@globals/" beside the backups: a prefix starting with "@" would list them as backups.
  const prefix = r.optionalString('BACKUP_FILE_PREFIX') ?? '';
  if (globals && prefix.startsWith('@')) {
    r.problem('BACKUP_FILE_PREFIX', 'a prefix that does not start with "@" when BACKUP_GLOBALS=true (the globals folder "@globals/" would be read as backups)', JSON.stringify(prefix));
  }
  if (databaseUrl === undefined) {
    if (singleShot) r.problem('BACKUP_DATABASE_URL', 'a postgres:// connection string, since SINGLE_SHOT_MODE is set', 'nothing');
    return undefined;
  }
  checkPgUrl(r, 'BACKUP_DATABASE_URL', databaseUrl);
  return { databaseUrl, cron, runOnStartup, singleShot, format, compression, options, pgDumpPath, stallTimeoutMs, concurrency, globals };
}

// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1): a longer name cannot be a database.
const MAX_DATABASE_NAME_BYTES = 63;

function splitNames(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

// BACKUP_DATABASES and BACKUP_EXCLUDE_DATABASES. Unset: one database, stored exactly as before.
function readDatabases(r: EnvReader, takesBackups: boolean): DatabaseSelection | undefined {
  const raw = r.optionalString('BACKUP_DATABASES');
  const exclude = splitNames(r.optionalString('BACKUP_EXCLUDE_DATABASES'));
  const names = splitNames(raw);
  const expected = 'database names on the server of BACKUP_DATABASE_URL separated by commas (e.g. app,analytics), or * for every database the user can connect to';
  if (raw === undefined) {
    if (exclude.length > 0) r.problem('BACKUP_EXCLUDE_DATABASES', 'to be set only with BACKUP_DATABASES=* (it leaves databases out of "every database")', `${JSON.stringify(exclude.join(','))} while BACKUP_DATABASES is unset`);
    return undefined;
  }
  if (names.length === 0) {
    r.problem('BACKUP_DATABASES', expected, JSON.stringify(raw));
    return undefined;
  }
  const tooLong = [...names, ...exclude].filter((n) => Buffer.byteLength(n) > MAX_DATABASE_NAME_BYTES);
  if (tooLong.length > 0) r.problem('BACKUP_DATABASES', `database names of at most ${MAX_DATABASE_NAME_BYTES} bytes (PostgreSQL's limit)`, JSON.stringify(tooLong.join(',')));
  if (names.includes('*')) {
    if (names.length > 1) r.problem('BACKUP_DATABASES', `either * alone or a list of names (${expected})`, JSON.stringify(raw));
    if (!takesBackups) r.problem('BACKUP_DATABASES', 'names of databases to monitor when BACKUP_DATABASE_URL is unset (* needs the server to ask which databases exist): list the names, or set BACKUP_DATABASE_URL', '"*"');
    return { kind: 'all', exclude };
  }
  const duplicates = names.filter((n, i) => names.indexOf(n) !== i);
  if (duplicates.length > 0) r.problem('BACKUP_DATABASES', 'each database once', `${JSON.stringify(raw)} (twice: ${[...new Set(duplicates)].join(', ')})`);
  if (exclude.length > 0) r.problem('BACKUP_EXCLUDE_DATABASES', 'to be set only with BACKUP_DATABASES=* (with a list of names, leave the name out of the list instead)', JSON.stringify(exclude.join(',')));
  return { kind: 'names', names };
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
    r.problem('BACKUP_OPTIONS', 'pg_dump arguments with balanced quotes, e.g. --exclude-table="audit log"', JSON.stringify(maskSecretsInText(value)));
  }
  const refused = refusedDumpOptions(args);
  if (refused.length > 0) {
    r.problem(
      'BACKUP_OPTIONS',
      'extra pg_dump arguments that leave output file, format, compression, parallel jobs and connection to the service ' +
        '(remove them: BACKUP_FORMAT and BACKUP_COMPRESSION choose format and compression, BACKUP_DATABASE_URL the database)',
      refused.map((o) => `${o.shown}: ${o.reason}`).join('; '),
    );
  }
  return args;
}

function readAlerts(r: EnvReader): AlertSettings {
  const slackWebhookUrl = r.secret('SLACK_WEBHOOK_URL');
  if (slackWebhookUrl !== undefined && !/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?\/\S*$/.test(slackWebhookUrl.reveal())) {
    r.problem('SLACK_WEBHOOK_URL', 'an https:// incoming-webhook URL with a host, like https://hooks.slack.com/services/...', `"${maskUrl(slackWebhookUrl.reveal(), { showPath: false })}" (the path is not shown: it is the secret)`);
  }
  return {
    name: r.string('SENTINEL_NAME', r.optionalString('AWS_S3_BUCKET') ?? 'backup-sentinel'),
    slackWebhookUrl,
    email: readEmail(r),
    channels: readChannelUrls(r),
    webhookSecret: r.secret('ALERT_WEBHOOK_SECRET'),
    heartbeatUrl: readHeartbeatUrl(r, 'HEARTBEAT_URL'),
    backupHeartbeatUrl: readHeartbeatUrl(r, 'BACKUP_HEARTBEAT_URL'),
    repeatHours: r.number('ALERT_REPEAT_HOURS', 24, { min: 0.01 }),
    runbookUrl: r.string('RUNBOOK_URL', 'https://github.com/backup-sentinel/backup-sentinel/blob/main/docs/BACKUP_CONFIGURATION.md'),
    stateDir: readStateDir(r),
  };
}

// ALERT_URLS: one problem per malformed entry, naming its position and scheme, never its token.
function readChannelUrls(r: EnvReader): ChannelTarget[] {
  const { targets, problems } = parseChannelUrls(r.raw('ALERT_URLS'));
  for (const problem of problems) r.problem('ALERT_URLS', problem.expected, problem.entry);
  return targets;
}

// A heartbeat URL is a credential (whoever has it can report success): only its host is ever shown.
function readHeartbeatUrl(r: EnvReader, name: string): Secret | undefined {
  const url = r.secret(name);
  if (url === undefined) return undefined;
  let ok = false;
  try {
    const parsed = new URL(url.reveal());
    // fetch refuses URLs with user:password in them: such a URL could never be pinged.
    ok = (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.hostname !== '' && parsed.username === '' && parsed.password === '' && !/\s/.test(url.reveal());
  } catch {
    // Reported below.
  }
  if (!ok) {
    r.problem(name, 'an http(s) ping URL without user:password, like https://hc-ping.com/<uuid>, https://kuma.example.com/api/push/<token>, https://uptime.betterstack.com/api/v1/heartbeat/<token> or https://cronitor.link/p/<key>/<monitor>', shownPingUrl(url.reveal()));
    return undefined;
  }
  return url;
}

function shownPingUrl(text: string): string {
  const masked = maskUrl(text, { showPath: false });
  return masked.includes('not shown') ? JSON.stringify(masked) : `"${masked}" (the path is not shown: it is the secret)`;
}

// STATE_DIR is created when first written; an existing path that is not a directory cannot work.
function readStateDir(r: EnvReader): string {
  const value = r.string('STATE_DIR', DEFAULT_STATE_DIR);
  let isOther = false;
  try {
    isOther = !fs.statSync(value).isDirectory();
  } catch {
    // Missing (created later) or unreadable (reported when written): not a reason to refuse to start.
  }
  if (isOther) {
    r.problem('STATE_DIR', 'a directory for the local copy of the alert state (it is created if missing)', `${JSON.stringify(value)}, which is a file; name a directory or unset it`);
  }
  return value;
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
      url = /^smtps?:\/\/[^/?#]+/i.test(smtpUrl.reveal()) ? new URL(smtpUrl.reveal()) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || !['smtp:', 'smtps:'].includes(url.protocol) || url.hostname === '') {
      r.problem('SMTP_URL', 'a URL with a host, like smtps://user:pass@smtp.example.com:465 (percent-encode special characters in the password)', `"${maskUrl(smtpUrl.reveal())}"`);
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
  if (fromValue !== undefined && !/^(?:[^<>@\s][^<>]*<[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/.test(fromValue)) {
    r.problem('ALERT_EMAIL_FROM', 'one sender address like alerts@example.com or "Backups <alerts@example.com>"', JSON.stringify(fromValue));
  }
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

// A postgres:// URL that every client can use (util/pg-url.ts), checked at start; shown masked.
function checkPgUrl(r: EnvReader, name: string, url: Secret): void {
  const result = parsePgUrl(url.reveal());
  if (!result.ok) r.problem(name, result.problem, `"${maskUrl(url.reveal())}"`);
}

function readPgUrl(r: EnvReader, name: string): Secret | undefined {
  const url = r.secret(name);
  if (url !== undefined) checkPgUrl(r, name, url);
  return url;
}

// PG_DUMP_PATH: unset or "auto" picks the pg_dump matching the server; anything else must be a
// program this process can run (an absolute path, or a bare name found on PATH), checked at start
// rather than at the first backup hours later.
function readPgDumpPath(r: EnvReader, probe: ConfigProbe): string | undefined {
  const value = r.optionalString('PG_DUMP_PATH');
  if (value === undefined || value === 'auto') return undefined;
  const expected = 'the absolute path of an executable pg_dump file, or a program name on PATH (or unset / auto to pick the one matching the server)';
  if (!value.includes('/')) {
    const dirs = (r.raw('PATH') ?? '').split(path.delimiter).filter((d) => d !== '');
    if (!dirs.some((dir) => probe.isExecutableFile(path.join(dir, value)))) r.problem('PG_DUMP_PATH', expected, `${JSON.stringify(value)}, which is not on PATH`);
  } else if (!path.isAbsolute(value)) {
    r.problem('PG_DUMP_PATH', expected, `${JSON.stringify(value)}, a relative path`);
  } else if (!probe.isExecutableFile(value)) {
    r.problem('PG_DUMP_PATH', expected, `${JSON.stringify(value)}, which is not an executable file`);
  }
  return value;
}

// HOST: the address the HTTP server binds to; unset: dual-stack "::" where the host has IPv6, else 0.0.0.0.
function readHost(r: EnvReader): string | undefined {
  const value = r.optionalString('HOST');
  if (value === undefined) return undefined;
  const bare = value.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 0 && !/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(bare)) {
    r.problem('HOST', 'an IP address to listen on, such as :: (every IPv6 and IPv4 address), 0.0.0.0 (IPv4 only) or 127.0.0.1, or a host name', JSON.stringify(value));
  }
  return bare;
}

// HTTP_AUTH_TOKEN / HTTP_BASIC_AUTH / HTTP_AUTH_HEALTH. A problem names the variable and the expected
// form, never the value (it is a credential).
function readHttpAuth(r: EnvReader): HttpAuthSettings {
  const token = r.secret('HTTP_AUTH_TOKEN');
  const basicText = r.secret('HTTP_BASIC_AUTH')?.reveal();
  let basic: HttpAuthSettings['basic'];
  if (basicText !== undefined) {
    const colon = basicText.indexOf(':');
    if (colon <= 0 || colon === basicText.length - 1) {
      const what = colon === -1 ? 'a value without a colon' : colon === 0 ? 'a value with no user name before the colon' : 'a value with no password after the colon';
      r.problem('HTTP_BASIC_AUTH', 'user:password (a user name, a colon, then the password), e.g. prometheus:<a long random password>', `${what} (not shown: it is a secret)`);
    } else {
      basic = { user: new Secret(basicText.slice(0, colon)), password: new Secret(basicText.slice(colon + 1)) };
    }
  }
  const health = r.bool('HTTP_AUTH_HEALTH', false);
  if (health && token === undefined && !r.has('HTTP_BASIC_AUTH')) {
    r.problem('HTTP_AUTH_HEALTH', 'false, or HTTP_AUTH_TOKEN or HTTP_BASIC_AUTH set as well (true asks for credentials that are not configured)', '"true" without HTTP_AUTH_TOKEN or HTTP_BASIC_AUTH');
  }
  return { token, basic, health };
}
