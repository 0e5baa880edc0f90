import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChildFilter } from '../../src/restore/child-filter.ts';
import { waitFor } from '../helpers/wait-for.ts';

// zstd -d (or pg_restore) that writes its last bytes and exits while the reader is slow (psql behind
// it): the pipe still holds output when the exit is seen. The stage must end only after that output,
// or a restore of a complete backup fails as "truncated".
test('a child that exits while its output waits in the pipe: the stage still passes every byte', async () => {
  // 370,000 bytes: more than the stage's 256 KiB buffer, so its stdout is paused with the rest
  // (under the pipe's 64 KiB) left in the pipe when head exits.
  const filter = new ChildFilter('head', 'head', ['-c', '370000', '/dev/zero'], { PATH: process.env.PATH ?? '' });
  filter.end();
  await waitFor(() => filter.child.exitCode !== null, 'head to exit');
  // Let the exit be handled before reading (the stage acts on it in a promise callback).
  await new Promise((resolve) => setImmediate(resolve));
  let bytes = 0;
  for await (const chunk of filter) bytes += (chunk as Buffer).length;
  assert.equal(bytes, 370_000);
});
