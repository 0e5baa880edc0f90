import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseChannelUrls, type ChannelTarget, type UrlTarget } from '../../src/alerts/channel-urls.ts';
import { DiscordNotifier } from '../../src/alerts/discord.ts';
import { formatMessage, type AlertMessage } from '../../src/alerts/format-message.ts';
import { RetryLaterError } from '../../src/alerts/notifier.ts';
import { NtfyNotifier } from '../../src/alerts/ntfy.ts';
import { TeamsNotifier } from '../../src/alerts/teams.ts';
import { TelegramNotifier } from '../../src/alerts/telegram.ts';
import { WebhookNotifier } from '../../src/alerts/webhook.ts';
import { Secret } from '../../src/config/secret.ts';
import { startHttpReceiver, type TestHttpReceiver } from '../helpers/http-receiver.ts';
import { at, rejection, staleFinding } from './fixtures.ts';

const context = { name: 'vlvt-backups', where: 's3://vlvt/db/backup-', runbookUrl: 'https://example.test/RUNBOOK.md' };
const firing: AlertMessage = formatMessage(
  { kind: 'firing', at: at(1), started: [{ ...staleFinding, since: at(0), escalated: false }], stillFiring: [], resolved: [] },
  context,
);
const never = new AbortController().signal;
const DISCORD_TOKEN = 'dIsCoRdToKeN_abcdefghijklmnopqrstuvwxyz-0123456789';
const BOT_TOKEN = '123456789:AAHsecretBotTokenPart_abcdefghijklmn';

function only<T extends ChannelTarget['kind']>(entry: string, kind: T): Extract<ChannelTarget, { kind: T }> {
  const { targets, problems } = parseChannelUrls(entry);
  assert.deepEqual(problems, []);
  const [target] = targets;
  assert.equal(target?.kind, kind);
  return target as Extract<ChannelTarget, { kind: T }>;
}

describe('ALERT_URLS channels against real HTTP receivers', () => {
  let receiver: TestHttpReceiver;
  before(async () => {
    receiver = await startHttpReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it('Discord: POSTs content and an embed to /api/webhooks/<id>/<token>, mentions off', async () => {
    // discord.com is https-only: the test passes apiBase (a constructor option, no setting) to reach the stand-in.
    const target = only(`discord://123456789012345678/${DISCORD_TOKEN}`, 'discord');
    await new DiscordNotifier(target, { apiBase: receiver.base }).send(firing, never);
    const [request] = receiver.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, `/api/webhooks/123456789012345678/${DISCORD_TOKEN}`);
    assert.match(String(request.headers['content-type']), /application\/json/);
    const body = JSON.parse(request.body) as { content: string; embeds: { title: string; description: string; color: number }[]; allowed_mentions: unknown };
    assert.equal(body.content, firing.subject);
    assert.equal(body.embeds[0]?.title, firing.subject);
    assert.match(body.embeds[0]?.description ?? '', /\[FAIL\] Backups are stale/);
    assert.match(body.embeds[0]?.description ?? '', /What to do: look at the backup job/);
    assert.equal(body.embeds[0]?.color, 0xc62828);
    assert.deepEqual(body.allowed_mentions, { parse: [] });
  });

  it('Discord: a deleted webhook (404 "Unknown Webhook") is permanent and the error holds no token', async () => {
    receiver.respondWith({ status: 404, body: `{"message": "Unknown Webhook", "code": 10015, "echo": "${DISCORD_TOKEN}"}` });
    const target = only(`discord://123456789012345678/${DISCORD_TOKEN}`, 'discord');
    const error = await rejection(new DiscordNotifier(target, { apiBase: receiver.base }).send(firing, never));
    assert.equal(error.permanent, true);
    assert.match(error.shortMessage, /Discord webhook 123456789012345678 answered HTTP 404 "Unknown Webhook"/);
    assert.match(error.hint ?? '', /create a new one/);
    assert.doesNotMatch(`${error.message} ${error.hint ?? ''}`, new RegExp(DISCORD_TOKEN));
  });

  it('Discord: a 429 carries the retry_after of the JSON answer', async () => {
    receiver.respondWith({ status: 429, body: '{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}' });
    const error = await rejection(new DiscordNotifier(only(`discord://123456789012345678/${DISCORD_TOKEN}`, 'discord'), { apiBase: receiver.base }).send(firing, never));
    assert.ok(error instanceof RetryLaterError);
    assert.equal(error.retryAfterMs, 1500);
  });

  it('Telegram: POSTs sendMessage with chat_id and the plain text to /bot<token>/sendMessage', async () => {
    // api.telegram.org is https-only: apiBase (a constructor option, no setting) points at the stand-in.
    const target = only(`tgram://${BOT_TOKEN}/-1001234567890`, 'telegram');
    await new TelegramNotifier(target, { apiBase: receiver.base }).send(firing, never);
    const [request] = receiver.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, `/bot${BOT_TOKEN}/sendMessage`);
    const body = JSON.parse(request.body) as { chat_id: string; text: string; parse_mode?: string; disable_web_page_preview: boolean };
    assert.equal(body.chat_id, '-1001234567890');
    assert.ok(body.text.startsWith(firing.subject));
    assert.match(body.text, /Runbook: https:\/\/example.test\/RUNBOOK.md#stale/);
    assert.equal(body.parse_mode, undefined);
    assert.equal(body.disable_web_page_preview, true);
  });

  it('Telegram: "chat not found" is permanent and says to fix the chat id; the bot token never shows', async () => {
    receiver.respondWith({ status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found ${BOT_TOKEN}"}` });
    const error = await rejection(new TelegramNotifier(only(`tgram://${BOT_TOKEN}/@mychannel`, 'telegram'), { apiBase: receiver.base }).send(firing, never));
    assert.equal(error.permanent, true);
    assert.match(error.shortMessage, /Telegram chat @mychannel answered HTTP 400 "Bad Request: chat not found \*\*\*"/);
    assert.match(error.hint ?? '', /chat id/);
    assert.doesNotMatch(error.message, /AAHsecret/);
  });

  it('ntfy: publishes JSON to the server root with topic, title, priority and basic auth', async () => {
    const port = new URL(receiver.base).port;
    const target = only(`ntfy://alice:s3cr%40t@127.0.0.1:${port}/backups_topic`, 'ntfy');
    await new NtfyNotifier(target).send(firing, never);
    const [request] = receiver.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, '/');
    assert.equal(request.headers.authorization, `Basic ${Buffer.from('alice:s3cr@t').toString('base64')}`);
    const body = JSON.parse(request.body) as Record<string, unknown>;
    assert.equal(body.topic, 'backups_topic');
    assert.equal(body.title, firing.subject);
    assert.equal(body.priority, 5);
    assert.deepEqual(body.tags, ['rotating_light']);
    assert.equal(body.click, 'https://example.test/RUNBOOK.md#stale');
    assert.match(String(body.message), /Backups are stale/);
  });

  it('ntfy: an access token goes as a Bearer header', async () => {
    const port = new URL(receiver.base).port;
    await new NtfyNotifier(only(`ntfy://tk_abcdefghijklmnop@127.0.0.1:${port}/t1`, 'ntfy')).send(firing, never);
    assert.equal(receiver.requests[0]?.headers.authorization, 'Bearer tk_abcdefghijklmnop');
  });

  it('Teams: POSTs a message with an Adaptive Card attachment to the workflow URL, query included', async () => {
    // Workflow URLs are https-only in ALERT_URLS (teams+https://); the test builds the target itself to reach http loopback.
    const target: UrlTarget = { kind: 'teams', channel: 'teams', description: 'Teams workflow on 127.0.0.1', url: new Secret(`${receiver.base}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGSECRET`) };
    await new TeamsNotifier(target).send(firing, never);
    const [request] = receiver.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, '/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGSECRET');
    const body = JSON.parse(request.body) as { type: string; attachments: { contentType: string; contentUrl: null; content: { type: string; version: string; body: { text: string }[] } }[] };
    assert.equal(body.type, 'message');
    assert.equal(body.attachments.length, 1);
    const [card] = body.attachments;
    assert.equal(card?.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(card.contentUrl, null);
    assert.equal(card.content.type, 'AdaptiveCard');
    assert.equal(card.content.body[0]?.text, firing.subject);
    assert.ok(card.content.body.some((b) => b.text === '[Runbook](https://example.test/RUNBOOK.md#stale)'));
  });

  it('generic webhook: POSTs the version 1 body with an HMAC-SHA256 signature the receiver can verify', async () => {
    const port = new URL(receiver.base).port;
    const target = only(`webhook+http://127.0.0.1:${port}/hooks/backup?key=abc`, 'webhook');
    const secret = 'shared-hmac-secret';
    await new WebhookNotifier(target, { sentinel: 'vlvt-backups', secret: new Secret(secret), clock: () => at(1) }).send(firing, never);
    const [request] = receiver.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request.url, '/hooks/backup?key=abc');
    assert.equal(request.headers['x-backup-sentinel-event'], 'firing');
    assert.equal(request.headers['x-backup-sentinel-payload-version'], '1');
    // What a receiver does: HMAC the raw body with the shared secret and compare.
    const expected = `sha256=${createHmac('sha256', secret).update(request.body).digest('hex')}`;
    assert.equal(request.headers['x-backup-sentinel-signature'], expected);
    assert.deepEqual(JSON.parse(request.body), {
      version: 1,
      kind: 'firing',
      tone: 'fail',
      subject: firing.subject,
      sentinel: 'vlvt-backups',
      footer: 'vlvt-backups · s3://vlvt/db/backup-',
      sentAt: at(1).toISOString(),
      alerts: [
        {
          state: 'firing',
          severity: 'fail',
          check: 'stale',
          set: null,
          section: 'Started',
          title: 'Backups are stale',
          summary: 'no new backup for 27 h',
          details: firing.sections[0]?.entries[0]?.details,
          hint: 'look at the backup job',
          runbookUrl: 'https://example.test/RUNBOOK.md#stale',
        },
      ],
    });
  });

  it('generic webhook: names the backup set an alert is about', async () => {
    const port = new URL(receiver.base).port;
    const target = only(`webhook+http://127.0.0.1:${port}/h`, 'webhook');
    const setFiring = formatMessage(
      { kind: 'firing', at: at(1), started: [{ ...staleFinding, set: 'shop data', since: at(0), escalated: false }], stillFiring: [], resolved: [] },
      context,
    );
    await new WebhookNotifier(target, { sentinel: 'x' }).send(setFiring, never);
    const body = JSON.parse(receiver.requests[0]?.body ?? '{}') as { alerts: { set: string | null }[] };
    assert.deepEqual(body.alerts.map((a) => a.set), ['shop data']);
  });

  it('generic webhook: no signature header without ALERT_WEBHOOK_SECRET; a 500 is transient', async () => {
    const port = new URL(receiver.base).port;
    const target = only(`webhook+http://127.0.0.1:${port}/h`, 'webhook');
    await new WebhookNotifier(target, { sentinel: 'x' }).send(firing, never);
    assert.equal(receiver.requests[0]?.headers['x-backup-sentinel-signature'], undefined);
    receiver.respondWith({ status: 500, body: '<html>down</html>' });
    const error = await rejection(new WebhookNotifier(target, { sentinel: 'x' }).send(firing, never));
    assert.equal(error.permanent, false);
    assert.equal(error.shortMessage, `webhook on 127.0.0.1:${port} answered HTTP 500`);
  });

  it('generic webhook and Teams: a refusal that quotes the URL\'s token (n8n: "webhook <uuid> is not registered") shows no token', async () => {
    const port = new URL(receiver.base).port;
    const uuid = '0b6f2c1e-5d4a-4c2b-9e1f-secret7a8b';
    // Teams URLs are https-only in ALERT_URLS: the test builds that target itself to reach http loopback.
    const teams: UrlTarget = { kind: 'teams', channel: 'teams', description: 'Teams workflow on 127.0.0.1', url: new Secret(`${receiver.base}/workflows/${uuid}/triggers/manual/paths/invoke?sig=SiGsecretValue123`) };
    const notifiers = [
      ['webhook', new WebhookNotifier(only(`webhook+http://127.0.0.1:${port}/webhook/${uuid}`, 'webhook'), { sentinel: 'x' })],
      ['teams', new TeamsNotifier(teams)],
    ] as const;
    for (const [kind, notifier] of notifiers) {
      const quoted = kind === 'teams' ? ` (sig=SiGsecretValue123)` : '';
      receiver.respondWith({ status: 404, body: JSON.stringify({ message: `The requested webhook "POST ${uuid}" is not registered.${quoted}` }) });
      const error = await rejection(notifier.send(firing, never));
      assert.equal(error.permanent, true);
      assert.match(error.shortMessage, /answered HTTP 404 "The requested webhook "POST \*\*\*" is not registered/);
      assert.ok(!error.message.includes('secret'), `${kind}: ${error.message}`);
    }
  });

  it('a receiver that is down is a transient error naming the host only', async () => {
    const port = new URL(receiver.base).port;
    const target = only(`webhook+http://127.0.0.1:${port}/secret-path`, 'webhook');
    await receiver.down();
    try {
      const error = await rejection(new WebhookNotifier(target, { sentinel: 'x' }).send(firing, never));
      assert.equal(error.permanent, false);
      assert.match(error.shortMessage, new RegExp(`webhook on 127.0.0.1:${port} unreachable \\([A-Z_]+\\)$`));
      assert.doesNotMatch(error.message, /secret-path/);
    } finally {
      await receiver.up();
    }
  });
});
