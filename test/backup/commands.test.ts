import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { backupCommand } from '../../src/commands/backup.ts';
import type { CommandContext } from '../../src/commands/command.ts';
import { listCommand } from '../../src/commands/list.ts';
import { serveCommand } from '../../src/commands/serve.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { startSentinel } from '../../src/main.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { createSampleData } from './fixtures.ts';
import { captureLogs, captureStream } from '../helpers/log-sink.ts';

function context(env: Record<string, string>) {
  const out = captureStream();
  const err = captureStream();
  const log = captureLogs();
  const controller = new AbortController();
  const ctx: CommandContext = { config: loadConfig(env), logger: log.logger, stdout: out.stream, stderr: err.stream, stopSignal: controller.signal };
  return { ctx, out: out.text, err: err.text, log: log.text, stop: () => controller.abort() };
}

describe('the backup, list and serve commands', () => {
  let pg: PgCluster;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    pg = await startPgCluster();
    await pg.createDatabase('app');
    await createSampleData(pg, 'app', 500);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cmd-'));
    env = { BACKUP_DATABASE_URL: pg.url('app'), BACKUP_DIR: dir, BACKUP_FILE_PREFIX: 'app_', LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await pg?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('backup takes one backup, says where and how big, and exits 0', async () => {
    const c = context(env);
    assert.equal(await backupCommand.run([], c.ctx), 0, c.err());
    assert.match(c.out(), /^Backup stored: app_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.sql\.gz in dir:/);
    assert.match(c.out(), /KiB \(.* before compression\), .* s, 1 part, sha256 [0-9a-f]{64}/);
  });

  it('backup exits 1 with the reason when the backup fails', async () => {
    const c = context({ ...env, BACKUP_DATABASE_URL: pg.url('app', 'postgres', 'wrong') });
    assert.equal(await backupCommand.run([], c.ctx), 1);
    assert.match(c.out(), /Backup failed at stage "dump"/);
    assert.match(c.err(), /password authentication failed[\s\S]*What to do:/);
  });

  it('backup exits 78 and says what to set when there is no database to back up', async () => {
    const c = context({ BACKUP_DIR: dir });
    assert.equal(await backupCommand.run([], c.ctx), 78);
    assert.match(c.err(), /BACKUP_DATABASE_URL is not set/);
  });

  it('serve in SINGLE_SHOT_MODE takes one backup and returns its exit code', async () => {
    const ok = context({ ...env, SINGLE_SHOT_MODE: 'true' });
    assert.equal(await serveCommand.run([], ok.ctx), 0, ok.err());
    const bad = context({ ...env, SINGLE_SHOT_MODE: 'true', BACKUP_DATABASE_URL: pg.url('missing') });
    assert.equal(await serveCommand.run([], bad.ctx), 1);
  });

  it('backup encrypts with age when recipients are configured, and age -d reads it', async () => {
    const keyFile = path.join(dir, 'age-key.txt');
    await execa('age-keygen', ['-o', keyFile]);
    const recipient = (await execa('age-keygen', ['-y', keyFile])).stdout.trim();
    const sub = path.join(dir, 'encrypted');
    const c = context({ ...env, BACKUP_DIR: sub, BACKUP_ENCRYPTION_RECIPIENTS: recipient });
    assert.equal(await backupCommand.run([], c.ctx), 0, c.err());
    const name = (await fs.readdir(sub)).find((f) => f.endsWith('.sql.gz.age'));
    assert.ok(name, 'an .age object');
    const manifest = JSON.parse(await fs.readFile(path.join(sub, `${name}.manifest.json`), 'utf8')) as { encryption: string };
    assert.equal(manifest.encryption, 'age');
    const plain = await execa('bash', ['-c', `age -d -i ${keyFile} ${JSON.stringify(path.join(sub, name))} | gunzip`]);
    assert.match(plain.stdout, /CREATE TABLE public\.customers/);
  });

  it('list shows the backups newest first with size and age, without manifests', async () => {
    const c = context(env);
    assert.equal(await listCommand.run([], c.ctx), 0);
    const lines = c.out().trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^2 backups in dir:.* \(prefix "app_"\), .* in total:$/);
    assert.match(lines[1] ?? '', /^KEY\s+SIZE\s+AGE\s+TIME \(UTC\)$/);
    assert.equal(lines.length, 4);
    for (const line of lines.slice(2)) assert.match(line, /^app_\S+\.sql\.gz\s+[\d.]+ KiB\s+[\d.]+ s ago\s+\d{4}-/);
    assert.ok(!c.out().includes('manifest'));
    const json = context(env);
    assert.equal(await listCommand.run(['--json'], json.ctx), 0);
    const items = JSON.parse(json.out()) as { key: string; size: number }[];
    assert.equal(items.length, 2);
    assert.ok((items[0]?.key ?? '') >= (items[1]?.key ?? ''), 'newest first');
  });

  it('list says so when there are no backups', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'cmd-empty-'));
    try {
      const c = context({ BACKUP_DIR: empty });
      assert.equal(await listCommand.run([], c.ctx), 0);
      assert.match(c.out(), /^No backups in dir:/);
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });

  it('the service backs up at start, serves /livez and /status, and stops cleanly', async () => {
    const sub = path.join(dir, 'service');
    const log = captureLogs();
    const sentinel = await startSentinel({ config: loadConfig({ ...env, BACKUP_DIR: sub, RUN_ON_STARTUP: 'true' }), logger: log.logger, host: '127.0.0.1', port: 0 });
    try {
      const finished = await new Promise((resolve) => sentinel.backupService?.onRunFinished(resolve));
      assert.equal((finished as { status: string }).status, 'success');
      const base = `http://127.0.0.1:${sentinel.port}`;
      assert.equal((await fetch(`${base}/livez`)).status, 200);
      const status = (await (await fetch(`${base}/status`)).json()) as { backup: { enabled: boolean; nextRunAt: string; lastResult: { status: string; key: string } } };
      assert.equal(status.backup.enabled, true);
      assert.equal(status.backup.lastResult.status, 'success');
      assert.match(status.backup.nextRunAt, /T03:00:00\.000Z$/);
      assert.ok(!JSON.stringify(status).includes(pg.password));
    } finally {
      await sentinel.stop();
    }
    assert.equal(sentinel.server.listening, false);
  });

  it('the service without BACKUP_DATABASE_URL takes no backups and says so at start', async () => {
    const log = captureLogs();
    const sentinel = await startSentinel({ config: loadConfig({ BACKUP_DIR: dir }), logger: log.logger, host: '127.0.0.1', port: 0 });
    try {
      assert.equal(sentinel.backupService, undefined);
      assert.match(log.text(), /monitor-only mode: BACKUP_DATABASE_URL is not set, so this service takes no backups/);
      const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as { backup: { enabled: boolean } };
      assert.equal(status.backup.enabled, false);
    } finally {
      await sentinel.stop();
    }
  });
});
