import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The composed service in monitor-only mode over an empty directory (so `stale` fires at start), with a
// Slack webhook that is gone (the stand-in answers 404 "no_service" to an unknown path) and working e-mail.
describe('an alert channel that refuses every message', () => {
  let slack: TestSlackServer;
  let smtp: TestSmtpServer;
  let dir: string;
  before(async () => {
    [slack, smtp] = await Promise.all([startSlackServer(), startSmtpServer()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alert-channel-'));
  });
  after(async () => {
    await Promise.all([slack.close(), smtp.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('is an alert_channel finding in /health and metrics, and alerted through the other channel', async () => {
    const config = loadConfig({
      BACKUP_DIR: path.join(dir, 'backups'),
      STATE_DIR: path.join(dir, 'state'),
      SLACK_WEBHOOK_URL: `${slack.url}-revoked`,
      SMTP_HOST: smtp.host,
      SMTP_PORT: String(smtp.port),
      ALERT_EMAIL_FROM: 'sentinel@example.test',
      ALERT_EMAIL_TO: 'oncall@example.test',
      SENTINEL_NAME: 'vlvt-backups',
      LOG_LEVEL: 'silent',
    });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    try {
      await waitFor(() => smtp.mails.length >= 2, 'the stale alert and the alert about Slack', { timeoutMs: 20_000 });
      assert.match(smtp.mails[1]?.subject ?? '', /^\[FIRING\] vlvt-backups: slack refuses alerts: Slack webhook on 127\.0\.0\.1:\d+ answered HTTP 404 "no_service"$/);
      const health = (await (await fetch(`http://127.0.0.1:${sentinel.port}/health`)).json()) as { checks: Record<string, { status: string; output?: string }[]> };
      assert.equal(health.checks['backup:alert_channel']?.[0]?.status, 'warn');
      assert.match(health.checks['backup:alert_channel']?.[0]?.output ?? '', /slack refuses alerts/);
      const metrics = await (await fetch(`http://127.0.0.1:${sentinel.port}/metrics`)).text();
      assert.match(metrics, /^backup_sentinel_finding_active\{check="alert_channel"\} 1$/m);
      const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as { alerts: { undelivered: Record<string, number> } };
      assert.deepEqual(status.alerts.undelivered, { slack: 2, email: 0 });
      const everything = JSON.stringify({ health, metrics, status });
      assert.ok(!everything.includes(slack.token), 'the webhook token is not shown');
    } finally {
      await sentinel.stop();
    }
  });
});
