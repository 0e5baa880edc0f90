import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideLease, leaseKey, leaseRecord, leaseTimings, observe, parseLease, serializeLease } from '../../src/leader/lease.ts';

const t = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const TTL = 60_000;

describe('leader lease decisions (pure)', () => {
  it('keeps the lease beside the alert state, under the subfolder', () => {
    assert.equal(leaseKey(''), '.backup-sentinel/leader.json');
    assert.equal(leaseKey('prod/db'), 'prod/db/.backup-sentinel/leader.json');
  });

  it('creates a missing lease and renews its own', () => {
    assert.deepEqual(decideLease(undefined, 'me', t(0), TTL), { kind: 'create' });
    const mine = observe(undefined, { etag: '"1"', body: serializeLease(leaseRecord('me', t(0), t(0), TTL)) }, t(1));
    assert.deepEqual(decideLease(mine, 'me', t(2), TTL), { kind: 'renew', etag: '"1"' });
  });

  it('waits out another holder for its whole TTL from when this instance first saw that version, then takes over', () => {
    // The holder's clock is far ahead: its expiresAt does not matter, only time elapsed here.
    const body = serializeLease(leaseRecord('other', t(0), new Date(t(0).getTime() + 3_600_000), TTL));
    let seen = observe(undefined, { etag: '"a"', body }, t(10));
    assert.deepEqual(decideLease(seen, 'me', t(69), TTL), { kind: 'wait', holder: 'other', until: t(70) });
    // The same version read again: the wait goes on from the first sighting.
    seen = observe(seen, { etag: '"a"', body }, t(40));
    assert.equal(seen?.firstSeenAt.getTime(), t(10).getTime());
    assert.deepEqual(decideLease(seen, 'me', t(70), TTL), { kind: 'take-over', etag: '"a"' });
    // A renewal (new etag) restarts it.
    seen = observe(seen, { etag: '"b"', body }, t(71));
    assert.equal(decideLease(seen, 'me', t(100), TTL).kind, 'wait');
    assert.equal(observe(seen, undefined, t(101)), undefined);
  });

  it("uses the holder's TTL, and ours for a record it cannot read", () => {
    const short = observe(undefined, { etag: '"s"', body: serializeLease(leaseRecord('other', t(0), t(0), 5_000)) }, t(0));
    assert.equal(decideLease(short, 'me', t(5), TTL).kind, 'take-over');
    const junk = observe(undefined, { etag: '"j"', body: Buffer.from('not json') }, t(0));
    assert.equal(junk?.record, undefined);
    assert.deepEqual(decideLease(junk, 'me', t(59), TTL), { kind: 'wait', holder: undefined, until: t(60) });
    assert.equal(decideLease(junk, 'me', t(60), TTL).kind, 'take-over');
    assert.equal(parseLease(Buffer.from('{"holder":"x","ttlSeconds":-1}')), undefined);
  });

  it('a holder stops counting itself leader a quarter TTL before anyone may take over', () => {
    const { tickMs, holdMs } = leaseTimings(TTL);
    assert.equal(tickMs, 15_000);
    assert.equal(holdMs, 45_000);
    assert.ok(holdMs + tickMs <= TTL, 'a holder notices it could not renew before the lease can be taken');
  });
});
