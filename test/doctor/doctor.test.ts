import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { keyPrefix } from '../../src/core/naming.ts';
import { runStartupChecks } from '../../src/doctor/run-doctor.ts';
import { createStore } from '../../src/storage/create-store.ts';
import { startFaultHttpProxy, type FaultHttpProxy } from '../helpers/fault-http-proxy.ts';
import { startHttpReceiver } from '../helpers/http-receiver.ts';
import { startLifecycleProxy } from '../helpers/lifecycle-proxy.ts';
import { captureLogs, captureStream } from '../helpers/log-sink.ts';
import { sharedPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startSlackServer, type TestSlackServer } from '../helpers/slack-server.ts';

const DB = 'doctor_app';
const LIMITED_USER = 'doctor_limited';
const LIMITED_PASSWORD = 'lim1ted-Pw-7c3e9a';

async function doctor(env: Record<string, string>, args: string[] = []): Promise<{ code: number; out: string; err: string }> {
  const stdout = captureStream();
  const stderr = captureStream();
  const code = await runCli(['doctor', ...args], { LOG_LEVEL: 'silent', HOST: '127.0.0.1', ...env }, { stdout: stdout.stream, stderr: stderr.stream });
  return { code, out: stdout.text(), err: stderr.text() };
}

describe('backup-sentinel doctor', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  let faults: FaultHttpProxy;
  let slack: TestSlackServer;
  // Storage reached through the fault proxy (which forwards everything until told otherwise).
  let storageEnv: Record<string, string>;

  before(async () => {
    [pg, s3, slack] = await Promise.all([sharedPgCluster(), startS3Server(), startSlackServer()]);
    faults = await startFaultHttpProxy(s3.port);
    storageEnv = { ...s3.env, AWS_S3_ENDPOINT: faults.endpoint };
    await pg.createDatabase(DB);
    await pg.psql(
      `CREATE TABLE public.orders (id int primary key); CREATE TABLE public.payroll (id int primary key, salary int);
       CREATE ROLE ${LIMITED_USER} LOGIN PASSWORD '${LIMITED_PASSWORD}';
       GRANT SELECT ON public.orders TO ${LIMITED_USER};`,
      DB,
    );
  });
  after(async () => {
    faults.failWhen(undefined);
    await faults?.close();
    await s3?.close();
    await slack?.close();
  });

  it('passes every check and exits 0 against a working database, bucket and alert channel', async () => {
    const { code, out } = await doctor({ ...storageEnv, BACKUP_DATABASE_URL: pg.url(DB), SLACK_WEBHOOK_URL: slack.url });
    assert.equal(code, 0, out);
    assert.match(out, /\[ok  \] configuration: valid/);
    assert.match(out, new RegExp(`\\[ok  \\] database: connection: database "${DB}" .*PostgreSQL ${pg.majorVersion}`));
    assert.match(out, /\[ok  \] database: pg_dump: pg_dump \d+/);
    assert.match(out, /\[ok  \] database: read every table pg_dump reads/);
    assert.match(out, /\[ok  \] storage: write, read back, delete: .*wrote, read back and deleted .*\.backup-sentinel\/doctor-probe-/);
    assert.match(out, /\[ok  \] alerts: slack: configured .*run doctor --send/);
    assert.match(out, /Every check passed\./);
    assert.equal(slack.payloads.length, 0, 'nothing is sent without --send');
    const left = await createStore(loadConfig(s3.env)).list('');
    assert.deepEqual(left.map((o) => o.key), [], 'the probe object is deleted');
    assert.ok(!out.includes(pg.password) && !out.includes(slack.token), 'no secret in the output');
  });

  it('fails naming the table a role may not read and the GRANT that fixes it', async () => {
    const { code, out } = await doctor({ ...storageEnv, BACKUP_DATABASE_URL: pg.url(DB, LIMITED_USER, LIMITED_PASSWORD) });
    assert.equal(code, 1, out);
    assert.match(out, /\[ok  \] database: connection/);
    assert.match(out, /\[FAIL\] database: read every table pg_dump reads: user "doctor_limited" may not read 1 relation .*: public\.payroll/);
    assert.match(out, /What to do: .*GRANT SELECT ON "public"\."payroll" TO "doctor_limited";/);
    assert.doesNotMatch(out, /public\.orders/, 'a readable table is not named');
    assert.ok(!out.includes(LIMITED_PASSWORD), 'the password is not shown');
  });

  it('fails the storage check when uploads are refused (403 on PUT) although listing works', async () => {
    faults.failWhen(({ method }) => method === 'PUT', { status: 403, code: 'AccessDenied' });
    try {
      const config = loadConfig(storageEnv);
      await createStore(config).list(keyPrefix(config.location));
      const { code, out } = await doctor(storageEnv);
      assert.equal(code, 1, out);
      assert.match(out, /\[FAIL\] storage: write, read back, delete: cannot write a probe object to s3:\/\//);
      assert.match(out, /What to do: the credentials cannot write to this storage: .*Object Read & Write/);
      assert.match(out, /\[skip\] database: monitor-only/);
      assert.ok(faults.requests.some((r) => r.method === 'PUT' && r.failedWith === 403), 'the PUT reached the proxy and was refused');
    } finally {
      faults.failWhen(undefined);
    }
  });

  it('with MANAGE_LIFECYCLE=true, checks that the lifecycle rules can be read, and fails when they cannot', async () => {
    const lifecycle = await startLifecycleProxy(s3);
    try {
      const readable = await doctor({ ...lifecycle.env, MANAGE_LIFECYCLE: 'true' });
      assert.equal(readable.code, 0, readable.out);
      assert.match(readable.out, /\[ok  \] storage: lifecycle rules \(MANAGE_LIFECYCLE=true\): can read the bucket's lifecycle rules \(0 rules\)/);
      lifecycle.failWith({ status: 403, code: 'AccessDenied' });
      const refused = await doctor({ ...lifecycle.env, MANAGE_LIFECYCLE: 'true' });
      assert.equal(refused.code, 1, refused.out);
      assert.match(refused.out, /\[FAIL\] storage: lifecycle rules \(MANAGE_LIFECYCLE=true\): cannot read the bucket's lifecycle rules/);
      assert.match(refused.out, /What to do: MANAGE_LIFECYCLE=true needs a token allowed to read and write bucket lifecycle rules/);
      const without = await doctor(lifecycle.env);
      assert.doesNotMatch(without.out, /lifecycle rules/, 'not checked without MANAGE_LIFECYCLE');
    } finally {
      await lifecycle.close();
    }
  });

  it('delivers a test message through each channel with --send, and fails for a channel that refuses it', async () => {
    const sent = await doctor({ ...storageEnv, SLACK_WEBHOOK_URL: slack.url }, ['--send']);
    assert.equal(sent.code, 0, sent.out);
    assert.match(sent.out, /\[ok  \] alerts: slack: sent/);
    assert.equal(slack.accepted.length, 1);
    slack.respondWith({ status: 404, body: 'no_service' });
    const refused = await doctor({ ...storageEnv, SLACK_WEBHOOK_URL: slack.url }, ['--send']);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /\[FAIL\] alerts: slack: refused/);
    assert.ok(!refused.out.includes(slack.token), 'the webhook token is not shown');
  });

  it('pings HEARTBEAT_URL with --send (only lists it without), and fails when the heartbeat service is unreachable', async () => {
    const receiver = await startHttpReceiver();
    try {
      const env = { ...storageEnv, HEARTBEAT_URL: `${receiver.base}/ping/0b9c5e2a-doctor`, BACKUP_HEARTBEAT_URL: `${receiver.base}/ping/backup-doctor` };
      const listed = await doctor(env);
      assert.match(listed.out, /\[ok  \] heartbeat: configured \(healthchecks heartbeat on 127\.0\.0\.1:\d+\); not pinged/);
      assert.match(listed.out, /\[ok  \] backup heartbeat: configured/);
      assert.equal(receiver.requests.length, 0, 'nothing is pinged without --send');
      const pinged = await doctor(env, ['--send']);
      assert.match(pinged.out, /\[ok  \] heartbeat: pinged healthchecks heartbeat/);
      assert.deepEqual(receiver.requests.map((r) => r.url), ['/ping/0b9c5e2a-doctor'], 'one ping, and none to the backup heartbeat');
      await receiver.down();
      const down = await doctor(env, ['--send']);
      assert.equal(down.code, 1, down.out);
      assert.match(down.out, /\[FAIL\] heartbeat: ping to healthchecks heartbeat on 127\.0\.0\.1:\d+ failed: unreachable/);
      assert.ok(!down.out.includes('0b9c5e2a-doctor'), 'the ping URL (its credential) is not shown');
    } finally {
      await receiver.close();
    }
  });

  it('at the start of serve: logs a refused upload and an unreachable database as warnings and returns', async () => {
    faults.failWhen(({ method }) => method === 'PUT', { status: 403, code: 'AccessDenied' });
    try {
      const logs = captureLogs('info');
      const config = loadConfig({ ...storageEnv, BACKUP_DATABASE_URL: pg.url(DB, 'nobody_here', 'wrong-Pw-5521') });
      const checks = await runStartupChecks({ config, store: createStore(config), logger: logs.logger });
      assert.deepEqual(checks.map((c) => [c.name, c.status]), [['storage: write, read back, delete', 'fail'], ['database: connection', 'fail']]);
      const warnings = logs.records().filter((r) => r['level'] === 40).map((r) => String(r['msg']));
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0] ?? '', /start-up check failed: storage/);
      assert.match(warnings[1] ?? '', /start-up check failed: database: connection: cannot connect/);
      assert.ok(!logs.text().includes('wrong-Pw-5521'), 'the password is not logged');
    } finally {
      faults.failWhen(undefined);
    }
  });

  it('with SENTINEL_CONFIG: checks each set\'s database(s) and its folder in the storage, each line naming the set', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-sets-'));
    try {
      const file = path.join(dir, 'sets.yaml');
      // app: one database; hr: a role that may not read payroll; multi: two databases of one server,
      // one of which does not exist; watch: monitor-only.
      await fs.writeFile(
        file,
        `sets:
  - name: app
    databaseUrl: \${APP_URL}
  - name: hr
    databaseUrl: \${HR_URL}
  - name: multi
    databaseUrl: \${APP_URL}
    databases: [${DB}, doctor_no_such_db]
  - name: watch
`,
      );
      const { code, out } = await doctor({ ...storageEnv, SENTINEL_CONFIG: file, APP_URL: pg.url(DB), HR_URL: pg.url(DB, LIMITED_USER, LIMITED_PASSWORD) });
      assert.equal(code, 1, out);
      assert.match(out, /\[ok  \] configuration: valid; storage s3:\/\/.*, 4 backup sets from SENTINEL_CONFIG: app, hr, multi, watch/);
      assert.match(out, new RegExp(`\\[ok  \\] set app: database: connection: database "${DB}"`));
      assert.match(out, /\[ok  \] set app: database: read every table pg_dump reads/);
      assert.match(out, /\[ok  \] set hr: database: connection: database "doctor_app" at .* as user "doctor_limited"/);
      assert.match(out, /\[FAIL\] set hr: database: read every table pg_dump reads: user "doctor_limited" may not read 1 relation .*: public\.payroll/);
      assert.match(out, new RegExp(`\\[ok  \\] set multi/${DB}: database: connection: database "${DB}"`));
      assert.match(out, /\[FAIL\] set multi\/doctor_no_such_db: database: connection: /);
      assert.match(out, /\[skip\] set watch: database: monitor-only/);
      for (const set of ['app', 'hr', 'multi', 'watch']) {
        assert.match(out, new RegExp(`\\[ok  \\] set ${set}: storage: write, read back, delete: .*wrote, read back and deleted ${set}/\\.backup-sentinel/doctor-probe-`));
      }
      assert.match(out, /2 checks failed/);
      assert.ok(!out.includes(pg.password) && !out.includes(LIMITED_PASSWORD), 'no password in the output');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('with several destinations: probes each, one line per destination, and fails when one refuses uploads while the other is fine', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-dest-'));
    faults.failWhen(({ method }) => method === 'PUT', { status: 403, code: 'AccessDenied' });
    try {
      const { code, out } = await doctor({ ...storageEnv, BACKUP_DIR: dir });
      assert.equal(code, 1, out);
      assert.match(out, /\[ok  \] configuration: valid; 2 destinations: s3 \(s3:\/\/.*\), dir \(dir:/);
      assert.match(out, /\[FAIL\] destination s3: storage: write, read back, delete: cannot write a probe object to s3:\/\//);
      assert.match(out, /\[ok  \] destination dir: storage: write, read back, delete: dir:.*wrote, read back and deleted \.backup-sentinel\/doctor-probe-/);
      assert.match(out, /1 check failed/);
    } finally {
      faults.failWhen(undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
