// Idle cost: what a monitor-only `serve` costs while nothing happens (a sidecar is idle 99.9 % of the
// day). Four processes run side by side over the same window, so machine load hits them alike:
//   - the compiled `serve` (`node dist/src/cli.js serve`, what the Docker image runs): the target row;
//   - the same `serve` under tsx (`npm start`), to show what the TypeScript loader adds;
//   - the compiled `serve` with LEADER_LEASE_SECONDS=0, to show what the lease's ticks cost;
//   - bare node with one far-off timer: the floor node itself costs (its V8 and libuv threads).
// Each `serve` watches a directory seeded with 48 hourly backups and their manifests (the newest 30
// minutes old: no findings) and is measured only after its first check finished (its metrics show
// `last_check_timestamp_seconds`); nothing polls it during the window.
// CPU: utime + stime of /proc/<pid>/stat (clock ticks, 1/100 s) at both ends of the window, as a
// share of one core; also the threads' nanosecond run times (/proc/<pid>/task/*/schedstat, first
// field), finer than the ticks (a thread that ended during the window drops out of this sum). Wakeups: the sum over every thread (/proc/<pid>/task/*/status) of
// voluntary_ctxt_switches + nonvoluntary_ctxt_switches at both ends, per second; each time a thread
// is switched out it had run, so this counts how often the process was woken. The main thread's share
// is printed apart (its task id is the pid).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/helpers/free-port.ts';
import { waitFor } from '../test/helpers/wait-for.ts';
import { planSeedObjects } from './seed-plan.ts';

interface Section {
  rows: string[][];
  checks: string[];
}

interface ProcSample {
  ticks: number;
  // Nanoseconds on a CPU, summed over the threads alive at the sample (/proc/<pid>/task/*/schedstat).
  runNs: number;
  switches: number;
  mainSwitches: number;
  threads: number;
  at: number;
}

function sampleProc(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is stat field 3 (state): utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  let switches = 0;
  let mainSwitches = 0;
  let runNs = 0;
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  for (const task of tasks) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const count = [...status.matchAll(/^(?:voluntary|nonvoluntary)_ctxt_switches:\s+(\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    switches += count;
    try {
      runNs += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // no schedstat (kernel without CONFIG_SCHEDSTATS) or the thread ended
    }
    if (task === String(pid)) mainSwitches = count;
  }
  return { ticks, runNs, switches, mainSwitches, threads: tasks.length, at: performance.now() };
}

// 48 hourly backups with manifests, the newest 30 minutes old, written as the directory store keeps
// them (mtime = upload time).
function seedDirectory(dir: string): void {
  const objects = planSeedObjects({
    location: { subfolder: '', prefix: 'bench_' },
    count: 48,
    newest: new Date(Date.now() - 30 * 60_000).toISOString(),
    intervalMinutes: 60,
    baseSize: 4096,
    withManifests: true,
  });
  for (const o of objects) {
    const file = path.join(dir, o.key);
    fs.writeFileSync(file, o.body ?? Buffer.alloc(o.size ?? 0, 1));
    const at = o.lastModified ?? new Date();
    fs.utimesSync(file, at, at);
  }
}

interface Subject {
  label: string;
  child: ChildProcess;
  port?: number;
}

async function startServe(label: string, args: string[], root: string, dir: string, stateDir: string, extraEnv: Record<string, string> = {}): Promise<Subject> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH ?? '', BACKUP_DIR: dir, BACKUP_FILE_PREFIX: 'bench_', PORT: String(port), HOST: '127.0.0.1', STATE_DIR: stateDir, LOG_LEVEL: 'warn', ...extraEnv },
  });
  return { label, child, port };
}

async function firstCheckDone(subject: Subject): Promise<void> {
  await waitFor(
    async () => {
      if (subject.child.exitCode !== null) throw new Error(`${subject.label} exited (${subject.child.exitCode}) before its first check`);
      const body = await fetch(`http://127.0.0.1:${subject.port}/metrics`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.text())
        .catch(() => '');
      return /^backup_sentinel_last_check_timestamp_seconds\S* \d/m.test(body);
    },
    `${subject.label}: its first check (last_check_timestamp_seconds in /metrics)`,
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

export async function measureIdle(deps: { root: string; cli: string; seconds: number; settleSeconds: number; log: (line: string) => void }): Promise<Section> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-'));
  const subjects: Subject[] = [];
  try {
    const dir = path.join(base, 'backups');
    fs.mkdirSync(dir);
    seedDirectory(dir);
    deps.log(`  running: serve (compiled), serve (tsx) and bare node side by side, ${deps.seconds} s idle window`);
    subjects.push(await startServe('serve, compiled (node dist/src/cli.js serve)', [deps.cli, 'serve'], deps.root, dir, path.join(base, 'state-compiled')));
    subjects.push(await startServe('serve under tsx (npm start)', ['--import', 'tsx', path.join(deps.root, 'src', 'cli.ts'), 'serve'], deps.root, dir, path.join(base, 'state-tsx')));
    // The leader lease (on by default) reads and writes the storage every LEADER_LEASE_SECONDS / 4:
    // the same serve without it shows that share.
    subjects.push(await startServe('serve, compiled, LEADER_LEASE_SECONDS=0', [deps.cli, 'serve'], deps.root, dir, path.join(base, 'state-nolease'), { LEADER_LEASE_SECONDS: '0' }));
    subjects.push({ label: 'bare node, one timer (the floor)', child: spawn(process.execPath, ['-e', 'setInterval(() => {}, 2 ** 30)'], { stdio: 'ignore' }) });
    for (const s of subjects) if (s.port !== undefined) await firstCheckDone(s);
    // Let the start's aftermath settle before the window: V8's memory reducer keeps running GCs for about
    // a minute after the start-up allocations stop (a CPU profile of that minute is ~95 % garbage
    // collector), which is start-up cost, not the steady idle a sidecar spends its day in.
    deps.log(`  idle: ${deps.settleSeconds} s for the start to settle, then the ${deps.seconds} s window`);
    await new Promise((resolve) => setTimeout(resolve, deps.settleSeconds * 1000));
    const before = subjects.map((s) => sampleProc(s.child.pid ?? 0));
    await new Promise((resolve) => setTimeout(resolve, deps.seconds * 1000));
    const after = subjects.map((s) => sampleProc(s.child.pid ?? 0));
    const rows: string[][] = [];
    const checks: string[] = [];
    subjects.forEach((s, i) => {
      const a = before[i] as ProcSample;
      const b = after[i] as ProcSample;
      const window = (b.at - a.at) / 1000;
      const cpuPercent = ((b.ticks - a.ticks) / 100 / window) * 100;
      const wakeups = (b.switches - a.switches) / window;
      // The same from the scheduler's nanosecond run times: finer than the 10 ms ticks.
      const runPercent = ((b.runNs - a.runNs) / 1e9 / window) * 100;
      const mainWakeups = (b.mainSwitches - a.mainSwitches) / window;
      rows.push([
        `idle ${window.toFixed(0)} s: ${s.label}`,
        '',
        '',
        '',
        '',
        `${((b.ticks - a.ticks) / 100).toFixed(2)} s = ${cpuPercent.toFixed(3)} % of a core (schedstat ${runPercent.toFixed(3)} %)`,
        `${wakeups.toFixed(1)} wakeups/s (main thread ${mainWakeups.toFixed(1)}, ${b.threads} threads)`,
        '',
      ]);
      if (i === 0) {
        checks.push(`idle: compiled serve uses ${cpuPercent.toFixed(3)} % of a core (/proc stat; ${runPercent.toFixed(3)} % from schedstat) (target <= 0.1 %) ${cpuPercent <= 0.1 ? 'OK' : 'MISSED'}`);
        checks.push(`idle: compiled serve wakes ${wakeups.toFixed(1)} times/s, all ${b.threads} threads (target <= 5/s) ${wakeups <= 5 ? 'OK' : 'MISSED'}`);
      }
    });
    return { rows, checks };
  } finally {
    for (const s of subjects) s.child.kill('SIGTERM');
    await Promise.all(
      subjects.map(async (s) => {
        if (s.child.exitCode === null && s.child.signalCode === null) await new Promise((resolve) => s.child.once('exit', resolve));
      }),
    );
    fs.rmSync(base, { recursive: true, force: true });
  }
}
