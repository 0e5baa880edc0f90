import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('returns the first value the probe gives once the state is there, polling until then', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), 'the third call', { intervalMs: 1 });
    assert.deepEqual(value, { calls: 3 });
  });

  it('keeps polling while the probe answers false, and returns true', async () => {
    let calls = 0;
    assert.equal(await waitFor(() => Promise.resolve(++calls === 2), 'the second call', { intervalMs: 1 }), true);
  });

  it('fails after the timeout naming what it waited for', async () => {
    await assert.rejects(waitFor(() => false, 'a state that never comes', { timeoutMs: 30, intervalMs: 5 }), /timed out after 30 ms waiting for a state that never comes/);
  });

  it('with retryErrors, polls on through a probe that throws until it answers', async () => {
    let calls = 0;
    const probe = () => (++calls < 3 ? Promise.reject(new Error('not listening yet')) : Promise.resolve('up'));
    assert.equal(await waitFor(probe, 'the server', { intervalMs: 1, retryErrors: true }), 'up');
    await assert.rejects(waitFor(() => false, () => 'a state, with the log tail', { timeoutMs: 10, intervalMs: 1 }), /waiting for a state, with the log tail/);
  });

  it('fails at once when the probe throws', async () => {
    const started = Date.now();
    await assert.rejects(waitFor(() => Promise.reject(new Error('probe broke')), 'anything', { timeoutMs: 10_000 }), /probe broke/);
    assert.ok(Date.now() - started < 5_000);
  });
});
