import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChannelUrls } from '../../src/alerts/channel-urls.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { problemsOf } from '../config/fixtures.ts';
import { MALFORMED_SHAPES, MARKER } from '../util/malformed-urls.ts';

const BOT = '123456789:AAHsecretBotTokenPart_abcdefghijklmn';
const DISCORD = '123456789012345678/dIsCoRdToKeN_abcdefghijklmnopqrstuvwxyz';

describe('ALERT_URLS parsing', () => {
  it('reads every kind, numbers repeated kinds and keeps the order', () => {
    const { targets, problems } = parseChannelUrls(
      ` discord://${DISCORD}, tgram://${BOT}/-100123 ,ntfys://ntfy.example.com/alerts,ntfy://mytopic,teams+https://prod.westeurope.logic.azure.com:443/workflows/x/triggers/manual/paths/invoke?sig=S,webhook+https://hooks.example.com/in,webhook+http://10.0.0.5:8080/in,discord://${DISCORD}`,
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      targets.map((t) => [t.channel, t.description]),
      [
        ['discord', 'Discord webhook 123456789012345678'],
        ['telegram', 'Telegram chat -100123'],
        ['ntfy', 'ntfy topic on ntfy.example.com'],
        ['ntfy-2', 'ntfy topic on ntfy.sh'],
        ['teams', 'Teams workflow on prod.westeurope.logic.azure.com'],
        ['webhook', 'webhook on hooks.example.com'],
        ['webhook-2', 'webhook on 10.0.0.5:8080'],
        ['discord-2', 'Discord webhook 123456789012345678'],
      ],
    );
    const ntfy = targets.filter((t) => t.kind === 'ntfy').map((t) => t.url.reveal());
    // The Apprise convention: ntfys:// is https, ntfy://host is http, ntfy://topic is the public server over https.
    assert.deepEqual(ntfy, ['https://ntfy.example.com/alerts', 'https://ntfy.sh/mytopic']);
    const webhook = targets.find((t) => t.channel === 'webhook-2');
    assert.equal(webhook?.kind === 'webhook' ? webhook.url.reveal() : '', 'http://10.0.0.5:8080/in');
  });

  it('names each malformed entry by position and scheme, never its token', () => {
    const { targets, problems } = parseChannelUrls(`discord://123/${'x'.repeat(30)}SECRETPART, tgram://${BOT}, slack://a/b/c, teams+http://x.example/y, webhook+https://, ntfy://nobody@h/t`);
    assert.equal(targets.length, 0);
    assert.deepEqual(
      problems.map((p) => p.entry),
      [
        'entry 1 of 6, "discord://…" (the rest is not shown: it holds a token)',
        'entry 2 of 6, "tgram://…" (the rest is not shown: it holds a token)',
        'entry 3 of 6, it (the rest is not shown: it holds a token)',
        'entry 4 of 6, "teams+http://…" (the rest is not shown: it holds a token)',
        'entry 5 of 6, "webhook+https://…" (the rest is not shown: it holds a token)',
        'entry 6 of 6, "ntfy://…" (the rest is not shown: it holds a token)',
      ],
    );
    assert.match(problems[0]?.expected ?? '', /discord:\/\/<webhook id>\/<webhook token>/);
    assert.match(problems[2]?.expected ?? '', /one of discord:\/\/, tgram:\/\//);
    assert.match(problems[3]?.expected ?? '', /https only/);
    assert.match(problems[5]?.expected ?? '', /user:password or an access token/);
    const all = JSON.stringify(problems);
    assert.doesNotMatch(all, /SECRETPART|AAHsecret|nobody/);
  });

  it('a malformed entry stops the start with one config error naming ALERT_URLS, token masked', () => {
    const error = problemsOf({ ALERT_URLS: `discord://${DISCORD},tgram://${BOT}/not-a-chat` });
    assert.equal(error.problems.length, 1);
    assert.equal(error.problems[0]?.variable, 'ALERT_URLS');
    assert.match(error.message, /ALERT_URLS/);
    assert.match(error.message, /entry 2 of 2, "tgram:\/\/…"/);
    assert.doesNotMatch(error.message, /AAHsecret|dIsCoRdToKeN/);
  });

  it('loads the channels, the webhook secret and the heartbeat URLs into the alert settings', () => {
    const config = loadConfig({
      ALERT_URLS: `discord://${DISCORD}`,
      ALERT_WEBHOOK_SECRET: 'hmac-key',
      HEARTBEAT_URL: 'https://hc-ping.com/0c4b1a3e-1111-2222-3333-444455556666',
      BACKUP_HEARTBEAT_URL: 'https://hc-ping.com/aaaa',
    });
    assert.equal(config.alerts.channels[0]?.channel, 'discord');
    assert.equal(config.alerts.webhookSecret?.reveal(), 'hmac-key');
    assert.equal(config.alerts.heartbeatUrl?.reveal(), 'https://hc-ping.com/0c4b1a3e-1111-2222-3333-444455556666');
    assert.equal(config.alerts.backupHeartbeatUrl?.reveal(), 'https://hc-ping.com/aaaa');
  });

  it('refuses a heartbeat URL that is not http(s) without showing its path', () => {
    const error = problemsOf({ HEARTBEAT_URL: 'hc-ping.com/secret-uuid', BACKUP_HEARTBEAT_URL: 'ftp://host/secret-uuid' });
    assert.deepEqual(error.problems.map((p) => p.variable), ['HEARTBEAT_URL', 'BACKUP_HEARTBEAT_URL']);
    assert.doesNotMatch(error.message, /secret-uuid/);
    // fetch cannot send a URL holding user:password: refused at start rather than failing every ping.
    const withUser = problemsOf({ HEARTBEAT_URL: 'https://user:pa55word@kuma.example.com/api/push/secret-token' });
    assert.match(withUser.message, /HEARTBEAT_URL: expected an http\(s\) ping URL without user:password/);
    assert.doesNotMatch(withUser.message, /pa55word|secret-token/);
  });
});

describe('secrets of the new URL variables in malformed values', () => {
  it('no malformed shape of ALERT_URLS, HEARTBEAT_URL or BACKUP_HEARTBEAT_URL shows its password or token', () => {
    const shapes = [
      ...MALFORMED_SHAPES,
      ...MALFORMED_SHAPES.map((shape) => shape.replace(/^\s*postgres(ql)?:/, 'discord:')),
      ...MALFORMED_SHAPES.map((shape) => shape.replace(/^\s*postgres(ql)?:/, 'webhook+https:')),
      ...MALFORMED_SHAPES.map((shape) => shape.replace(/^\s*postgres(ql)?:/, 'https:')),
      `tgram://123:${MARKER}`,
      `ntfy://u:${MARKER}@h/bad topic`,
      `teams+http://h/${MARKER}`,
    ];
    for (const shape of shapes) {
      for (const variable of ['ALERT_URLS', 'HEARTBEAT_URL', 'BACKUP_HEARTBEAT_URL']) {
        let shown = '';
        try {
          loadConfig({ [variable]: shape });
          continue;
        } catch (error) {
          shown = error instanceof Error ? error.message : String(error);
        }
        assert.ok(!shown.includes(MARKER), `${variable}=${JSON.stringify(shape)} shows the secret: ${shown}`);
      }
    }
  });
});
