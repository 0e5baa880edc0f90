import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';

const harness = path.join(import.meta.dirname, 'lean-test-harness.js');
const fixture = (name: string) => path.join(import.meta.dirname, 'fixtures', name);
const underLeanHarness = process.execArgv.some((arg) => arg.includes('lean-test-harness.js'));

// A test run of its own: without NODE_TEST_CONTEXT, which makes a node --test started inside a test file
// report to its parent's runner instead.
async function runUnderHarness(file: string) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return await execa(process.execPath, ['--import', harness, '--test', '--test-reporter=tap', fixture(file)], { reject: false, all: true, env, extendEnv: false });
}

describe('the lean test harness (node:test without promise tracking)', () => {
  it('keeps tests and hooks in the suites that declare them, and leaves promises untracked', async () => {
    const run = await runUnderHarness('lean-harness-nesting.js');
    assert.equal(run.exitCode, 0, run.all);
    assert.match(run.all, /^# pass 6$/m, run.all);
  });

  it('still fails the run on an error thrown or rejected outside the test code', async () => {
    const run = await runUnderHarness('lean-harness-late-error.js');
    assert.equal(run.exitCode, 1, run.all);
    assert.match(run.all, /thrown from a timer/);
    assert.match(run.all, /rejected without a handler/);
  });

  // scripts/test.ts loads the harness into every test process: if a Node release builds node:test another
  // way, the harness finds no hook to replace, and this says so instead of the suite quietly slowing down.
  it('found node:test\'s hook in this process', { skip: !underLeanHarness && 'not run by scripts/test.ts' }, () => {
    assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for('backup-sentinel.lean-test-harness')], true);
  });
});
