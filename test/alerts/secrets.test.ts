import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertService } from '../../src/alerts/create-alert-service.ts';
import { alertTestCommand } from '../../src/commands/alert-test.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { freePort } from '../helpers/free-port.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { commandContext } from './command-context.ts';
import { at, MONITOR_CHECKS, staleFinding } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const PASSWORD = 'smtp-pa55-SECRET-x9';

describe('secrets in alert delivery', () => {
  let slack: TestSlackServer;
  let smtp: TestSmtpServer;
  let dir: string;
  before(async () => {
    [slack, smtp] = await Promise.all([startSlackServer(), startSmtpServer({ auth: { user: 'alerts', password: PASSWORD } })]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alert-secrets-'));
  });
  after(async () => {
    await Promise.all([slack.close(), smtp.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  it('neither the webhook URL nor the SMTP password reaches logs, metrics or command output, whatever fails', async () => {
    const logs = captureLogs('trace');
    const deadPort = await freePort();
    const deadWebhook = `http://127.0.0.1:${deadPort}/services/T9/B9/deadhookSECRET`;
    const env = (webhook: string, password: string) => ({
      BACKUP_DIR: dir,
      SLACK_WEBHOOK_URL: webhook,
      SMTP_URL: `smtp://alerts:${encodeURIComponent(password)}@127.0.0.1:${smtp.port}`,
      ALERT_EMAIL_TO: 'oncall@example.test',
      LOG_LEVEL: 'trace',
    });
    const registry = new Registry();

    // The service: delivered, then Slack echoing the URL in an error page, then a wrong password.
    const config = loadConfig(env(slack.url, PASSWORD));
    const service = createAlertService({ config, store: createStore(config), logger: logs.logger, registry, sleep: async () => {} });
    await service.start();
    await service.process([staleFinding], at(0), MONITOR_CHECKS);
    slack.respondWith(...Array.from({ length: 5 }, () => ({ status: 500, body: `<html>error for ${slack.url}</html>` })));
    await service.process([], at(1), MONITOR_CHECKS);
    await service.stop();

    // The command: a dead webhook, a hanging one, a refused login.
    const outputs: string[] = [];
    for (const [webhook, password] of [
      [deadWebhook, 'wrong-pa55-SECRET'],
      [slack.url, PASSWORD],
    ] as const) {
      const run = commandContext(env(webhook, password), logs.logger);
      await alertTestCommand.run([], run.ctx);
      outputs.push(run.stdout(), run.stderr());
    }

    const everything = [logs.text(), await registry.metrics(), ...outputs].join('\n');
    assert.ok(smtp.mails.length >= 2, 'mail went out, so the password was used');
    assert.ok(logs.records().some((r) => r.level === 50), 'failures were logged');
    for (const secret of [slack.token, 'deadhookSECRET', PASSWORD, 'wrong-pa55-SECRET', encodeURIComponent(PASSWORD)]) {
      assert.equal(everything.includes(secret), false, `"${secret}" appears in logs or output`);
    }
  });
});
