import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertService } from '../../src/alerts/create-alert-service.ts';
import { EmailNotifier } from '../../src/alerts/email.ts';
import { LocalFileAlertState, MirroredAlertState } from '../../src/alerts/local-state.ts';
import type { Notifier } from '../../src/alerts/notifier.ts';
import { SlackNotifier } from '../../src/alerts/slack.ts';
import { alertStateKey, BackupStoreAlertState, type PersistedAlertState } from '../../src/alerts/state-store.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { Secret } from '../../src/config/secret.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { at, finding, makeService, MONITOR_CHECKS, staleFinding } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';

describe('alert delivery under faults: nothing lost, nothing doubled', () => {
  let slack: TestSlackServer;
  let smtp: TestSmtpServer;
  let s3: TestS3Server;
  let dir: string;
  before(async () => {
    [slack, smtp, s3] = await Promise.all([startSlackServer(), startSmtpServer(), startS3Server()]);
  });
  after(async () => {
    await Promise.all([slack.close(), smtp.close(), s3.close()]);
  });
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alert-faults-'));
    slack.payloads.length = 0;
    slack.accepted.length = 0;
    smtp.mails.length = 0;
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const slackNotifier = (): Notifier => new SlackNotifier(new Secret(slack.url), { timeoutMs: 10_000 });
  const emailNotifier = (): Notifier => new EmailNotifier(smtp.settings());
  const slackTexts = (): string[] => slack.accepted.map((p) => (p as { text: string }).text);
  const subjects = (): string[] => smtp.mails.map((m) => m.subject ?? '');

  it('a send cut off by shutdown is pending, not refused, and goes out exactly once after the restart', async () => {
    const store = new DirStore(dir);
    const logs = captureLogs();
    const a = makeService({ store, notifiers: [slackNotifier()], logger: logs.logger });
    await a.service.start();
    slack.respondWith('hang');
    const pending = a.service.process([staleFinding], at(0), MONITOR_CHECKS);
    await waitFor(() => slack.payloads.length === 1, 'the webhook request', { timeoutMs: 5_000, intervalMs: 10 });
    await a.service.stop();
    const cut = await pending;
    assert.deepEqual(cut.deliveries.map((d) => [d.channel, d.outcome]), [['slack', 'cancelled']]);
    assert.equal(cut.delivered, false);
    assert.ok(logs.records().some((r) => /stopped by shutdown; it stays pending and is sent after the restart/.test(String(r.msg))));

    const b = makeService({ store, notifiers: [slackNotifier()], logger: logs.logger });
    await b.service.start();
    assert.equal((await b.service.process([staleFinding], at(1), MONITOR_CHECKS)).delivered, true);
    assert.equal((await b.service.process([staleFinding], at(2), MONITOR_CHECKS)).notification, undefined);
    await b.service.stop();
    assert.deepEqual(slackTexts(), [':red_circle: [FIRING] vlvt-backups: no new backup for 27 h']);
  });

  it('a channel cut off by shutdown while the other delivered gets the message after the restart, the other not again', async () => {
    const store = new DirStore(dir);
    const logs = captureLogs();
    const a = makeService({ store, notifiers: [slackNotifier(), emailNotifier()], logger: logs.logger });
    await a.service.start();
    slack.respondWith('hang');
    const pending = a.service.process([staleFinding], at(0), MONITOR_CHECKS);
    await waitFor(() => slack.payloads.length === 1 && smtp.mails.length === 1, 'both channels', { timeoutMs: 5_000, intervalMs: 10 });
    await a.service.stop();
    assert.deepEqual((await pending).deliveries.map((d) => [d.channel, d.outcome]), [
      ['slack', 'cancelled'],
      ['email', 'sent'],
    ]);

    const b = makeService({ store, notifiers: [slackNotifier(), emailNotifier()], logger: logs.logger });
    await b.service.start();
    assert.deepEqual(b.service.pendingDeliveries(), { slack: 1, email: 0 });
    await b.service.process([staleFinding], at(1), MONITOR_CHECKS);
    await b.service.process([staleFinding], at(2), MONITOR_CHECKS);
    await b.service.stop();
    assert.deepEqual(slackTexts(), [':red_circle: [FIRING] vlvt-backups: no new backup for 27 h']);
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: no new backup for 27 h']);
  });

  it('Slack down for a while while e-mail works: Slack gets every notice exactly once when it recovers, e-mail once', async () => {
    const { service, sleeps } = makeService({ store: new DirStore(dir), notifiers: [slackNotifier(), emailNotifier()], logger: captureLogs().logger });
    await service.start();
    // Five tries in the first check, one try in the second (a channel that owes messages is probed once).
    slack.respondWith(...Array.from({ length: 6 }, () => ({ status: 500 })));
    assert.equal((await service.process([staleFinding], at(0), MONITOR_CHECKS)).delivered, true);
    assert.deepEqual(service.pendingDeliveries(), { slack: 1, email: 0 });
    const probe = await service.process([staleFinding], at(1), MONITOR_CHECKS);
    assert.deepEqual(probe.deliveries.map((d) => [d.channel, d.outcome, d.attempts]), [['slack', 'failed', 1]]);
    assert.deepEqual(sleeps, [2000, 4000, 8000, 16000]);
    assert.deepEqual(slackTexts(), []);
    await service.process([staleFinding], at(2), MONITOR_CHECKS);
    assert.deepEqual(service.pendingDeliveries(), { slack: 0, email: 0 });
    await service.process([], at(3), MONITOR_CHECKS);
    await service.process([], at(4), MONITOR_CHECKS);
    await service.stop();
    const expected = ['[FIRING] vlvt-backups: no new backup for 27 h', '[RESOLVED] vlvt-backups: backups are stale resolved after 3 h 0 min'];
    assert.deepEqual(slackTexts(), [`:red_circle: ${expected[0]}`, `:white_check_mark: ${expected[1]}`]);
    assert.match(JSON.stringify(slack.accepted[0]), /delayed: due 2026-11-27 03:00 UTC, when slack could not take it/);
    assert.doesNotMatch(JSON.stringify(slack.accepted[1]), /delayed/);
    assert.deepEqual(subjects(), expected);
  });

  it('start() can run again (an instance taking over): it reloads what another instance saved, even after stop()', async () => {
    const store = new DirStore(dir);
    const logs = captureLogs();
    const standby = makeService({ store, notifiers: [emailNotifier()], logger: logs.logger });
    await standby.service.start();
    const leader = makeService({ store, notifiers: [emailNotifier()], logger: logs.logger });
    await leader.service.start();
    await leader.service.process([staleFinding], at(0), MONITOR_CHECKS);
    await leader.service.stop();
    await standby.service.stop();
    assert.deepEqual(standby.service.firing(), []);
    await standby.service.start();
    assert.deepEqual(standby.service.firing().map((a) => a.check), ['stale']);
    assert.equal((await standby.service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await standby.service.process([], at(2), MONITOR_CHECKS)).notification?.kind, 'resolved');
    await standby.service.stop();
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: no new backup for 27 h', '[RESOLVED] vlvt-backups: backups are stale resolved after 2 h 0 min']);
  });

  it('a revoked webhook is an alert_channel finding, alerted by e-mail, and resolved once a fixed webhook takes the missed messages', async () => {
    const store = new DirStore(dir);
    const logs = captureLogs();
    const a = makeService({ store, notifiers: [slackNotifier(), emailNotifier()], logger: logs.logger });
    await a.service.start();
    slack.respondWith({ status: 404, body: 'no_service' });
    await a.service.process([staleFinding], at(0), MONITOR_CHECKS);
    const [channelFinding] = a.service.findings();
    assert.equal(channelFinding?.check, 'alert_channel');
    assert.match(channelFinding?.summary ?? '', /^slack refuses alerts: Slack webhook on 127\.0\.0\.1:\d+ answered HTTP 404 "no_service"$/);
    assert.match(channelFinding?.hint ?? '', /create a new incoming webhook/);
    assert.deepEqual(a.service.firing().map((f) => f.check).sort(), ['alert_channel', 'stale']);
    assert.equal(slack.payloads.length, 1, 'a refusing channel is not asked again in the same run');
    assert.deepEqual(subjects(), ['[FIRING] vlvt-backups: no new backup for 27 h', `[FIRING] vlvt-backups: ${channelFinding?.summary ?? ''}`]);
    await a.service.stop();
    assert.ok(!JSON.stringify(logs.records()).includes(slack.token), 'the webhook token never reaches the logs');

    // A restart with a working webhook (the fix): the missed messages go out, then the refusal resolves.
    const b = makeService({ store, notifiers: [slackNotifier(), emailNotifier()], logger: logs.logger });
    await b.service.start();
    assert.deepEqual(b.service.findings().map((f) => f.check), ['alert_channel'], 'the refusal survives the restart');
    await b.service.process([staleFinding], at(1), MONITOR_CHECKS);
    assert.deepEqual(b.service.findings(), []);
    assert.deepEqual(b.service.firing().map((f) => f.check), ['stale']);
    await b.service.process([staleFinding], at(2), MONITOR_CHECKS);
    await b.service.stop();
    const resolved = '[RESOLVED] vlvt-backups: alert channel refuses messages resolved after 1 h 0 min; 1 still firing';
    assert.deepEqual(subjects().slice(2), [resolved]);
    assert.deepEqual(
      slackTexts().map((t) => t.replace(/^:[a-z_]+: /, '')),
      [subjects()[0], subjects()[1], resolved],
      'Slack gets what it missed, in order, then the resolved notice, each once',
    );
  });

  it('a failing SMTP login (535) is an alert_channel finding sent through Slack', async () => {
    const guarded = await startSmtpServer({ auth: { user: 'alerts', password: 'right-password' } });
    try {
      const email = new EmailNotifier(guarded.settings({ password: new Secret('wrong-password') }));
      const { service } = makeService({ store: new DirStore(dir), notifiers: [slackNotifier(), email], logger: captureLogs().logger });
      await service.start();
      await service.process([staleFinding], at(0), MONITOR_CHECKS);
      assert.deepEqual(service.findings().map((f) => [f.check, f.values.channel]), [['alert_channel', 'email']]);
      assert.match(slackTexts()[1] ?? '', /\[FIRING\] vlvt-backups: email refuses alerts: SMTP server 127\.0\.0\.1:\d+ refused the login of alerts/);
      await service.stop();
    } finally {
      await guarded.close();
    }
  });

  it('a FIRING delivered while the state cannot be saved to storage (wrong credentials) still gets its RESOLVED after the restart', async () => {
    const stateDir = path.join(dir, 'state');
    const env = { ...s3.env, SLACK_WEBHOOK_URL: slack.url, STATE_DIR: stateDir, LOG_LEVEL: 'silent', BUCKET_SUBFOLDER: 'creds', SENTINEL_NAME: 'vlvt-backups' };
    const logs = captureLogs();
    const fast = { sleep: async () => undefined };
    const broken = loadConfig({ ...env, AWS_ACCESS_KEY_ID: 'REVOKED-KEY' });
    const a = createAlertService({ config: broken, store: createStore(broken), logger: logs.logger, registry: new Registry(), ...fast });
    await a.start();
    const unreachable = { ...finding('storage_unreachable'), summary: 'storage unreachable: InvalidAccessKeyId' };
    assert.equal((await a.process([unreachable], at(0), MONITOR_CHECKS)).delivered, true);
    await a.stop();
    const saveFailure = logs.records().find((r) => r.level === 40 && /could not save the alert state/.test(String(r.msg)));
    assert.match(String((saveFailure?.err as Record<string, unknown> | undefined)?.message), /InvalidAccessKeyId|access key/i, 'the error is under `err`');
    assert.equal(saveFailure?.error, undefined);

    const fixed = loadConfig(env);
    const store = createStore(fixed);
    const b = createAlertService({ config: fixed, store, logger: logs.logger, registry: new Registry(), ...fast });
    await b.start();
    assert.deepEqual(b.firing().map((f) => f.check), ['storage_unreachable']);
    assert.equal((await b.process([], at(1), MONITOR_CHECKS)).notification?.kind, 'resolved');
    await b.stop();
    assert.deepEqual(slackTexts(), [
      ':red_circle: [FIRING] vlvt-backups: storage unreachable: InvalidAccessKeyId',
      ':white_check_mark: [RESOLVED] vlvt-backups: backup storage unreachable resolved after 1 h 0 min',
    ]);
    // The stored copy caught up too: a replacement without the local copy would not resolve it again.
    const stored = await new BackupStoreAlertState(store, 'creds').load();
    assert.equal(stored.kind, 'loaded');
    assert.deepEqual(stored.kind === 'loaded' ? [Object.keys(stored.state.firing), stored.state.resolved] : [], [[], []]);
  });

  it('a local copy the storage took is set aside when the storage has no state: a storage at the same address alerts afresh', async () => {
    // The local copy is named by the storage's address. Here the same bucket loses its state (emptied or
    // recreated; in the test suite: another test's S3 server on a port an earlier one had): the local copy
    // must not bring back that other storage's alerts as firing and already sent.
    const stateDir = path.join(dir, 'state');
    const env = { ...s3.env, SLACK_WEBHOOK_URL: slack.url, STATE_DIR: stateDir, LOG_LEVEL: 'silent', BUCKET_SUBFOLDER: 'reused', SENTINEL_NAME: 'vlvt-backups' };
    const logs = captureLogs();
    const config = loadConfig(env);
    const store = createStore(config);
    const earlier = createAlertService({ config, store, logger: logs.logger, registry: new Registry() });
    await earlier.start();
    assert.equal((await earlier.process([staleFinding], at(0), MONITOR_CHECKS)).notification?.kind, 'firing');
    await earlier.stop();
    await store.delete([alertStateKey('reused')]);

    const later = createAlertService({ config, store, logger: logs.logger, registry: new Registry() });
    await later.start();
    assert.deepEqual(later.firing(), [], 'nothing firing: the storage has no alert state');
    assert.equal((await later.process([staleFinding], at(1), MONITOR_CHECKS)).notification?.kind, 'firing', 'the problem is alerted, not taken as already sent');
    await later.stop();
    assert.equal(slackTexts().filter((t) => /\[FIRING\]/.test(t)).length, 2);
    // Both copies are this storage's again: the next start loads them, with no warning.
    const next = createAlertService({ config, store, logger: logs.logger, registry: new Registry() });
    await next.start();
    assert.deepEqual(next.firing().map((f) => f.check), ['stale']);
    await next.stop();
    const warnings = logs.records().filter((r) => r.level === 40 && /no alert state stored: starting with nothing firing/.test(String(r.msg)));
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]?.msg), /the local copy .*alert-state-[0-9a-f]+\.json \(revision 1, saved .*\) was also stored, but the storage has no alert state now/);
  });

  it('a STATE_DIR that cannot be written is a warning naming it; alerts and the stored copy go on', async () => {
    const blocker = path.join(dir, 'not-a-directory');
    await fs.writeFile(blocker, 'x');
    const config = loadConfig({ BACKUP_DIR: path.join(dir, 'backups'), STATE_DIR: path.join(blocker, 'state'), SLACK_WEBHOOK_URL: slack.url, LOG_LEVEL: 'silent' });
    const logs = captureLogs();
    const store = createStore(config);
    const service = createAlertService({ config, store, logger: logs.logger, registry: new Registry() });
    await service.start();
    assert.equal((await service.process([staleFinding], at(0), MONITOR_CHECKS)).delivered, true);
    assert.equal((await service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
    await service.stop();
    const warnings = logs.records().filter((r) => r.level === 40 && /could not save the alert state/.test(String(r.msg)));
    assert.equal(warnings.length, 1, 'warned once, not at every check');
    assert.match(String(warnings[0]?.msg), /local copy .*could not be written \(.*\): check that STATE_DIR is a writable directory/);
    assert.ok(await store.head(alertStateKey('')), 'the stored copy was written');
  });

  it('a STATE_DIR that is a file stops the service at start, naming the variable', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'x');
    assert.throws(() => loadConfig({ BACKUP_DIR: dir, STATE_DIR: file }), /STATE_DIR.*a directory for the local copy of the alert state.*which is a file/s);
  });

  it('the newest copy wins: a stored state written later (another instance) beats an older local copy', async () => {
    const store = new DirStore(dir);
    const stored = new BackupStoreAlertState(store, '');
    const local = new LocalFileAlertState(path.join(dir, 'state'), stored.location);
    const older: PersistedAlertState = { version: 1, firing: {}, resolved: [], channels: {}, revision: 4, savedAt: at(0).toISOString() };
    const alert = { check: 'stale' as const, severity: 'fail' as const, summary: 'x', values: {}, startedAt: at(1).toISOString(), lastSeenAt: at(1).toISOString(), notifiedAt: at(1).toISOString(), notifiedSeverity: 'fail' as const };
    const newer: PersistedAlertState = { ...older, firing: { stale: alert }, revision: 5, savedAt: at(1).toISOString() };
    await local.save(older);
    await stored.save(newer);
    assert.deepEqual(await new MirroredAlertState(local, stored).load(), { kind: 'loaded', state: newer, stale: true });
    await local.save({ ...newer, revision: 6, firing: {}, savedAt: at(2).toISOString() });
    const reconciled = await new MirroredAlertState(local, stored).load();
    assert.deepEqual(reconciled.kind === 'loaded' ? [reconciled.state.revision, Object.keys(reconciled.state.firing)] : [], [6, []]);
  });

  it('an alert-state.json written before per-channel delivery existed loads: nothing re-sent, nothing forgotten', async () => {
    const store = new DirStore(dir);
    // Exactly what the previous version wrote after a FIRING went out.
    const previous = {
      version: 1,
      firing: {
        stale: {
          check: 'stale',
          severity: 'fail',
          summary: 'no new backup for 27 h',
          values: { ageHours: 27, limitHours: 25 },
          hint: 'look at the backup job',
          startedAt: at(0).toISOString(),
          lastSeenAt: at(0).toISOString(),
          notifiedAt: at(0).toISOString(),
          notifiedSeverity: 'fail',
        },
      },
      resolved: [],
      savedAt: at(0).toISOString(),
    };
    await store.put(alertStateKey(''), Readable.from([Buffer.from(JSON.stringify(previous, null, 2))]));
    const { service } = makeService({ store, notifiers: [slackNotifier(), emailNotifier()], logger: captureLogs().logger });
    await service.start();
    assert.deepEqual(service.pendingDeliveries(), { slack: 0, email: 0 });
    assert.equal((await service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
    assert.equal((await service.process([], at(2), MONITOR_CHECKS)).notification?.kind, 'resolved');
    await service.stop();
    assert.deepEqual(subjects(), ['[RESOLVED] vlvt-backups: backups are stale resolved after 2 h 0 min']);
    assert.equal(slackTexts().length, 1);
  });
});
