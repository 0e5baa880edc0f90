import assert from 'node:assert/strict';
import fs from 'node:fs';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { VARIABLES } from '../../src/config/variables.ts';
import { problemsOf } from './fixtures.ts';

describe('loadConfig', () => {
  it('runs on embedded defaults: directory storage, monitor-only, template-compatible schedule', () => {
    const config = loadConfig({});
    assert.equal(config.storage.kind, 'dir');
    assert.equal(config.backup, undefined);
    assert.equal(config.monitor.maxAgeHours, 25);
    assert.equal(config.retention.days, 30);
    assert.equal(config.http.port, 8080);
  });

  it('SIZE_MIN_DIFF_BYTES scales with the median by default and is the exact floor once set', () => {
    const unset = loadConfig({}).monitor;
    assert.equal(unset.sizeMinDiffBytes, 1024 * 1024);
    assert.equal(unset.sizeMinDiffFixed, false);
    const set = loadConfig({ SIZE_MIN_DIFF_BYTES: '1048576' }).monitor;
    assert.equal(set.sizeMinDiffBytes, 1024 * 1024);
    assert.equal(set.sizeMinDiffFixed, true);
    assert.equal(loadConfig({ SIZE_MIN_DIFF_BYTES: ' ' }).monitor.sizeMinDiffFixed, false, 'blank is unset');
  });

  it('reads the Railway template variables with the same meaning', () => {
    const config = loadConfig({
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 'very-secret',
      AWS_S3_BUCKET: 'vlvt-backups',
      AWS_S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com',
      AWS_S3_FORCE_PATH_STYLE: 'true',
      BACKUP_DATABASE_URL: 'postgresql://u:p@db:5432/app',
      BACKUP_CRON_SCHEDULE: '0 3 * * *',
      RUN_ON_STARTUP: 'true',
      BACKUP_FILE_PREFIX: 'vlvt_backup_',
      BUCKET_SUBFOLDER: 'nightly/',
      BACKUP_OPTIONS: `--exclude-table="audit log" --no-owner`,
      SUPPORT_OBJECT_LOCK: 'true',
    });
    assert.equal(config.storage.kind, 's3');
    if (config.storage.kind !== 's3') return;
    assert.equal(config.storage.region, 'auto');
    assert.equal(config.storage.forcePathStyle, true);
    assert.equal(config.storage.objectLock, true);
    assert.equal(config.location.subfolder, 'nightly');
    assert.equal(config.location.prefix, 'vlvt_backup_');
    assert.deepEqual(config.backup?.options, ['--exclude-table=audit log', '--no-owner']);
    assert.equal(config.backup?.runOnStartup, true);
    assert.equal(config.backup?.compression.algorithm, 'gzip');
  });

  it('lists every problem at once, each naming the variable, what was expected and what was given', () => {
    const error = problemsOf({
      BACKUP_CRON_SCHEDULE: '0 3 * *',
      MONITOR_CRON: '61 * * * *',
      RUN_ON_STARTUP: 'maybe',
      BACKUP_COMPRESSION: 'brotli',
      BACKUP_DATABASE_URL: 'mysql://root:hunter2@db/app',
      MAX_BACKUP_AGE_HOURS: '-3',
      PORT: 'eighty',
    });
    const names = error.problems.map((p) => p.variable).sort();
    assert.deepEqual(names, [
      'BACKUP_COMPRESSION',
      'BACKUP_CRON_SCHEDULE',
      'BACKUP_DATABASE_URL',
      'MAX_BACKUP_AGE_HOURS',
      'MONITOR_CRON',
      'PORT',
      'RUN_ON_STARTUP',
    ]);
    assert.match(error.message, /BACKUP_CRON_SCHEDULE: expected a cron expression like "0 3 \* \* \*" \(5 or 6 fields, found 4\), got "0 3 \* \*"/);
    assert.match(error.message, /RUN_ON_STARTUP: expected true or false, got "maybe"/);
    assert.doesNotMatch(error.message, /hunter2/, 'the database password is masked');
  });

  it('rejects every schedule the cron engine cannot fire, at once (Jenkins H passed validation before and never ran)', () => {
    const error = problemsOf({ BACKUP_CRON_SCHEDULE: 'H 3 * * *', MONITOR_CRON: 'H * * * *', VERIFY_CRON: '0 0 31 2 *' });
    assert.deepEqual(error.problems.map((p) => p.variable).sort(), ['BACKUP_CRON_SCHEDULE', 'MONITOR_CRON', 'VERIFY_CRON']);
    assert.match(error.message, /MONITOR_CRON: expected a cron expression like "0 3 \* \* \*" \(H \(a hashed, Jenkins-style value\) is not supported: pick a fixed value, e.g. "17 3 \* \* \*"\), got "H \* \* \* \*"/);
    assert.match(error.message, /VERIFY_CRON: expected a cron expression like "0 3 \* \* \*" \(it never fires \(no such date\)\), got "0 0 31 2 \*"/);
  });

  it('reads every schedule in CRON_TZ (default UTC) and refuses a time zone it does not know', () => {
    assert.equal(loadConfig({}).cronTimezone, 'UTC');
    assert.equal(loadConfig({ CRON_TZ: 'Europe/Berlin', BACKUP_CRON_SCHEDULE: '*/30 * * * * *' }).cronTimezone, 'Europe/Berlin');
    const error = problemsOf({ CRON_TZ: 'Europe/Atlantis', MONITOR_CRON: 'H * * * *' });
    assert.deepEqual(error.problems.map((p) => p.variable), ['CRON_TZ', 'MONITOR_CRON']);
    assert.match(error.message, /CRON_TZ: expected an IANA time zone like "UTC" or "Europe\/Berlin", got "Europe\/Atlantis"/);
  });

  it('reports a password with a bare "%" without showing it', () => {
    const error = problemsOf({ BACKUP_DATABASE_URL: 'postgres://app:50%off@db:5432/app' });
    assert.deepEqual(error.problems.map((p) => p.variable), ['BACKUP_DATABASE_URL']);
    assert.match(error.message, /%25/);
    assert.doesNotMatch(error.message, /50%off/);
  });

  it('never shows secrets, whether printed, inspected or serialised', () => {
    const config = loadConfig({
      AWS_S3_BUCKET: 'bucket-one',
      AWS_S3_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 'sk-123456789',
      BACKUP_DATABASE_URL: 'postgres://u:db-pass-987@h/d',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/tok-555',
    });
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), String(config.backup?.databaseUrl)]) {
      assert.doesNotMatch(text, /sk-123456789|db-pass-987|tok-555/);
    }
    assert.equal(config.backup?.databaseUrl.reveal(), 'postgres://u:db-pass-987@h/d');
  });

  it('refuses half-configured storage and email instead of guessing', () => {
    const error = problemsOf({ AWS_S3_BUCKET: 'Bad_Bucket', AWS_ACCESS_KEY_ID: 'AKID', ALERT_EMAIL_TO: 'ops@example.com' });
    const names = error.problems.map((p) => p.variable).sort();
    assert.deepEqual(names, ['AWS_S3_BUCKET', 'AWS_S3_REGION', 'AWS_SECRET_ACCESS_KEY', 'SMTP_URL']);
  });

  it('parses SMTP_URL with credentials into email settings without exposing the password', () => {
    const config = loadConfig({ SMTP_URL: 'smtps://ops%40ex.com:p%40ss@mail.example.com', ALERT_EMAIL_TO: 'a@example.com, b@example.com' });
    assert.equal(config.alerts.email?.host, 'mail.example.com');
    assert.equal(config.alerts.email?.port, 465);
    assert.equal(config.alerts.email?.secure, true);
    assert.equal(config.alerts.email?.user, 'ops@ex.com');
    assert.equal(config.alerts.email?.password?.reveal(), 'p@ss');
    assert.deepEqual(config.alerts.email?.to, ['a@example.com', 'b@example.com']);
  });

  it('documents exactly the variables the config module reads', () => {
    const source = fs
      .readdirSync('src/config')
      .filter((f) => f.endsWith('.ts') && f !== 'variables.ts')
      .map((f) => fs.readFileSync(`src/config/${f}`, 'utf8'))
      .join('\n');
    const read = new Set([...source.matchAll(/'([A-Z][A-Z0-9]*_[A-Z0-9_]+|PORT|HOST)'/g)].map((m) => m[1]));
    const documented = new Set(VARIABLES.map((v) => v.name));
    assert.deepEqual([...read].sort(), [...documented].sort());
  });
});
