import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CronSpecError } from '../../src/core/cron.ts';
import { ScheduledTask, type TaskOutcome, type TaskRun } from '../../src/core/scheduled-task.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Real timers on a per-second schedule: each test waits at most a few seconds of wall time, polling
// the state it expects instead of sleeping. Each test has its own task, clock and log, so they run at
// the same time: the file waits about as long as its longest test, not their sum.

const EVERY_SECOND = { expression: '* * * * * *', timezone: 'UTC' };

// A run that stays in flight until released (or aborted), recording what it was given.
function gate() {
  const runs: TaskRun[] = [];
  const releases: Array<() => void> = [];
  const run = (r: TaskRun): Promise<string> => {
    runs.push(r);
    return new Promise<string>((resolve, reject) => {
      releases.push(() => resolve(`run ${runs.length}`));
      r.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  };
  return { runs, run, release: () => releases.shift()?.() };
}

describe('ScheduledTask', { concurrency: true }, () => {
  it('fires on its cron schedule with the trigger "schedule", the time it is for, and moves to the next time', async () => {
    const logs = captureLogs();
    const runs: TaskRun[] = [];
    const task = new ScheduledTask({ name: 'test', schedule: EVERY_SECOND, logger: logs.logger, run: (r) => Promise.resolve(runs.push(r)) });
    assert.equal(task.nextRunAt(), undefined, 'no next time before start');
    task.start();
    const first = task.nextRunAt();
    assert.ok(first !== undefined && first.getTime() > Date.now() - 50 && first.getUTCMilliseconds() === 0, String(first));
    try {
      await waitFor(() => Promise.resolve(runs.length >= 2), 'two scheduled runs', { timeoutMs: 5_000 });
    } finally {
      await task.stop();
    }
    assert.equal(runs[0]?.trigger, 'schedule');
    assert.deepEqual(runs[0]?.scheduledFor, first);
    assert.ok((runs[1]?.scheduledFor?.getTime() ?? 0) > (runs[0]?.scheduledFor?.getTime() ?? 0), 'each time fires once');
    assert.equal(task.nextRunAt(), undefined, 'no next time after stop');
    const count = runs.length;
    const startedAgainAt = Date.now();
    await waitFor(() => Promise.resolve(Date.now() - startedAgainAt > 1_500), 'a second and a half');
    assert.equal(runs.length, count, 'nothing fires after stop');
  });

  it('runs one at a time: a run asked for while one is in flight is skipped, logged and told to listeners', async () => {
    const logs = captureLogs();
    const g = gate();
    const outcomes: TaskOutcome<string>[] = [];
    const task = new ScheduledTask({ name: 'test', schedule: EVERY_SECOND, logger: logs.logger, run: g.run });
    task.onResult((o) => {
      outcomes.push(o);
    });
    const first = task.runNow('manual');
    assert.equal(task.inFlight?.trigger, 'manual');
    const second = await task.runNow('manual');
    assert.equal(second.status, 'skipped');
    assert.equal(second.status === 'skipped' ? second.inFlight.trigger : '', 'manual');
    // A scheduled time that comes while the run is in flight is skipped as well.
    task.start();
    try {
      await waitFor(() => Promise.resolve(outcomes.some((o) => o.status === 'skipped' && o.trigger === 'schedule')), 'a skipped scheduled run', { timeoutMs: 5_000 });
      assert.equal(g.runs.length, 1, 'the run function ran once');
      g.release();
      const done = await first;
      assert.equal(done.status, 'done');
      assert.equal(done.status === 'done' ? done.value : '', 'run 1');
    } finally {
      await task.stop();
    }
    assert.match(logs.text(), /test: skipped \(schedule\): the manual run started at .* is still running/);
    assert.equal(outcomes[0]?.status, 'skipped');
  });

  it('runOrJoin() while a run is in flight gets that run\'s outcome, and starts one when none is', async () => {
    const logs = captureLogs();
    const g = gate();
    const task = new ScheduledTask({ name: 'test', schedule: EVERY_SECOND, logger: logs.logger, run: g.run });
    const first = task.runOrJoin('manual');
    const joined = task.runOrJoin('manual');
    assert.equal(g.runs.length, 1, 'the second call started no run');
    g.release();
    const [a, b] = await Promise.all([first, joined]);
    assert.equal(b, a, 'both callers get the one run');
    assert.equal(a.status === 'done' ? a.value : a.status, 'run 1');
    const next = task.runOrJoin('manual');
    g.release();
    assert.equal((await next).status === 'done' ? 'done' : 'not done', 'done');
    assert.equal(g.runs.length, 2);
    assert.doesNotMatch(logs.text(), /skipped/);
  });

  it('stop() aborts the run in flight through its signal, waits for it, and reports it cancelled, not failed', async () => {
    const logs = captureLogs();
    const g = gate();
    const task = new ScheduledTask({ name: 'test', schedule: EVERY_SECOND, logger: logs.logger, run: g.run });
    task.start();
    const pending = task.runNow('startup');
    assert.equal(g.runs[0]?.signal.aborted, false);
    await task.stop();
    assert.equal(g.runs[0]?.signal.aborted, true);
    const outcome = await pending;
    assert.equal(outcome.status, 'cancelled');
    assert.equal(task.inFlight, undefined);
    assert.doesNotMatch(logs.text(), /run failed/);
  });

  it('a run that throws is a failed outcome, logged under err, and the schedule goes on', async () => {
    const logs = captureLogs();
    let calls = 0;
    const task = new ScheduledTask({
      name: 'test',
      schedule: EVERY_SECOND,
      logger: logs.logger,
      run: () => {
        calls += 1;
        return Promise.reject(new Error(`boom ${calls}`));
      },
    });
    const outcome = await task.runNow('manual');
    assert.equal(outcome.status, 'failed');
    task.start();
    try {
      await waitFor(() => Promise.resolve(calls >= 2), 'a scheduled run after the failure', { timeoutMs: 5_000 });
    } finally {
      await task.stop();
    }
    const failed = logs.records().find((r) => r.msg === 'test: run failed');
    assert.equal((failed?.err as { message?: string } | undefined)?.message, 'boom 1');
  });

  it('logs a run that fires late (the process was suspended) and does not repeat the missed times', async () => {
    const logs = captureLogs();
    // The injected clock jumps ten minutes ahead after the timer is set, as the wall clock does
    // when a suspended host wakes up.
    let skewMs = 0;
    const clock = { now: () => new Date(Date.now() + skewMs) };
    const runs: TaskRun[] = [];
    const task = new ScheduledTask({ name: 'test', schedule: EVERY_SECOND, logger: logs.logger, clock, run: (r) => Promise.resolve(runs.push(r)) });
    task.start();
    const due = task.nextRunAt();
    skewMs = 10 * 60_000;
    try {
      await waitFor(() => Promise.resolve(runs.length >= 1), 'the late run', { timeoutMs: 5_000 });
    } finally {
      await task.stop();
    }
    assert.deepEqual(runs[0]?.scheduledFor, due);
    const late = logs.records().find((r) => typeof r.msg === 'string' && r.msg.includes('fired'));
    assert.ok(late, logs.text());
    assert.equal(late.level, 40);
    assert.equal(late.scheduledFor, due?.toISOString());
    assert.ok(Number(late.lateByMs) >= 10 * 60_000 - 1_000, String(late.lateByMs));
    assert.match(String(late.msg), /^test: the run due at \S+ fired 10 min \d+ s late \(the process was suspended or busy\); running it once now, missed times are not repeated$/);
    // One late run (and at most the next second's, on a loaded machine), never the ~600 missed times.
    assert.ok(runs.length <= 2, `the ~600 missed per-second times are not caught up (${runs.length} runs)`);
  });

  it('reads the expression in its time zone', () => {
    const logs = captureLogs();
    const clock = { now: () => new Date('2026-11-30T12:00:00Z') };
    const berlin = new ScheduledTask({ name: 'test', schedule: { expression: '0 3 * * *', timezone: 'Europe/Berlin' }, logger: logs.logger, clock, run: () => Promise.resolve() });
    berlin.start();
    const next = berlin.nextRunAt();
    void berlin.stop();
    assert.equal(next?.toISOString(), '2026-12-01T02:00:00.000Z', '03:00 in Berlin (CET, UTC+1)');
  });

  it('refuses, when made, a schedule the engine cannot fire, naming the task and the expression', () => {
    const logs = captureLogs();
    assert.throws(
      () => new ScheduledTask({ name: 'backup', schedule: { expression: 'H 3 * * *', timezone: 'UTC' }, logger: logs.logger, run: () => Promise.resolve() }),
      (error: unknown) => error instanceof CronSpecError && /^backup: cannot schedule "H 3 \* \* \*" in UTC: H \(a hashed/.test(error.message),
    );
  });
});
