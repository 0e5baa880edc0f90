import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { captureStream } from '../helpers/log-sink.ts';

// `backup-sentinel config` shows what the service will use, every secret masked.
describe('backup-sentinel config', () => {
  const MARK = 'Mk7secretZ';
  const env = {
    LOG_LEVEL: 'silent',
    BACKUP_DATABASE_URL: `postgres://app:${MARK}@db.example.com:5432/app`,
    AWS_S3_BUCKET: 'vlvt-backups',
    AWS_S3_ENDPOINT: `https://AKID:${MARK}@acc.r2.cloudflarestorage.com`,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: `${MARK}aws`,
    SLACK_WEBHOOK_URL: `https://hooks.slack.com/services/T0/B0/${MARK}`,
    SMTP_URL: `smtps://ops:${MARK}@mail.example.com:465`,
    ALERT_EMAIL_TO: 'ops@example.com',
    ALERT_URLS: `tgram://123456789:AAH${MARK}abcdefghijklmnopqrstuvwxyz/999,webhook+https://recv.example.com/hook/${MARK}`,
    HEARTBEAT_URL: `https://hc-ping.com/${MARK}`,
    HTTP_AUTH_TOKEN: `${MARK}token`,
    BACKUP_ENCRYPTION_PASSPHRASE: `${MARK}passphrase`,
    KEEP_DAILY: '7',
  };

  async function config(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runCli(['config', ...args], env, { stdout: stdout.stream, stderr: stderr.stream });
    return { code, out: stdout.text(), err: stderr.text() };
  }

  it('prints every effective setting, defaults applied, and no secret', async () => {
    const { code, out, err } = await config([]);
    assert.equal(code, 0, err);
    assert.ok(!out.includes(MARK), `a secret was printed:\n${out}`);
    assert.match(out, /^storage\.bucket: vlvt-backups$/m);
    assert.match(out, /^storage\.endpoint: https:\/\/\*\*\*@acc\.r2\.cloudflarestorage\.com$/m);
    assert.match(out, /^backup\.databaseUrl: postgres:\/\/\*\*\*@db\.example\.com:5432\/app$/m);
    assert.match(out, /^backup\.cron: 0 3 \* \* \*$/m, 'a default');
    assert.match(out, /^storage\.secretAccessKey: \*\*\*$/m);
    assert.match(out, /^alerts\.slackWebhookUrl: https:\/\/hooks\.slack\.com\/…$/m);
    assert.match(out, /^retention\.tiers\.daily: 7$/m);
  });

  it('--json gives the same as JSON, and no secret', async () => {
    const { code, out } = await config(['--json']);
    assert.equal(code, 0);
    assert.ok(!out.includes(MARK), `a secret was printed:\n${out}`);
    const parsed = JSON.parse(out) as { backup: { cron: string }; alerts: { channels: { kind: string }[] } };
    assert.equal(parsed.backup.cron, '0 3 * * *');
    assert.deepEqual(parsed.alerts.channels.map((c) => c.kind), ['telegram', 'webhook']);
  });
});
