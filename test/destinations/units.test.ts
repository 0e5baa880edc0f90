import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateAlerts, type AlertState } from '../../src/alerts/policy.ts';
import { pairKey, splitPair, unitOf, type Finding } from '../../src/core/findings.ts';
import { tagDestination } from '../../src/destinations/destination-sets.ts';
import { tagPair } from '../../src/destinations/set-destinations.ts';

// The one name of what a finding is about (alert keys, /health, metrics): a set, a destination, or both.
describe('units of sets and destinations', () => {
  const stale: Finding = { check: 'stale', severity: 'fail', summary: 'no new backup for 27 h', values: {} };

  it('a pair splits back into its set and destination, whatever the set name holds', () => {
    for (const set of ['app', 'analytics/events', 'a@b', '@globals']) assert.deepEqual(splitPair(pairKey(set, 'r2')), { set, destination: 'r2' });
    const tagged = tagPair(pairKey('a@b', 'r2'), stale);
    assert.deepEqual([tagged.set, tagged.destination, tagged.summary], ['a@b', 'r2', 'a@b in r2: no new backup for 27 h']);
    assert.equal(unitOf(tagged), 'a@b@r2');
  });

  it("a destination's finding keeps the alert key an alert of that destination had before it carried the field", () => {
    const at = new Date('2026-11-30T10:00:00Z');
    // What an earlier version stored: the destination's name in `set`.
    const previous: AlertState = {
      version: 1,
      firing: { 'stale:s3': { check: 'stale', set: 's3', severity: 'fail', summary: 's3: no new backup for 26 h', values: {}, startedAt: '2026-11-30T09:00:00Z', lastSeenAt: '2026-11-30T09:00:00Z', notifiedAt: '2026-11-30T09:00:00Z', notifiedSeverity: 'fail' } },
      resolved: [],
    };
    const still = evaluateAlerts(previous, [tagDestination('s3', stale)], at, { repeatHours: 24 }, ['stale'], 's3');
    assert.deepEqual(Object.keys(still.next.firing), ['stale:s3']);
    assert.equal(still.notification, undefined, 'the same alert, not a new one');
    const cleared = evaluateAlerts(previous, [], at, { repeatHours: 24 }, ['stale'], 's3');
    assert.deepEqual(Object.keys(cleared.next.firing), []);
    assert.equal(cleared.notification?.kind, 'resolved');
  });

  it('the same set in two destinations is two alerts, each resolved by its own check', () => {
    const at = new Date('2026-11-30T10:00:00Z');
    const both = [tagPair(pairKey('app', 'r2'), stale), tagPair(pairKey('app', 'nas'), stale)];
    let state = evaluateAlerts({ version: 1, firing: {}, resolved: [] }, both.slice(0, 1), at, { repeatHours: 24 }, ['stale'], pairKey('app', 'r2')).next;
    state = evaluateAlerts(state, both.slice(1), at, { repeatHours: 24 }, ['stale'], pairKey('app', 'nas')).next;
    assert.deepEqual(Object.keys(state.firing).sort(), ['stale:app@nas', 'stale:app@r2']);
    assert.deepEqual([state.firing['stale:app@r2']?.set, state.firing['stale:app@r2']?.destination], ['app', 'r2']);
    state = evaluateAlerts(state, [], at, { repeatHours: 24 }, ['stale'], pairKey('app', 'nas')).next;
    assert.deepEqual(Object.keys(state.firing), ['stale:app@r2'], 'the check of app in nas resolves only that one');
  });
});
