import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { buildEmailBody } from '../../src/alerts/email-body.ts';
import { formatMessage } from '../../src/alerts/format-message.ts';
import { buildSlackPayload } from '../../src/alerts/slack-payload.ts';
import { backupKey } from '../../src/core/naming.ts';
import { checkCommand } from '../../src/commands/check.ts';
import { listCommand } from '../../src/commands/list.ts';
import { pruneCommand } from '../../src/commands/prune.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { silentLogger } from '../../src/logger.ts';
import { MonitorRunner } from '../../src/monitor/runner.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { printableKey } from '../../src/util/printable-key.ts';
import { configFor, HOUR, MiB, putBackup, commandContext } from './fixtures.ts';

// Object keys are anyone's to name: another tool (or an attacker with write access to the bucket)
// can store a key with a newline, a carriage return, ESC sequences or Unicode separators. Real files
// with such names in a directory store; every place that shows them to a person must escape them.
const HOSTILE = 'db/backup-x\nOK: all clear\r\u001b[2J\u009b31m\u2028\u202eevil.sql.gz';
// Raw control characters that must never reach people's output (line feeds between lines are fine).
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202e]/;
const PARTS = { format: 'plain', compression: 'gzip', encrypted: false } as const;


// Every string in a JSON-like value (the texts Slack renders).
function textsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(textsOf);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(textsOf);
  return [];
}

function assertEscaped(text: string, where: string): void {
  assert.doesNotMatch(text, RAW, `${where} printed a raw control character:\n${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /^OK: all clear/m, `${where} let the key inject a line`);
}

describe('object keys with control characters', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'hostile-keys-'));
    env = { BACKUP_DIR: root, BUCKET_SUBFOLDER: 'db', RETENTION_DAYS: '7', MIN_BACKUPS_KEPT: '1', RETENTION_MODE: 'prune' };
    const store = new DirStore(root);
    const location = configFor(env).location;
    // A good backup of ours 50 days ago, then the hostile object (no time in its name: its mtime counts),
    // empty and 40 h old, so it is the newest and makes stale and empty fire.
    const old = new Date(Date.now() - 50 * 24 * HOUR);
    await putBackup(store, undefined, backupKey(location, old, PARTS), 2 * MiB, old);
    await putBackup(store, undefined, HOSTILE, 0, new Date(Date.now() - 40 * HOUR));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('list prints the key escaped, and --json keeps it exact', async () => {
    const { ctx, out } = commandContext(env);
    assert.equal(await listCommand.run([], ctx), 0);
    assertEscaped(out(), 'list');
    assert.ok(out().includes(printableKey(HOSTILE)), out());
    const json = commandContext(env);
    assert.equal(await listCommand.run(['--json'], json.ctx), 0);
    assertEscaped(json.out(), 'list --json');
    const keys = (JSON.parse(json.out()) as { key: string }[]).map((b) => b.key);
    assert.ok(keys.includes(HOSTILE), 'the JSON carries the exact key');
  });

  it('check prints findings naming the key escaped, in text and JSON', async () => {
    const { ctx, out } = commandContext(env);
    assert.equal(await checkCommand.run([], ctx), 2);
    assertEscaped(out(), 'check');
    assert.match(out(), /^FAIL stale: .*db\/backup-x\\nOK: all clear\\r\\x1b\[2J\\x9b31m\\u2028\\u202eevil\.sql\.gz$/m);
    assert.match(out(), /^FAIL empty: /m);
    const json = commandContext(env);
    await checkCommand.run(['--json'], json.ctx);
    assertEscaped(json.out(), 'check --json');
    assert.equal((JSON.parse(json.out()) as { backups: { newest: { key: string } } }).backups.newest.key, HOSTILE);
  });

  it('prune names the key escaped', async () => {
    const { ctx, out, err } = commandContext(env);
    await pruneCommand.run(['--dry-run'], ctx);
    assertEscaped(out() + err(), 'prune');
    assert.ok((out() + err()).includes(printableKey(HOSTILE)), out() + err());
  });

  it('verify names the key escaped in its problems', async () => {
    for (const key of [HOSTILE, `${HOSTILE}.missing`]) {
      const { ctx, out, err } = commandContext(env);
      assert.equal(await verifyCommand.run(['--key', key], ctx), 1);
      assertEscaped(out() + err(), `verify ${JSON.stringify(key)}`);
      assert.ok(err().includes(printableKey(key)), err());
    }
  });

  it('alerts (Slack and e-mail), /health and /status show it escaped', async () => {
    const config = configFor(env);
    const runner = new MonitorRunner({ store: new DirStore(root), location: config.location, settings: config.monitor, logger: silentLogger() });
    const result = await runner.runCheck();
    assert.deepEqual(result.findings.map((f) => f.check).sort(), ['empty', 'stale']);
    const message = formatMessage(
      {
        kind: 'firing',
        at: result.at,
        started: result.findings.map((f) => ({ ...f, since: result.at, escalated: false })),
        resolved: [],
        stillFiring: [],
      },
      { name: 'test', where: runner.snapshot().where, runbookUrl: 'https://example.test/runbook' },
    );
    const email = buildEmailBody(message);
    assertEscaped(message.subject, 'alert subject');
    assertEscaped(email.text, 'e-mail text');
    assertEscaped(email.html, 'e-mail html');
    assertEscaped(textsOf(buildSlackPayload(message)).join('\n'), 'Slack payload');
    assert.ok(email.text.includes(printableKey(HOSTILE)), email.text);

    const app = createHttpApp({ health: () => runner.healthState(), ready: () => runner.readyState(), status: () => runner.status(), version: 't' });
    const server: Server = app.listen(0, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const endpoint of ['/health', '/status']) {
        const text = await (await fetch(`${base}${endpoint}`)).text();
        assertEscaped(text, endpoint);
        assert.ok(text.includes('OK: all clear'), `${endpoint} shows the key`);
      }
      const status = (await (await fetch(`${base}/status`)).json()) as { backups: { newest: { key: string } } };
      assert.equal(status.backups.newest.key, HOSTILE, '/status keeps the exact key in its data');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
