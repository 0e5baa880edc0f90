import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeStall, watchForStall } from '../../src/backup/stall-watch.ts';

describe('judgeStall', () => {
  it('is moving before half the timeout, slow from half, stalled at the timeout', () => {
    assert.equal(judgeStall(1_000, 1_000, 600), 'moving');
    assert.equal(judgeStall(1_000, 1_299, 600), 'moving');
    assert.equal(judgeStall(1_000, 1_300, 600), 'slow');
    assert.equal(judgeStall(1_000, 1_599, 600), 'slow');
    assert.equal(judgeStall(1_000, 1_600, 600), 'stalled');
  });
});

describe('watchForStall', () => {
  it('warns once, then declares a stall, and never while the progress counter moves', async () => {
    let bytes = 0;
    const events: string[] = [];
    const moving = setInterval(() => (bytes += 1), 5);
    // The watch's timer does not keep the process alive (a backup ending must not wait for it): this does.
    const keepAlive = setTimeout(() => {}, 10_000);
    let stalled!: () => void;
    const done = new Promise<void>((resolve) => (stalled = resolve));
    const watch = watchForStall({
      timeoutMs: 200,
      progress: () => bytes,
      onSlow: () => events.push('slow'),
      onStall: (idleMs) => {
        events.push(`stall after ${idleMs >= 200 ? '>=' : '<'} timeout`);
        stalled();
      },
    });
    // Progress for a while: nothing is reported, however long it takes.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(events, []);
    clearInterval(moving);
    await done;
    watch.stop();
    clearTimeout(keepAlive);
    assert.deepEqual(events, ['slow', 'stall after >= timeout']);
  });
});
