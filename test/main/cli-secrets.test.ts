import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { runCli } from '../../src/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { MALFORMED_SHAPES, MARKER } from '../util/malformed-urls.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { listeningPort } from '../helpers/listening-port.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
const COMMANDS: readonly string[][] = [['serve'], ['backup'], ['list'], ['check'], ['prune', '--dry-run'], ['restore', '--latest'], ['verify', '--drill'], ['alert-test']];
const URL_VARIABLES = ['BACKUP_DATABASE_URL', 'VERIFY_RESTORE_URL', 'RESTORE_TARGET_URL', 'SMTP_URL', 'SLACK_WEBHOOK_URL'] as const;

interface Run {
  code: number | undefined;
  all: string;
}

// The real CLI process: what it prints on stdout and stderr, logs included (pino writes to one of them).
function cli(args: readonly string[], env: Record<string, string>) {
  return execa(process.execPath, [...TYPESCRIPT_LOADER, CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...compileCacheEnv(), LOG_LEVEL: 'trace', ...env },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

async function run(args: readonly string[], env: Record<string, string>): Promise<Run> {
  const result = await cli(args, env);
  return { code: result.exitCode, all: String(result.all ?? '') };
}

// The same CLI in this process (runCli, which the spawned program calls with its argv and environment),
// with its output streams captured.
async function runInProcess(args: readonly string[], env: Record<string, string>): Promise<Run> {
  const chunks: string[] = [];
  const into = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk.toString());
      done();
    },
  });
  const code = await runCli([...args], { PATH: process.env.PATH ?? '', LOG_LEVEL: 'trace', ...env }, { stdout: into, stderr: into });
  return { code, all: chunks.join('') };
}

function assertNoMarker(what: string, run: Run): void {
  assert.ok(!run.all.includes(MARKER), `${what} printed the password:\n${run.all}`);
}

// Passwords in URL variables and flags, malformed in every shape or well formed but failing, through
// every command's error path: the password never reaches stdout, stderr or the logs.
describe('secrets in URLs never reach the output of any command', () => {
  let pg: PgCluster;
  let dir: string;
  let dead: number;
  let base: Record<string, string>;

  before(async () => {
    [pg, dead] = await Promise.all([startPgCluster(), freePort()]);
    await pg.createDatabase('app');
    await pg.psql('CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 10);', 'app');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cli-secrets-'));
    base = { BACKUP_DIR: dir, BACKUP_FILE_PREFIX: 'app_' };
    const backup = await run(['backup'], { ...base, BACKUP_DATABASE_URL: pg.url('app') });
    assert.equal(backup.code, 0, backup.all);
  });
  after(async () => {
    await pg?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a malformed URL in any variable stops every command at start (exit 78) without showing the password', async () => {
    let shape = 0;
    const malformed = (): Record<string, string> => {
      const env: Record<string, string> = { ...base, ALERT_EMAIL_TO: 'ops@example.com' };
      for (const variable of URL_VARIABLES) env[variable] = MALFORMED_SHAPES[shape++ % MALFORMED_SHAPES.length] ?? '';
      return env;
    };
    const expectRefused = (what: string, result: Run) => {
      assert.equal(result.code, 78, `${what}: ${result.all}`);
      // One start-up message lists them all (a shape that is only padded with spaces is a valid URL once trimmed).
      const named = URL_VARIABLES.filter((variable) => result.all.includes(`- ${variable}: expected`));
      assert.ok(named.length >= URL_VARIABLES.length - 1, `${what} names the malformed URLs: ${result.all}`);
      assertNoMarker(what, result);
    };
    // The configuration is refused before a command's logger or any of its work exists, so everything it
    // prints goes through runCli's output streams: the commands run in this process, where a spawned
    // process would spend its time starting up. One spawned process checks the same path end to end.
    const spawned = run(['serve'], malformed());
    for (const command of COMMANDS) expectRefused(command.join(' '), await runInProcess(command, malformed()));
    expectRefused('serve (spawned)', await spawned);
    assert.ok(shape >= MALFORMED_SHAPES.length, 'every shape went through a command');
  });

  it('restore --target-url with a malformed URL, and RESTORE_TARGET_URL with a wrong password, fail without showing it', async () => {
    const targets = [`postgres:/postgres:${MARKER}@127.0.0.1:${pg.port}/copy`, `postgres:postgres:${MARKER}@127.0.0.1/copy`, `postgres://postgres@127.0.0.1:${pg.port}/copy?password=${MARKER}%zz`];
    const runs = targets.map((target) => [target, run(['restore', '--latest', '--target-url', target], base)] as const);
    const wrongPassword = run(['restore', '--latest', '--create'], { ...base, RESTORE_TARGET_URL: `postgres://postgres:${MARKER}@127.0.0.1:${pg.port}/copy` });
    for (const [target, pending] of runs) {
      const result = await pending;
      assert.equal(result.code, 1, result.all);
      assert.match(result.all, /--target-url is not a valid URL/);
      assertNoMarker(`restore --target-url ${target}`, result);
    }
    const wrong = await wrongPassword;
    assert.equal(wrong.code, 1, wrong.all);
    assert.match(wrong.all, /cannot connect to database .*password authentication failed/);
    assertNoMarker('restore with RESTORE_TARGET_URL', wrong);
  });

  it('backup, verify --drill, alert-test, list and serve with well-formed URLs whose password is wrong or whose server is down', async () => {
    const wrongDb = `postgres://postgres:${MARKER}@127.0.0.1:${pg.port}/app?sslmode=disable`;
    const runs: [string, Promise<Run>][] = [];
    runs.push(['backup (wrong password)', run(['backup'], { ...base, BACKUP_DATABASE_URL: wrongDb })]);
    runs.push(['backup (server down)', run(['backup'], { ...base, BACKUP_DATABASE_URL: `postgres://postgres:${MARKER}@127.0.0.1:${dead}/app` })]);
    runs.push(['verify --drill', run(['verify', '--drill'], { ...base, BACKUP_DATABASE_URL: wrongDb, VERIFY_RESTORE_URL: `postgres://postgres:${MARKER}@127.0.0.1:${pg.port}/postgres` })]);
    runs.push(['alert-test', run(['alert-test'], {
      ...base,
      SMTP_URL: `smtp://ops:${MARKER}@127.0.0.1:${dead}`,
      ALERT_EMAIL_TO: 'ops@example.com',
      SLACK_WEBHOOK_URL: `http://127.0.0.1:${dead}/services/T0/B0/${MARKER}`,
    })]);
    runs.push(['list (storage down)', run(['list'], { AWS_S3_BUCKET: 'down-bucket', AWS_S3_ENDPOINT: `http://127.0.0.1:${dead}`, AWS_S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: MARKER })]);
    for (const [what, pending] of runs) {
      const result = await pending;
      assert.notEqual(result.code, 0, `${what} fails: ${result.all}`);
      assertNoMarker(what, result);
    }
    const serve = cli(['serve'], { ...base, PORT: '0', HOST: '127.0.0.1', BACKUP_DATABASE_URL: wrongDb, RUN_ON_STARTUP: 'true', VERIFY_RESTORE_URL: `postgres://postgres:${MARKER}@127.0.0.1:${dead}/postgres` });
    try {
      const port = await listeningPort(serve);
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text(), () => '')).includes('backup_failed'),
        'the failed backup on /health',
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).text();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.ok(!status.includes(MARKER) && !metrics.includes(MARKER), 'not in /status or /metrics');
    } finally {
      serve.kill('SIGTERM');
    }
    const result = await serve;
    assert.equal(result.exitCode, 0, String(result.all));
    assert.match(String(result.all), /password authentication failed/);
    assertNoMarker('serve', { code: result.exitCode, all: String(result.all ?? '') });
  });
});
