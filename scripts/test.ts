// `npm test`: the test files and the static checks (typecheck, lint, dead code) at once, so the checks use
// the CPU the tests leave idle (waiting on PostgreSQL, S3, timers) instead of adding their minute in front.
// The checks keep their normal priority: `nice`d, ESLint (one thread, ~40 s of CPU from a cold cache) got
// so little of the two cores that it ended 10 s after the tests. A check is skipped while no file changed
// since it last passed (sourceStamp), so a second run (CI runs the suite on two Node majors) checks nothing.
// Test output streams as it comes; each check's output is printed when it ends. Exit 1 if anything failed.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TYPESCRIPT_LOADER } from '../test/helpers/typescript-node.ts';

const root = path.resolve(import.meta.dirname, '..');
const cache = path.join(root, 'node_modules', '.cache', 'backup-sentinel');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

interface Part {
  name: string;
  command: string[];
  // Output shown live (the tests) or held until the part ends (the checks, so lines don't interleave).
  live: boolean;
  // A check whose result depends on the project's files alone: not run again while they are exactly as
  // when it last passed (see sourceStamp).
  skipWhenUnchanged?: boolean;
  env?: Record<string, string>;
}

// The files that take longest (5-17 s each, mostly waiting on child processes, schedules, leases and
// servers; measured per file on Node 22 and 24). run-test-files.ts starts files in the order given, so these go
// first: started last, one of them would run alone while the other slots idle, adding its whole length
// to the suite's wall time.
const LONGEST_FIRST = [
  'test/main/two-replicas.test.ts',
  'test/demo/demo.test.ts',
  'test/backup/backup-faults.test.ts',
  'test/storage/s3-store.test.ts',
  'test/grafana/prometheus-e2e.test.ts',
  'test/restore/restore-server.test.ts',
  'test/leader/leader-lease.test.ts',
  'test/restore/restore.test.ts',
  'test/destinations/tee-backup.test.ts',
  'test/destinations/set-destinations.test.ts',
  'test/main/cli-secrets.test.ts',
  'test/backup/backup-service.test.ts',
  'test/sets/backup-sets.test.ts',
  'test/sets/set-restore-all.test.ts',
  'test/restore/drill.test.ts',
];

// test/<area>/<name>.test.ts, listed here rather than by a shell glob (Node 20 does not expand one),
// the longest first, then the rest by name.
function allTestFiles(): string[] {
  const test = path.join(root, 'test');
  const files = fs
    .readdirSync(test, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((dir) => fs.readdirSync(path.join(test, dir.name)).filter((f) => f.endsWith('.test.ts')).map((f) => path.join('test', dir.name, f)))
    .sort();
  const rank = (file: string) => {
    const at = LONGEST_FIRST.indexOf(file.split(path.sep).join('/'));
    return at === -1 ? LONGEST_FIRST.length : at;
  };
  return files.sort((a, b) => rank(a) - rank(b));
}

// Node's compile cache for every process of the run (test files and the programs they spawn inherit the
// variable): Node 24 keeps there the stripped and compiled modules of src/ and node_modules, which makes
// up most of a process's start-up, so each of the ~150 processes after the first few starts in a third
// of the time. Node checks each entry against the file's content, so a changed file is compiled afresh.
// Node 20 ignores the variable.
const compileCache = path.join(cache, 'node-compile-cache');

// A TMPDIR of the run's own for the test files and everything they start: what a test leaves there (a
// service's local alert state, a cluster a killed test could not stop) goes when the run ends (also on
// Ctrl-C), instead of piling up across runs, and no test picks up another run's files. World-writable
// like /tmp: the PostgreSQL servers run as the postgres user and keep their sockets there.
// It is in memory (/dev/shm) where the machine has room and the caller set no TMPDIR: creating and
// removing thousands of small files (s3rver's buckets, clusters copied from the template, backup folders)
// on a disk filesystem (ext4 on a virtual disk) costs about ten times the CPU it does on tmpfs, most of it
// in the kernel (measured: seeding 1,000 objects into s3rver, 1.7 s of CPU in /tmp against 0.2 s in
// /dev/shm). A container's small /dev/shm (64 MB) is left alone: the tests need a few hundred MB.
const MEMORY_TMP_MIN_FREE = 2 * 1024 ** 3;
function tmpBase(): string {
  if (process.env.TMPDIR) return os.tmpdir();
  try {
    const stats = fs.statfsSync('/dev/shm');
    return stats.bavail * stats.bsize >= MEMORY_TMP_MIN_FREE ? '/dev/shm' : os.tmpdir();
  } catch {
    return os.tmpdir();
  }
}
const runTmp = fs.mkdtempSync(path.join(tmpBase(), 'backup-sentinel-test-'));
fs.chmodSync(runTmp, 0o1777);

const testFiles = process.argv.slice(2);
const parts: Part[] = [
  {
    name: 'tests',
    command: [
      process.execPath,
      ...TYPESCRIPT_LOADER,
      // node:test without its promise tracking, which makes promise-heavy code several times slower in
      // every test process (see the file); the runner passes the flag on to each test file's process.
      '--import',
      path.join(root, 'test', 'helpers', 'lean-test-harness.js'),
      path.join(root, 'scripts', 'run-test-files.ts'),
      ...(testFiles.length > 0 ? testFiles : allTestFiles()),
    ],
    live: true,
    env: { TMPDIR: runTmp },
  },
  { name: 'typecheck', command: [bin('tsc'), '-p', 'tsconfig.json', '--noEmit', '--incremental', '--tsBuildInfoFile', path.join(cache, 'tsbuildinfo')], live: false, skipWhenUnchanged: true },
  { name: 'lint', command: [bin('eslint'), '--cache', '--cache-strategy', 'content', '--cache-location', path.join(cache, 'eslint'), '.'], live: false, skipWhenUnchanged: true },
  { name: 'deadcode', command: [bin('knip'), '--cache', '--cache-location', path.join(cache, 'knip')], live: false, skipWhenUnchanged: true },
];

// The content of every file of the project git knows (tracked, or new and not ignored; package-lock.json
// stands for node_modules): what typecheck, lint and deadcode read. Their own caches are not enough:
// ESLint keys its cache by Node's version as well, so CI's run on the second Node major re-linted every
// file (about 40 s of CPU, longer than the tests) for the same result. Undefined outside a git checkout
// (the checks then always run).
function sourceStamp(): string | undefined {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString('utf8')
      .split('\0')
      .filter((f) => f !== '')
      .sort();
  } catch {
    return undefined;
  }
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file}\0`);
    try {
      hash.update(fs.readFileSync(path.join(root, file)));
    } catch {
      hash.update('(gone)');
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}
const stamp = sourceStamp();
const passedFile = (part: Part): string => path.join(cache, `${part.name}.passed`);
const unchangedSincePassed = (part: Part): boolean => {
  if (part.skipWhenUnchanged !== true || stamp === undefined) return false;
  try {
    return fs.readFileSync(passedFile(part), 'utf8') === stamp;
  } catch {
    return false;
  }
};
// Only while the files are still those the run started with: an edit during the run may have been checked.
const notePassed = (part: Part): void => {
  if (part.skipWhenUnchanged !== true || stamp === undefined || sourceStamp() !== stamp) return;
  fs.mkdirSync(cache, { recursive: true });
  fs.writeFileSync(passedFile(part), stamp);
};

interface Outcome {
  name: string;
  code: number | null;
  seconds: number;
}

const children = new Set<ReturnType<typeof spawn>>();
// Ctrl-C (or a CI's SIGTERM) stops the parts, and the run still ends here: the run's TMPDIR is removed
// once they have exited.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
    process.exitCode = signal === 'SIGINT' ? 130 : 143;
  });
}

function run(part: Part): Promise<Outcome> {
  const started = performance.now();
  if (unchangedSincePassed(part)) {
    process.stdout.write(`\n== ${part.name}: ok (no file changed since it last passed)\n`);
    return Promise.resolve({ name: part.name, code: 0, seconds: 0 });
  }
  const [file, ...args] = part.command;
  return new Promise((resolve) => {
    const child = spawn(file!, args, { cwd: root, env: { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? compileCache, ...part.env }, stdio: part.live ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const held: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => held.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => held.push(chunk));
    const done = (code: number | null) => {
      children.delete(child);
      if (code === 0) notePassed(part);
      const seconds = (performance.now() - started) / 1000;
      if (!part.live) {
        const output = Buffer.concat(held).toString('utf8').trim();
        process.stdout.write(`\n== ${part.name}: ${code === 0 ? 'ok' : 'FAILED'} (${seconds.toFixed(1)} s)\n${output ? `${output}\n` : ''}`);
      }
      resolve({ name: part.name, code, seconds });
    };
    child.once('error', (error) => {
      held.push(Buffer.from(`cannot start ${file}: ${error.message}\n`));
      done(null);
    });
    child.once('close', (code) => done(code));
  });
}

const outcomes = await Promise.all(parts.map(run));
try {
  fs.rmSync(runTmp, { recursive: true, force: true, maxRetries: 3 });
} catch (error) {
  process.stdout.write(`\ncould not remove the run's TMPDIR ${runTmp}: ${(error as Error).message}\n`);
}
const failed = outcomes.filter((o) => o.code !== 0);
process.stdout.write(`\n${outcomes.map((o) => `${o.name} ${o.code === 0 ? 'ok' : 'FAILED'} ${o.seconds.toFixed(1)} s`).join(' · ')}\n`);
if (failed.length > 0) {
  process.stdout.write(`failed: ${failed.map((o) => o.name).join(', ')}\n`);
  process.exitCode = 1;
}
