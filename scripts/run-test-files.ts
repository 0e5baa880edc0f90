// Runs the test files named on the command line with node:test, in the order given, four at once, and
// prints the spec report; exit 1 when a test or a file failed. scripts/test.ts starts it.
//
// Not `node --test <files>`: that sorts the files by name, so the longest ones (scripts/test.ts puts them
// first) started wherever the alphabet put them, and one that started last ran alone at the end while
// the other slots idled (measured: test/storage/s3-store.test.ts alone for the last 4.6 s of a 69 s run).
// The options are what the command line gave: the files' processes get this process's flags (the
// TypeScript loader, the lean harness).
import { pipeline } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const files = process.argv.slice(2);
const tests = run({
  files,
  // Four files at once on two cores: much of a file's time is spent waiting (on PostgreSQL, a lease, a
  // schedule, a child process), and the other files use the cores it leaves idle (measured on 2 cores,
  // checks included: 66.9-68.5 s with 4, 71.5-72.1 s with 3 with a core idle 21 s of it; 114 s with 2
  // before other savings).
  concurrency: 4,
  // A test that hangs fails instead of holding the run: on Node 24 each test gets this long, on Node 22
  // (whose run() does not pass it on to the files' processes) each file.
  timeout: 180_000,
});
// As `node --test` counts: a failing todo test does not fail the run.
tests.on('test:fail', (event) => {
  if (event.todo === undefined || event.todo === false) process.exitCode = 1;
});
await pipeline(tests, new spec(), process.stdout);
