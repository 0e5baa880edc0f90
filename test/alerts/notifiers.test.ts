import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EmailNotifier } from '../../src/alerts/email.ts';
import { formatTestMessage } from '../../src/alerts/format-message.ts';
import { RetryLaterError } from '../../src/alerts/notifier.ts';
import { SlackNotifier } from '../../src/alerts/slack.ts';
import { Secret } from '../../src/config/secret.ts';
import { rejection } from './fixtures.ts';
import { freePort } from '../helpers/free-port.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';

const message = formatTestMessage({ name: 'vlvt-backups', where: 'dir:/backups/backup-', runbookUrl: 'https://example.test/RUNBOOK.md' }, new Date('2026-11-28T00:00:00Z'));
const never = new AbortController().signal;

describe('Slack notifier against a webhook server', () => {
  let slack: TestSlackServer;
  before(async () => {
    slack = await startSlackServer();
  });
  after(async () => {
    await slack.close();
  });

  it('posts the Block Kit payload with a top-level text', async () => {
    const before = slack.payloads.length;
    await new SlackNotifier(new Secret(slack.url)).send(message, never);
    const payload = slack.payloads[before] as { text: string; blocks: unknown[] };
    assert.equal(payload.text, ':information_source: [TEST] vlvt-backups: alert delivery works');
    assert.ok(payload.blocks.length >= 3);
  });

  const cases: { title: string; answer: { status: number; body?: string; headers?: Record<string, string> }; permanent: boolean; pattern: RegExp }[] = [
    { title: '404 no_service is permanent and says to make a new webhook', answer: { status: 404, body: 'no_service' }, permanent: true, pattern: /HTTP 404 "no_service"/ },
    { title: '410 channel_is_archived is permanent', answer: { status: 410, body: 'channel_is_archived' }, permanent: true, pattern: /HTTP 410 "channel_is_archived"/ },
    { title: '403 invalid_token is permanent', answer: { status: 403, body: 'invalid_token' }, permanent: true, pattern: /HTTP 403 "invalid_token"/ },
    { title: '400 invalid_payload is permanent', answer: { status: 400, body: 'invalid_payload' }, permanent: true, pattern: /HTTP 400 "invalid_payload"/ },
    { title: '500 is transient', answer: { status: 500, body: '<html>oops</html>' }, permanent: false, pattern: /HTTP 500$/ },
    { title: '503 is transient', answer: { status: 503 }, permanent: false, pattern: /HTTP 503/ },
  ];
  for (const c of cases) {
    it(`an answer of ${c.title}`, async () => {
      slack.respondWith(c.answer);
      const error = await rejection(new SlackNotifier(new Secret(slack.url)).send(message, never));
      assert.equal(error.permanent, c.permanent);
      assert.match(error.shortMessage, c.pattern);
      if (c.permanent && c.answer.status !== 400) assert.match(error.hint ?? '', /create a new incoming webhook/);
      assert.doesNotMatch(error.message, new RegExp(slack.token));
    });
  }

  it('a 429 is transient and carries Retry-After', async () => {
    slack.respondWith({ status: 429, body: 'rate_limited', headers: { 'retry-after': '7' } });
    const error = await rejection(new SlackNotifier(new Secret(slack.url)).send(message, never));
    assert.ok(error instanceof RetryLaterError);
    assert.equal(error.retryAfterMs, 7000);
    assert.equal(error.permanent, false);
  });

  it('a hanging webhook times out as a transient error', async () => {
    slack.respondWith('hang');
    const started = Date.now();
    const error = await rejection(new SlackNotifier(new Secret(slack.url), { timeoutMs: 300 }).send(message, never));
    const took = Date.now() - started;
    assert.equal(error.permanent, false);
    assert.match(error.shortMessage, /did not answer within 0.3 s/);
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  });

  it('a dead endpoint is transient and the error names the host, not the URL', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/services/T1/B1/deadSECRETtoken`;
    const error = await rejection(new SlackNotifier(new Secret(url)).send(message, never));
    assert.equal(error.permanent, false);
    assert.match(error.shortMessage, /Slack webhook on 127.0.0.1:\d+ unreachable \(ECONNREFUSED\)/);
    assert.doesNotMatch(`${error.message} ${String(error.cause)}`, /deadSECRETtoken/);
  });
});

describe('e-mail notifier against an SMTP server', () => {
  let open: TestSmtpServer;
  let authed: TestSmtpServer;
  before(async () => {
    [open, authed] = await Promise.all([startSmtpServer(), startSmtpServer({ auth: { user: 'alerts', password: 'pa55-SECRET-word' } })]);
  });
  after(async () => {
    await Promise.all([open.close(), authed.close()]);
  });

  it('delivers a mail with subject, plain text and HTML to every recipient', async () => {
    await new EmailNotifier(open.settings({ to: ['a@example.test', 'b@example.test'] })).send(message, never);
    const mail = open.mails.at(-1);
    assert.equal(mail?.subject, '[TEST] vlvt-backups: alert delivery works');
    assert.match(mail?.text ?? '', /no action needed/);
    assert.match(typeof mail?.html === 'string' ? mail.html : '', /<h2[^>]*>\[TEST\] vlvt-backups/);
    assert.equal(mail?.from?.value[0]?.address, 'sentinel@example.test');
    const to = Array.isArray(mail?.to) ? mail.to : mail?.to === undefined ? [] : [mail.to];
    assert.deepEqual(to.flatMap((a) => a.value.map((v) => v.address)), ['a@example.test', 'b@example.test']);
  });

  it('logs in when the server asks for it', async () => {
    await new EmailNotifier(authed.settings()).send(message, never);
    assert.equal(authed.mails.length, 1);
    assert.deepEqual(authed.logins, ['alerts']);
  });

  it('a refused login (535) is permanent and says what to check, without the password', async () => {
    const error = await rejection(new EmailNotifier(authed.settings({ password: new Secret('wrong-SECRET-pw') })).send(message, never));
    assert.equal(error.permanent, true);
    assert.match(error.shortMessage, /refused the login of alerts .*535/);
    assert.match(error.hint ?? '', /SMTP_PASSWORD/);
    assert.doesNotMatch(error.message, /wrong-SECRET-pw/);
  });

  it('a 451 "try later" is transient and a 554 is permanent', async () => {
    open.failNextMessages(1, 451);
    const soft = await rejection(new EmailNotifier(open.settings()).send(message, never));
    assert.equal(soft.permanent, false);
    assert.match(soft.shortMessage, /451/);
    open.failNextMessages(1, 554);
    const hard = await rejection(new EmailNotifier(open.settings()).send(message, never));
    assert.equal(hard.permanent, true);
    assert.match(hard.shortMessage, /554/);
  });

  it('a server that is not there is transient', async () => {
    const port = await freePort();
    const error = await rejection(new EmailNotifier(open.settings({ port })).send(message, never));
    assert.equal(error.permanent, false);
    assert.match(error.shortMessage, new RegExp(`SMTP server 127.0.0.1:${port} unreachable`));
  });
});
