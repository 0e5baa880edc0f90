import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { EmailNotifier } from '../../src/alerts/email.ts';
import { emptyAlertState, evaluateAlerts, recordDelivery } from '../../src/alerts/policy.ts';
import { alertStateKey, BackupStoreAlertState, parseAlertState } from '../../src/alerts/state-store.ts';
import { isAuxiliaryKey } from '../../src/core/naming.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { createStore } from '../../src/storage/create-store.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.ts';
import { at, MONITOR_CHECKS, makeService, staleFinding } from './fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

describe('alert state in backup storage', () => {
  let s3: TestS3Server;
  let smtp: TestSmtpServer;
  let dir: string;
  before(async () => {
    [s3, smtp] = await Promise.all([startS3Server(), startSmtpServer()]);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'alert-state-'));
  });
  after(async () => {
    await Promise.all([s3.close(), smtp.close(), fs.rm(dir, { recursive: true, force: true })]);
  });

  const stores: { name: string; make: () => BackupStore }[] = [
    { name: 'an S3 bucket', make: () => createStore(loadConfig({ ...s3.env, LOG_LEVEL: 'silent' })) },
    { name: 'a directory', make: () => new DirStore(dir) },
  ];

  it('the state key is in the reserved folder, beside the backups, never taken for a backup', () => {
    assert.equal(alertStateKey(''), '.backup-sentinel/alert-state.json');
    assert.equal(alertStateKey('prod/db'), 'prod/db/.backup-sentinel/alert-state.json');
    assert.equal(isAuxiliaryKey(alertStateKey('prod/db')), true);
  });

  for (const { name, make } of stores) {
    it(`round-trips through ${name}, and a missing object reads as missing`, async () => {
      const stateStore = new BackupStoreAlertState(make(), `roundtrip-${name.length}`);
      assert.deepEqual(await stateStore.load(), { kind: 'missing' });
      const { notification, next } = evaluateAlerts(emptyAlertState(), [staleFinding], at(0), { repeatHours: 24 });
      const state = { ...recordDelivery(next, notification!), channels: {}, revision: 3, savedAt: at(0).toISOString() };
      await stateStore.save(state);
      assert.deepEqual(await stateStore.load(), { kind: 'loaded', state });
    });

    it(`a new service instance on ${name} keeps what the previous one sent`, async () => {
      const store = make();
      const logs = captureLogs();
      const subfolder = `restart-${name.length}`;
      const a = makeService({ store, subfolder, notifiers: [new EmailNotifier(smtp.settings())], logger: logs.logger });
      await a.service.start();
      const before = smtp.mails.length;
      await a.service.process([staleFinding], at(0), MONITOR_CHECKS);
      await a.service.stop();
      const b = makeService({ store, subfolder, notifiers: [new EmailNotifier(smtp.settings())], logger: logs.logger });
      await b.service.start();
      assert.equal((await b.service.process([staleFinding], at(1), MONITOR_CHECKS)).notification, undefined);
      assert.equal((await b.service.process([], at(5), MONITOR_CHECKS)).notification?.kind, 'resolved');
      assert.deepEqual(
        smtp.mails.slice(before).map((m) => m.subject),
        ['[FIRING] vlvt-backups: no new backup for 27 h', '[RESOLVED] vlvt-backups: backups are stale resolved after 5 h 0 min'],
      );
    });
  }

  it('a state that cannot be read or written does not stop alerts', async () => {
    const store = createStore(loadConfig({ ...s3.env, AWS_S3_BUCKET: 'no-such-bucket' }));
    const logs = captureLogs();
    const { service } = makeService({ store, notifiers: [new EmailNotifier(smtp.settings())], logger: logs.logger });
    await service.start();
    const result = await service.process([staleFinding], at(0), MONITOR_CHECKS);
    assert.equal(result.delivered, true);
    const warnings = logs.records().filter((r) => r.level === 40).map((r) => String(r.msg));
    assert.ok(warnings.some((m) => /could not read the alert state .*starting fresh/.test(m)), warnings.join('\n'));
    assert.ok(warnings.some((m) => /could not save the alert state/.test(m)), warnings.join('\n'));
  });

  const bad: { title: string; text: string; reason: RegExp }[] = [
    { title: 'text that is not JSON', text: '{"version": 1, "fir', reason: /not JSON/ },
    { title: 'another version', text: '{"version": 2, "firing": {}, "resolved": []}', reason: /version/ },
    { title: 'a missing resolved list', text: '{"version": 1, "firing": {}}', reason: /missing/ },
    { title: 'a firing entry without a start time', text: '{"version": 1, "firing": {"stale": {"check": "stale", "severity": "fail", "summary": "x", "values": {}, "lastSeenAt": "2026-01-01T00:00:00Z"}}, "resolved": []}', reason: /firing.stale is malformed/ },
    { title: 'a bad severity', text: '{"version": 1, "firing": {"stale": {"check": "stale", "severity": "boom", "summary": "x", "values": {}, "startedAt": "2026-01-01T00:00:00Z", "lastSeenAt": "2026-01-01T00:00:00Z"}}, "resolved": []}', reason: /malformed/ },
  ];
  for (const c of bad) {
    it(`stored state with ${c.title} reads as corrupt`, () => {
      const result = parseAlertState(c.text);
      assert.equal(result.kind, 'corrupt');
      assert.match(result.kind === 'corrupt' ? result.reason : '', c.reason);
    });
  }

  it('entries of checks this version does not know are dropped, the rest kept', () => {
    const alert = { severity: 'fail', summary: 'x', values: { a: 1 }, startedAt: '2026-01-01T00:00:00.000Z', lastSeenAt: '2026-01-01T00:00:00.000Z' };
    const result = parseAlertState(JSON.stringify({ version: 1, firing: { stale: { ...alert, check: 'stale' }, future_check: { ...alert, check: 'future_check' } }, resolved: [] }));
    assert.equal(result.kind, 'loaded');
    assert.deepEqual(Object.keys(result.kind === 'loaded' ? result.state.firing : {}), ['stale']);
  });

  it('a huge state object reads as corrupt instead of filling memory', async () => {
    const store = new DirStore(dir);
    await store.put(alertStateKey('huge'), Readable.from([Buffer.alloc(2 * 1024 * 1024, 32)]));
    const result = await new BackupStoreAlertState(store, 'huge').load();
    assert.equal(result.kind, 'corrupt');
  });
});
