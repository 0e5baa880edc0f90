import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { alertTestCommand } from '../../src/commands/alert-test.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { commandContext } from './command-context.ts';
import { captureLogs } from '../helpers/log-sink.ts';

describe('backup-sentinel alert-test', () => {
  let slack: TestSlackServer;
  let smtp: TestSmtpServer;
  const base = { BACKUP_DIR: '/tmp/alert-test-backups', SENTINEL_NAME: 'vlvt-backups', ALERT_EMAIL_TO: 'oncall@example.test', ALERT_EMAIL_FROM: 'sentinel@example.test' };
  before(async () => {
    [slack, smtp] = await Promise.all([startSlackServer(), startSmtpServer({ auth: { user: 'alerts', password: 'pa55-SECRET' } })]);
  });
  after(async () => {
    await Promise.all([slack.close(), smtp.close()]);
  });
  const env = (password = 'pa55-SECRET') => ({ ...base, SLACK_WEBHOOK_URL: slack.url, SMTP_URL: `smtp://alerts:${password}@127.0.0.1:${smtp.port}` });

  it('sends a test message through every channel and exits 0 when all work', async () => {
    const run = commandContext(env(), captureLogs().logger);
    const code = await alertTestCommand.run([], run.ctx);
    assert.equal(code, 0, run.stdout());
    assert.match(run.stdout(), /ok {6}slack: sent \(Slack webhook on 127\.0\.0\.1:\d+\)/);
    assert.match(run.stdout(), /ok {6}email: sent \(e-mail to oncall@example.test via 127\.0\.0\.1:\d+\)/);
    assert.match(run.stdout(), /Every channel works/);
    assert.equal(smtp.mails.at(-1)?.subject, '[TEST] vlvt-backups: alert delivery works');
    assert.match((slack.payloads.at(-1) as { text: string }).text, /\[TEST\] vlvt-backups/);
  });

  it('reports each failing channel with what to do and exits 1, while the others still deliver', async () => {
    slack.respondWith({ status: 404, body: 'no_service' });
    const mailsBefore = smtp.mails.length;
    const run = commandContext(env('wrong-SECRET'), captureLogs().logger);
    const code = await alertTestCommand.run([], run.ctx);
    assert.equal(code, 1);
    assert.match(run.stdout(), /FAILED {2}slack: refused, not retried: Slack webhook on .* answered HTTP 404 "no_service"/);
    assert.match(run.stdout(), /What to do: the webhook was removed/);
    assert.match(run.stdout(), /FAILED {2}email: refused, not retried: SMTP server 127.0.0.1:\d+ refused the login of alerts/);
    assert.match(run.stdout(), /2 of 2 channels failed/);
    assert.equal(smtp.mails.length, mailsBefore);
    assert.doesNotMatch(run.stdout() + run.stderr(), new RegExp(`wrong-SECRET|${slack.token}`));
  });

  it('with one channel failing the other one still delivers', async () => {
    slack.respondWith({ status: 410, body: 'channel_is_archived' });
    const mailsBefore = smtp.mails.length;
    const run = commandContext(env(), captureLogs().logger);
    assert.equal(await alertTestCommand.run([], run.ctx), 1);
    assert.match(run.stdout(), /ok {6}email: sent/);
    assert.match(run.stdout(), /1 of 2 channels failed/);
    assert.equal(smtp.mails.length, mailsBefore + 1);
  });

  it('says so and exits 1 when no channel is configured', async () => {
    const run = commandContext({ BACKUP_DIR: '/tmp/alert-test-backups' }, captureLogs().logger);
    assert.equal(await alertTestCommand.run([], run.ctx), 1);
    assert.match(run.stderr(), /No alert channel is configured.*\nSet SLACK_WEBHOOK_URL/);
  });

  it('refuses arguments it does not know', async () => {
    const run = commandContext(env(), captureLogs().logger);
    assert.equal(await alertTestCommand.run(['--channel=slack'], run.ctx), 64);
    assert.match(run.stderr(), /^Unknown option "--channel=slack": alert-test expects one of -h\/--help\.\nUsage: backup-sentinel alert-test\n$/);
  });
});
