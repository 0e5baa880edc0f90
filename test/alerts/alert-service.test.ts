import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { AlertService } from '../../src/alerts/alert-service.ts';
import { EmailNotifier } from '../../src/alerts/email.ts';
import { SlackNotifier } from '../../src/alerts/slack.ts';
import { alertStateKey, BackupStoreAlertState } from '../../src/alerts/state-store.ts';
import { Secret } from '../../src/config/secret.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { at, MONITOR_CHECKS, finding, makeService, notificationCounts, staleFinding } from './fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

interface Fixture {
  slack: TestSlackServer;
  smtp: TestSmtpServer;
  dir: string;
  channels: () => [SlackNotifier, EmailNotifier];
  texts: () => string[];
  subjects: () => (string | undefined)[];
}

// Each test has Slack and SMTP servers and a directory of its own, closed when it ends, so the tests run
// at the same time: most of their time is waiting (smtp-server's 100 ms before it greets each
// connection, a webhook's timeout), and the file then takes about as long as its longest test.
async function fixture(t: TestContext): Promise<Fixture> {
  const [slack, smtp, dir] = await Promise.all([startSlackServer(), startSmtpServer(), fs.mkdtemp(path.join(os.tmpdir(), 'alerts-'))]);
  t.after(() => Promise.all([slack.close(), smtp.close(), fs.rm(dir, { recursive: true, force: true })]));
  return {
    slack,
    smtp,
    dir,
    channels: () => [new SlackNotifier(new Secret(slack.url), { timeoutMs: 2000 }), new EmailNotifier(smtp.settings())],
    texts: () => slack.payloads.map((p) => (p as { text: string }).text),
    subjects: () => smtp.mails.map((m) => m.subject),
  };
}

describe('alert service with Slack and e-mail', { concurrency: true }, () => {

  it('firing, a reminder and resolved reach both channels as the injected clock moves', async (t) => {
    const { dir, channels, texts, subjects } = await fixture(t);
    const logs = captureLogs();
    const { service, registry } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: logs.logger });
    await service.start();
    const first = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.equal(first.notification?.kind, 'firing');
    assert.equal(first.delivered, true);
    assert.equal((await service.process([{ ...staleFinding, summary: 'no new backup for 28 h' }], at(1), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await service.process([staleFinding], at(23.9), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await service.process([staleFinding], at(24), MONITOR_CHECKS)).notification?.kind, 'reminder');
    assert.equal((await service.process([], at(30), MONITOR_CHECKS)).notification?.kind, 'resolved');
    assert.equal((await service.process([], at(31), MONITOR_CHECKS)).notification, undefined);
    const expected = [
      '[FIRING] vlvt-backups: no new backup for 27 h',
      '[STILL FIRING] vlvt-backups: no new backup for 27 h (firing for 24 h 0 min)',
      '[RESOLVED] vlvt-backups: backups are stale resolved after 30 h 0 min',
    ];
    assert.deepEqual(subjects(), expected);
    assert.deepEqual(texts(), [`:red_circle: ${expected[0]}`, `:red_circle: ${expected[1]}`, `:white_check_mark: ${expected[2]}`]);
    assert.deepEqual(await notificationCounts(registry), { 'slack sent': 3, 'email sent': 3 });
    await service.stop();
  });

  it('a restart in the middle neither re-sends nor forgets what is firing', async (t) => {
    const { slack, dir, channels, subjects } = await fixture(t);
    const store = new DirStore(dir);
    const logs = captureLogs();
    const a = makeService({ store, subfolder: 'db', notifiers: channels(), logger: logs.logger });
    await a.service.start();
    await a.service.process([staleFinding, finding('empty', 'warn')], at(0), MONITOR_CHECKS);
    await a.service.stop();
    assert.ok(await store.head(alertStateKey('db')), 'state stored under db/.backup-sentinel/');

    const b = makeService({ store, subfolder: 'db', notifiers: channels(), logger: logs.logger });
    await b.service.start();
    assert.deepEqual(b.service.firing().map((f) => [f.check, f.startedAt]), [
      ['stale', at(0).toISOString()],
      ['empty', at(0).toISOString()],
    ]);
    assert.equal((await b.service.process([staleFinding, finding('empty', 'warn')], at(2), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await b.service.process([staleFinding], at(3), MONITOR_CHECKS)).notification?.kind, 'resolved');
    await b.service.stop();

    const c = makeService({ store, subfolder: 'db', notifiers: channels(), logger: logs.logger });
    await c.service.start();
    // The resolved message at 3 h listed stale as still firing, so its reminder is due 24 h after that.
    assert.equal((await c.service.process([staleFinding], at(26.9), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await c.service.process([staleFinding], at(27), MONITOR_CHECKS)).notification?.kind, 'reminder');
    await c.service.stop();
    assert.equal(slack.payloads.length, 3);
    assert.deepEqual(subjects(), [
      '[FIRING] vlvt-backups: no new backup for 27 h (+1 more)',
      '[RESOLVED] vlvt-backups: newest backup is empty resolved after 3 h 0 min; 1 still firing',
      '[STILL FIRING] vlvt-backups: no new backup for 27 h (firing for 27 h 0 min)',
    ]);
  });

  it('one channel failing does not stop the other, and the alert is not sent twice', async (t) => {
    const { slack, smtp, dir, channels, texts } = await fixture(t);
    const logs = captureLogs();
    const { service, registry, sleeps } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: logs.logger });
    await service.start();
    slack.respondWith(...Array.from({ length: 5 }, () => ({ status: 500 })));
    const result = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.deepEqual(result.deliveries.map((d) => [d.channel, d.outcome, d.attempts]), [
      ['slack', 'failed', 5],
      ['email', 'sent', 1],
    ]);
    assert.equal(result.delivered, true);
    assert.deepEqual(sleeps, [2000, 4000, 8000, 16000]);
    assert.equal(smtp.mails.length, 1);
    assert.deepEqual(await notificationCounts(registry), { 'slack failed': 1, 'email sent': 1 });
    // Slack owes the message and gets it at the next check; e-mail does not get it again.
    assert.equal((await service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
    assert.deepEqual(await notificationCounts(registry), { 'slack failed': 1, 'slack sent': 1, 'email sent': 1 });
    assert.deepEqual(texts().slice(-1), [':red_circle: [FIRING] vlvt-backups: no new backup for 27 h']);
    assert.equal(smtp.mails.length, 1);
    const failure = logs.records().find((r) => r.channel === 'slack' && r.level === 50);
    assert.match(String(failure?.msg), /alert NOT delivered through slack after 5 tries: Slack webhook on 127.0.0.1:\d+ answered HTTP 500/);
    // The error is logged under `err` by pino's serializer (type, message, stack), as everywhere.
    const err = failure?.err as Record<string, unknown> | undefined;
    assert.equal(err?.type, 'AlertDeliveryError');
    assert.match(String(err?.message), /answered HTTP 500/);
    assert.equal(failure?.error, undefined);
    const retry = logs.records().find((r) => r.channel === 'slack' && /retrying/.test(String(r.msg)));
    assert.equal((retry?.err as Record<string, unknown> | undefined)?.type, 'AlertDeliveryError');
    await service.stop();
  });

  it('a permanent Slack error is reported once and not retried; e-mail still goes out', async (t) => {
    const { slack, dir, channels, subjects } = await fixture(t);
    const logs = captureLogs();
    const { service, registry, sleeps } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: logs.logger });
    await service.start();
    slack.respondWith({ status: 404, body: 'no_service' });
    const result = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.deepEqual(result.deliveries.map((d) => [d.channel, d.outcome, d.attempts]), [
      ['slack', 'rejected', 1],
      ['email', 'sent', 1],
    ]);
    assert.deepEqual(sleeps, []);
    assert.equal(slack.payloads.length, 1);
    const failure = logs.records().find((r) => r.channel === 'slack' && r.level === 50);
    assert.match(String(failure?.msg), /refused it permanently \(not retried\): .*HTTP 404 "no_service"/);
    assert.match(String(failure?.hint), /create a new incoming webhook/);
    // The refusal itself is alerted through e-mail (an alert_channel finding).
    assert.deepEqual(await notificationCounts(registry), { 'slack rejected': 1, 'email sent': 2 });
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: no new backup for 27 h', `[FIRING] vlvt-backups: slack refuses alerts: ${result.deliveries[0]?.error?.shortMessage ?? ''}`]);
    await service.stop();
  });

  it('transient failures are retried with growing waits until the message goes through', async (t) => {
    const { slack, smtp, dir, channels } = await fixture(t);
    const { service, sleeps } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: captureLogs().logger });
    await service.start();
    slack.respondWith({ status: 500 }, { status: 503 }, { status: 429, body: 'rate_limited', headers: { 'retry-after': '3' } });
    smtp.failNextMessages(1, 451);
    const result = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.deepEqual(result.deliveries.map((d) => [d.channel, d.outcome, d.attempts]), [
      ['slack', 'sent', 4],
      ['email', 'sent', 2],
    ]);
    assert.deepEqual([...sleeps].sort((x, y) => x - y), [2000, 2000, 3000, 4000]);
    assert.equal(slack.payloads.length, 4);
    assert.equal(smtp.mails.length, 1);
    await service.stop();
  });

  it('a hanging webhook does not hold up the e-mail', async (t) => {
    const { slack, smtp, dir } = await fixture(t);
    const logs = captureLogs();
    const notifiers = [new SlackNotifier(new Secret(slack.url), { timeoutMs: 2500 }), new EmailNotifier(smtp.settings())];
    const { service } = makeService({ store: new DirStore(dir), notifiers, logger: logs.logger, retry: { attempts: 1 } });
    await service.start();
    slack.respondWith('hang');
    const started = Date.now();
    const pending = service.process([staleFinding], at(0), MONITOR_CHECKS);
    const slackGaveUp = () => logs.records().some((r) => r.channel === 'slack' && r.level === 50);
    await waitFor(() => smtp.mails.length > 0, 'the e-mail', { timeoutMs: 5_000, intervalMs: 10 });
    // Slack is still waiting for its answer when the e-mail is in: the e-mail did not wait for it. (A
    // state, not a time bound on the e-mail, which a loaded machine running the other tests delays.)
    assert.equal(slackGaveUp(), false, 'the e-mail went out only after Slack had given up');
    const result = await pending;
    const doneAfter = Date.now() - started;
    assert.ok(doneAfter >= 2400, `slack gave up after ${doneAfter} ms`);
    assert.ok(slackGaveUp());
    assert.match(result.deliveries[0]?.error?.shortMessage ?? '', /did not answer within 2.5 s/);
    await service.stop();
  });

  it('stopping the service cuts the wait between retries short', async (t) => {
    const { slack, dir } = await fixture(t);
    const logs = captureLogs();
    // The real sleep this time: 10 s before the second try, unless stop() comes first.
    const service = new AlertService({
      context: { name: 'vlvt-backups', where: 'here', runbookUrl: 'https://example.test/RUNBOOK.md' },
      repeatHours: 24,
      notifiers: [new SlackNotifier(new Secret(slack.url))],
      stateStore: new BackupStoreAlertState(new DirStore(dir), ''),
      logger: logs.logger,
      retry: { attempts: 5, baseDelayMs: 10_000 },
    });
    await service.start();
    slack.respondWith(...Array.from({ length: 5 }, () => ({ status: 500 })));
    const started = Date.now();
    const pending = service.process([staleFinding], at(0), MONITOR_CHECKS);
    await waitFor(() => slack.payloads.length > 0, 'the first webhook request', { intervalMs: 10 });
    await service.stop();
    const result = await pending;
    // Cut short, not the 10 s back-off waited out (the tests of this file run at once: a loose bound).
    assert.ok(Date.now() - started < 9000, `took ${Date.now() - started} ms`);
    assert.equal(result.delivered, false);
    assert.equal(slack.payloads.length, 1);
    assert.equal((await service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined, 'a stopped service sends nothing');
  });

  it('when no channel takes the alert, it is sent again at the next check', async (t) => {
    const { slack, smtp, dir, channels, subjects } = await fixture(t);
    const { service } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: captureLogs().logger, retry: { attempts: 2 } });
    await service.start();
    slack.respondWith({ status: 500 }, { status: 500 });
    smtp.failNextMessages(2, 421);
    const first = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.equal(first.delivered, false);
    const second = await service.process([staleFinding], at(1), MONITOR_CHECKS);
    assert.equal(second.notification?.kind, 'firing');
    assert.equal(second.delivered, true);
    assert.equal((await service.process([staleFinding], at(2), MONITOR_CHECKS)).notification, undefined);
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: no new backup for 27 h']);
  });

  it('a failed backup run notifies at once and the next check does not repeat it', async (t) => {
    const { dir, channels, subjects } = await fixture(t);
    const { service } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: captureLogs().logger });
    await service.start();
    const failed = { ...finding('backup_failed'), summary: 'backup failed at dump: pg_dump exited with code 1' };
    const result = await service.notifyBackupFailed(failed, at(0));
    assert.equal(result.notification?.kind, 'firing');
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: backup failed at dump: pg_dump exited with code 1']);
    assert.equal((await service.process([failed], at(0.01), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await service.process([], at(24), MONITOR_CHECKS)).notification?.kind, 'resolved');
    await service.stop();
  });

  it('a monitor run does not resolve what a verify run reported, nor the other way round', async (t) => {
    const { dir, channels, subjects } = await fixture(t);
    const { service } = makeService({ store: new DirStore(dir), notifiers: channels(), logger: captureLogs().logger });
    await service.start();
    const verify = ['verify_failed', 'drill_failed'] as const;
    await service.process([{ ...finding('verify_failed'), summary: 'restore of the newest backup failed' }], at(0), verify);
    assert.equal((await service.process([], at(1), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await service.process([staleFinding], at(2), MONITOR_CHECKS)).notification?.kind, 'firing');
    assert.equal((await service.process([], at(3), verify)).notification?.kind, 'resolved');
    assert.deepEqual(service.firing().map((a) => a.check), ['stale']);
    assert.deepEqual(subjects(), [
      '[FIRING] vlvt-backups: restore of the newest backup failed',
      '[FIRING] vlvt-backups: no new backup for 27 h',
      '[RESOLVED] vlvt-backups: backup verification failed resolved after 3 h 0 min; 1 still firing',
    ]);
    await service.stop();
  });

  it('corrupt stored state means a fresh start with a warning, never a crash', async (t) => {
    const { dir, channels } = await fixture(t);
    const store = new DirStore(dir);
    await store.put(alertStateKey(''), Readable.from([Buffer.from('{"version": 1, "firing": [tr')]));
    const logs = captureLogs();
    const { service } = makeService({ store, notifiers: channels(), logger: logs.logger });
    await service.start();
    assert.ok(logs.records().some((r) => r.level === 40 && /stored alert state is unreadable \(not JSON/.test(String(r.msg))));
    assert.equal((await service.process([staleFinding], at(0), MONITOR_CHECKS)).notification?.kind, 'firing');
    const saved = JSON.parse(await fs.readFile(path.join(dir, '.backup-sentinel', 'alert-state.json'), 'utf8')) as { firing: Record<string, unknown> };
    assert.deepEqual(Object.keys(saved.firing), ['stale']);
  });

  it('with no channel configured, alerts go to the logs and metrics and start-up says so', async (t) => {
    const { dir } = await fixture(t);
    const logs = captureLogs();
    const { service, registry } = makeService({ store: new DirStore(dir), notifiers: [], logger: logs.logger });
    await service.start();
    assert.ok(logs.records().some((r) => r.level === 40 && /no alert channel configured/.test(String(r.msg))));
    const result = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.equal(result.delivered, true);
    assert.ok(logs.records().some((r) => r.msg === 'alert: [FIRING] vlvt-backups: no new backup for 27 h' && r.kind === 'firing'));
    assert.deepEqual(await notificationCounts(registry), { 'log sent': 1 });
    assert.equal((await service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
  });
});
