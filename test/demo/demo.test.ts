import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseDemoArgs } from '../../scripts/demo-args.ts';
import { formatLogLine } from '../../scripts/demo-log.ts';
import { execa } from 'execa';
import { cliLoadedPackages } from '../helpers/loaded-packages.ts';
import { findPgBinDir } from '../helpers/pg-cluster.ts';
import { startSlackServer } from '../helpers/slack-server.ts';
import { TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

// Runs the demo (scripts/demo.ts) with a real PostgreSQL cluster and the in-process S3 server, and stops
// it with SIGINT as Ctrl-C would. The tour runs the way a newcomer's `npm run demo` does, through tsx;
// the other runs take the TypeScript loader of the test run (test/helpers/typescript-node.ts: none on
// Node 22.18+/24), as the code they exercise is the same and tsx only adds start-up time.

const root = path.resolve(import.meta.dirname, '../..');
const FAKE_WEBHOOK = 'https://hooks.slack.com/services/T000/B000/demo-test-secret-value';

interface Demo {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// A TMPDIR of its own, so the demo's temp dirs (cluster, bucket) and processes can be found afterwards.
// 0755: the cluster's files belong to the postgres user, who must be able to reach them.
async function makeTmpDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'demo-test-'));
  await fs.chmod(dir, 0o755);
  return dir;
}

// `npm run demo` runs the script through tsx.
const AS_NPM_RUN_DEMO = ['--import', 'tsx'];

function spawnDemo(args: string[], tmpDir: string, env: Record<string, string> = {}, loader: readonly string[] = TYPESCRIPT_LOADER): Demo {
  const childEnv: Record<string, string | undefined> = { ...process.env, TMPDIR: tmpDir, ...env };
  for (const name of ['PORT', 'DEMO_CRON', 'LOG_LEVEL', 'SLACK_WEBHOOK_URL', 'SMTP_URL', 'SMTP_HOST']) if (!(name in env)) delete childEnv[name];
  const child = spawn(process.execPath, [...loader, 'scripts/demo.ts', ...args], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(text);
          if (match) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`demo did not print ${pattern} within ${timeoutMs} ms; output so far:\n${text}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`demo exited before printing ${pattern}; output:\n${text}`));
          }
        });
        check();
      });
    },
  };
}

async function exitWithin(demo: Demo, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`demo still running ${ms} ms after SIGINT; output:\n${demo.output()}`)), ms).unref(),
  );
  const result = await Promise.race([demo.exited, timeout]);
  return { ...result, ms: Date.now() - t0 };
}

function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// Processes whose command line mentions `text` (e.g. a postgres started on a data dir under it).
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
  }
  return found;
}

// What the demo left in its TMPDIR (tsx's own compile cache aside).
async function leftovers(tmpDir: string): Promise<string[]> {
  return (await fs.readdir(tmpDir)).filter((name) => !name.startsWith('tsx'));
}

// After a test (also a failed one): asks the demo to stop like Ctrl-C, kills it if it hangs, stops a
// cluster it left behind (so a failing test leaves no postgres running), then removes the TMPDIR.
async function cleanUp(demo: Demo | undefined, tmpDir: string): Promise<void> {
  if (demo !== undefined && demo.child.exitCode === null && demo.child.signalCode === null) {
    demo.child.kill('SIGINT');
    await Promise.race([demo.exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    demo.child.kill('SIGKILL');
  }
  for (const entry of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    if (!entry.startsWith('pg-test-')) continue;
    const pgCtl = [path.join(findPgBinDir(), 'pg_ctl'), '-D', path.join(tmpDir, entry, 'data'), '-m', 'immediate', '-w', 'stop'];
    const isRoot = process.getuid?.() === 0;
    await execa(isRoot ? 'runuser' : pgCtl[0] ?? 'pg_ctl', isRoot ? ['-u', 'postgres', '--', ...pgCtl] : pgCtl.slice(1), { reject: false });
  }
  await fs.rm(tmpDir, { recursive: true, force: true });
}

test('the tour prints URLs that answer, one backup, the health verdict and an alert preview; Ctrl-C then stops everything', { timeout: 90_000 }, async (t) => {
  const tmpDir = await makeTmpDir();
  const demo = spawnDemo([], tmpDir, { SLACK_WEBHOOK_URL: FAKE_WEBHOOK }, AS_NPM_RUN_DEMO);
  t.after(() => cleanUp(demo, tmpDir));

  await demo.waitFor(/Stop with Ctrl-C/);
  const out = demo.output();
  const pgPort = Number((/127\.0\.0\.1:(\d+)\/shop/.exec(out) ?? [])[1]);
  const s3Port = Number((/in-process S3 server http:\/\/127\.0\.0\.1:(\d+)/.exec(out) ?? [])[1]);
  const base = (/(http:\/\/127\.0\.0\.1:\d+)\/health/.exec(out) ?? [])[1] ?? '';
  assert.ok(pgPort > 0 && s3Port > 0 && base !== '', `ports and URLs printed:\n${out}`);
  assert.match(out, new RegExp(`${base}/status`));
  assert.match(out, new RegExp(`${base}/metrics`));

  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'pass');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^backup_sentinel_last_backup_success_timestamp_seconds \d/m);
  assert.match(metrics, /^backup_sentinel_last_backup_success 1$/m);
  const status = (await (await fetch(`${base}/status`)).json()) as { backup: { lastSuccess: { key: string } | null } };
  const key = status.backup.lastSuccess?.key ?? '';
  assert.match(key, /^shop_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.sql\.gz$/);

  // The list command's own output, one backup, the one /status reports.
  assert.match(out, /1 backup in s3:\/\/demo-backups at http:\/\/127\.0\.0\.1:\d+ \(prefix "shop_"\)/);
  assert.match(out, new RegExp(`^\\s+${key.replaceAll('.', '\\.')}\\s+\\d`, 'm'));
  assert.match(out, /Health\s+pass \(HTTP 200\)/);
  // The alert preview, rendered by the alerts module.
  assert.match(out, /Slack notification line:\n\s+:red_circle: \[FIRING\] backup-sentinel demo: newest backup is 27 h old \(limit 25 h\)/);
  assert.match(out, /\[FAIL\] Backups are stale/);
  assert.match(out, /What to do: backups stopped/);
  assert.match(out, /Runbook: https:\/\/\S+#stale/);
  // The shell's webhook is ignored, said so, and never printed; real alerts went to the log.
  assert.match(out, /Your shell sets SLACK_WEBHOOK_URL: the demo ignores them/);
  assert.ok(!out.includes('demo-test-secret-value'), 'the webhook URL is never printed');
  // A healthy first deploy (backup at start) fires no alert: the start-up check's "no backup yet" waits
  // for the check after that backup.
  assert.doesNotMatch(out, /ALERT \[FIRING\]/);
  assert.match(out, /no channel configured, so alerts go to the log lines marked ALERT/);

  // The probes below see the running demo (so they can fail): its postgres and its temp dirs.
  assert.ok((await processesMentioning(tmpDir)).some((p) => p.includes('postgres')), 'postgres runs from the demo temp dir');
  assert.ok((await leftovers(tmpDir)).length >= 2, 'cluster and bucket temp dirs exist while running');

  demo.child.kill('SIGINT');
  const { code, ms } = await exitWithin(demo, 10_000);
  assert.equal(code, 0, demo.output());
  t.diagnostic(`stopped ${ms} ms after SIGINT`);
  assert.match(demo.output(), /Stopped; nothing is left running/);
  assert.equal(await isPortOpen(pgPort), false, 'PostgreSQL stopped');
  assert.equal(await isPortOpen(s3Port), false, 'S3 server stopped');
  assert.equal(await isPortOpen(Number(new URL(base).port)), false, 'HTTP server stopped');
  assert.deepEqual(await processesMentioning(tmpDir), [], 'no process runs from the demo temp dir');
  assert.deepEqual(await leftovers(tmpDir), [], 'the cluster and bucket temp dirs are removed');
});

test('Ctrl-C while PostgreSQL is still starting waits for it, stops it and exits 0', { timeout: 60_000 }, async (t) => {
  const tmpDir = await makeTmpDir();
  const demo = spawnDemo([], tmpDir);
  t.after(() => cleanUp(demo, tmpDir));
  await demo.waitFor(/Starting a throwaway PostgreSQL cluster/);
  demo.child.kill('SIGINT');
  const { code } = await exitWithin(demo, 30_000);
  assert.equal(code, 0, demo.output());
  assert.match(demo.output(), /Stopping: PostgreSQL, S3 server\.\.\.\n/);
  assert.doesNotMatch(demo.output(), /could not start|Could not stop/);
  assert.deepEqual(await processesMentioning(tmpDir), [], 'no postgres left running');
  assert.deepEqual(await leftovers(tmpDir), [], 'temp dirs removed');
});

test('--dir --alerts-from-env --exit-after-tour: backups kept in the folder, alerts sent to the shell\'s Slack webhook, exits by itself', { timeout: 60_000 }, async (t) => {
  const tmpDir = await makeTmpDir();
  const backups = path.join(tmpDir, 'kept-backups');
  const slack = await startSlackServer();
  const demo = spawnDemo(['--dir', '--alerts-from-env', '--exit-after-tour'], tmpDir, { SLACK_WEBHOOK_URL: slack.url, DEMO_BACKUP_DIR: backups });
  t.after(async () => {
    await cleanUp(demo, tmpDir);
    await slack.close();
  });
  const { code } = await exitWithin(demo, 45_000);
  const out = demo.output();
  assert.equal(code, 0, out);
  assert.match(out, /Storage\s+local directory .*kept-backups \(--dir\)/);
  assert.match(out, /sent to your Slack channel \(--alerts-from-env\)/);
  assert.ok(!out.includes(slack.token), 'the webhook URL is never printed');
  // A healthy start fires nothing; the demo proves the channel with one [TEST] message.
  const texts = slack.payloads.map((p) => (p as { text?: string }).text ?? '');
  assert.equal(texts.length, 1, `payloads: ${JSON.stringify(texts)}`);
  assert.match(texts[0] ?? '', /\[TEST\] backup-sentinel demo: alert delivery works/);
  assert.match(out, /Test alert: sent to Slack webhook on 127\.0\.0\.1/);
  const kept = (await fs.readdir(backups)).filter((name) => name.endsWith('.sql.gz'));
  assert.equal(kept.length, 1, `one backup kept in ${backups}`);
  assert.match(out, /The backups stay in .*kept-backups/);
  assert.deepEqual(await processesMentioning(tmpDir), [], 'no postgres left running');
  assert.deepEqual((await leftovers(tmpDir)).filter((name) => name !== 'kept-backups'), [], 'cluster temp dir removed');
});

test('--help lists the flags and an unknown flag is refused with exit 64, both without loading the demo', { timeout: 30_000 }, async (t) => {
  const tmpDir = await makeTmpDir();
  t.after(() => fs.rm(tmpDir, { recursive: true, force: true }));
  const [help, wrong] = await Promise.all([
    cliLoadedPackages(['--help'], { TMPDIR: tmpDir }, path.join(root, 'scripts/demo.ts')),
    cliLoadedPackages(['--bucket'], { TMPDIR: tmpDir }, path.join(root, 'scripts/demo.ts')),
  ]);
  assert.equal(help.code, 0, help.all);
  for (const flag of ['--dir', '--alerts-from-env', '--json-logs', '--exit-after-tour', 'DEMO_CRON']) assert.ok(help.all.includes(flag), flag);
  assert.equal(wrong.code, 64);
  assert.match(wrong.all, /Unknown demo flag "--bucket"; expected --dir/);
  // The flags are read before the service, the S3 server and the cluster helpers are loaded (over half
  // a second of CPU), so --help answers at once.
  for (const run of [help, wrong]) {
    for (const name of ['s3rver', '@aws-sdk/client-s3', 'koa', 'pg', 'pino', 'execa']) assert.ok(!run.packages.has(name), `${name} loaded: ${[...run.packages].join(', ')}`);
  }
});

test('demo flags parse, and the console log line marks alerts', () => {
  assert.deepEqual(parseDemoArgs(['--dir', '--exit-after-tour']), {
    options: { dir: true, exitAfterTour: true, alertsFromEnv: false, jsonLogs: false, help: false },
  });
  const line = JSON.stringify({ level: 40, time: '2026-11-28T01:02:03.456Z', component: 'alerts', msg: 'alert: [FIRING] demo: stale' });
  assert.equal(formatLogLine(line, { alertsToLog: false }), '01:02:03 WARN  alerts         ALERT [FIRING] demo: stale');
  assert.match(formatLogLine(line, { alertsToLog: true }), /alerts go to this log/);
  assert.equal(formatLogLine('not json', { alertsToLog: true }), 'not json');
});
