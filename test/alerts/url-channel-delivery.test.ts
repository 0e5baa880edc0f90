import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseChannelUrls, type TelegramTarget, type UrlTarget } from '../../src/alerts/channel-urls.ts';
import { createNotifiers } from '../../src/alerts/create-alert-service.ts';
import { TelegramNotifier } from '../../src/alerts/telegram.ts';
import { WebhookNotifier } from '../../src/alerts/webhook.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { startHttpReceiver, type TestHttpReceiver } from '../helpers/http-receiver.ts';
import { at, makeService, MONITOR_CHECKS, notificationCounts, staleFinding } from './fixtures.ts';

const BOT = '123456789:AAHsecretBotTokenPart_abcdefghijklmn';

describe('ALERT_URLS channels share the dispatcher: grouping, retries and per-channel delivery state', () => {
  let webhook: TestHttpReceiver;
  let telegram: TestHttpReceiver;
  let dir: string;
  before(async () => {
    [webhook, telegram] = await Promise.all([startHttpReceiver(), startHttpReceiver()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'url-channels-'));
  });
  after(async () => {
    await Promise.all([webhook.close(), telegram.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('a receiver that is down is logged and counted, the service goes on, and it gets the alert once it is back', async () => {
    const port = new URL(webhook.base).port;
    const [hook] = parseChannelUrls(`webhook+http://127.0.0.1:${port}/in`).targets as UrlTarget[];
    const [tg] = parseChannelUrls(`tgram://${BOT}/-100123`).targets as TelegramTarget[];
    assert.ok(hook !== undefined && tg !== undefined);
    const logs = captureLogs();
    // Telegram's API is https-only: apiBase (a constructor option, no setting) points at the loopback stand-in.
    const notifiers = [new WebhookNotifier(hook, { sentinel: 'vlvt-backups' }), new TelegramNotifier(tg, { apiBase: telegram.base, timeoutMs: 2000 })];
    const registry = new Registry();
    const build = () => makeService({ store: new DirStore(dir), notifiers, logger: logs.logger, registry, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const { service: earlier } = build();
    await earlier.start();
    await telegram.down();
    const first = await earlier.process([staleFinding], at(1), MONITOR_CHECKS);
    assert.equal(first.delivered, true);
    assert.deepEqual(first.deliveries.map((d) => [d.channel, d.outcome]), [['webhook', 'sent'], ['telegram', 'failed']]);
    assert.deepEqual(await notificationCounts(registry), { 'webhook sent': 1, 'telegram failed': 1 });
    assert.ok(logs.records().some((r) => r.channel === 'telegram' && r.level === 50 && /NOT delivered through telegram/.test(String(r.msg))));
    assert.doesNotMatch(logs.text(), /AAHsecret/);
    assert.deepEqual(earlier.pendingDeliveries(), { webhook: 0, telegram: 1 });
    await earlier.stop();

    // A restart (a redeploy) keeps what the Telegram channel owes: the state is stored per channel key.
    const { service } = build();
    await service.start();
    assert.deepEqual(service.pendingDeliveries(), { webhook: 0, telegram: 1 });
    await telegram.up();
    const second = await service.process([staleFinding], at(2), MONITOR_CHECKS);
    assert.equal(second.notification, undefined);
    assert.equal(telegram.requests.length, 1);
    const sent = JSON.parse(telegram.requests[0]?.body ?? '{}') as { text: string };
    assert.match(sent.text, /^\[FIRING\] vlvt-backups: no new backup for 27 h/);
    assert.match(sent.text, /delayed: due .* when telegram could not take it/);
    assert.equal(webhook.requests.length, 1, 'the webhook got the FIRING once');
    assert.deepEqual(service.pendingDeliveries(), { webhook: 0, telegram: 0 });
    assert.deepEqual(await notificationCounts(registry), { 'webhook sent': 1, 'telegram sent': 1, 'telegram failed': 1 });
    await service.stop();
  });

  it('the configuration wires every ALERT_URLS entry after Slack and e-mail, as its own channel', () => {
    const config = loadConfig({
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x',
      ALERT_URLS: `webhook+https://a.example/in, tgram://${BOT}/1, webhook+https://b.example/in`,
    });
    assert.deepEqual(createNotifiers(config.alerts).map((n) => [n.channel, n.description]), [
      ['slack', 'Slack webhook on hooks.slack.com'],
      ['webhook', 'webhook on a.example'],
      ['telegram', 'Telegram chat 1'],
      ['webhook-2', 'webhook on b.example'],
    ]);
  });
});
