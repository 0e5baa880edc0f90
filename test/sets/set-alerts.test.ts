import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyAlertState, evaluateAlerts, recordDelivery, type AlertState } from '../../src/alerts/policy.ts';
import { parseAlertState } from '../../src/alerts/state-store.ts';
import type { Finding } from '../../src/core/findings.ts';
import { MONITOR_CHECKS } from '../../src/monitor/checks.ts';
import { tagFinding } from '../../src/sets/set-monitors.ts';

const stale = (set: string): Finding => tagFinding(set, { check: 'stale', severity: 'fail', summary: 'no new backup for 27 h (limit 25 h)', values: { ageHours: 27 } });
const settings = { repeatHours: 24 };

// The alert state machine with backup sets: one alert per set and check, each resolved only by its own set.
describe('alerts per backup set', () => {
  it('two sets stale at once are two alerts, each naming its set', () => {
    const t = new Date('2026-03-01T00:00:00Z');
    const first = evaluateAlerts(emptyAlertState(), [stale('app')], t, settings, MONITOR_CHECKS, 'app');
    const second = evaluateAlerts(recordDelivery(first.next, first.notification!), [stale('app_v2')], t, settings, MONITOR_CHECKS, 'app_v2');
    assert.deepEqual(Object.keys(second.next.firing).sort(), ['stale:app', 'stale:app_v2']);
    assert.deepEqual(second.notification?.started.map((i) => [i.set, i.summary]), [['app_v2', 'app_v2: no new backup for 27 h (limit 25 h)']]);
    assert.deepEqual(second.notification?.stillFiring.map((i) => i.set), ['app']);
  });

  it("a clear check of one set leaves another set's alert firing, and resolves only its own", () => {
    const t = new Date('2026-03-01T00:00:00Z');
    let state: AlertState = emptyAlertState();
    for (const set of ['app', 'app_v2']) {
      const e = evaluateAlerts(state, [stale(set)], t, settings, MONITOR_CHECKS, set);
      state = e.notification === undefined ? e.next : recordDelivery(e.next, e.notification);
    }
    const clearApp = evaluateAlerts(state, [], new Date(t.getTime() + 60_000), settings, MONITOR_CHECKS, 'app');
    assert.deepEqual(Object.keys(clearApp.next.firing), ['stale:app_v2']);
    assert.deepEqual(clearApp.notification?.resolved.map((r) => r.set), ['app']);
    // A service-wide run (no set) touches no set's alert.
    const global = evaluateAlerts(clearApp.next, [], new Date(t.getTime() + 120_000), settings, ['stale', 'retention']);
    assert.deepEqual(Object.keys(global.next.firing), ['stale:app_v2']);
  });

  it('the stored state keeps set alerts across a restart, and a single-database state reads as before', () => {
    const t = new Date('2026-03-01T00:00:00Z');
    const e = evaluateAlerts(emptyAlertState(), [stale('shop data')], t, settings, MONITOR_CHECKS, 'shop data');
    const stored = JSON.stringify({ ...e.next, revision: 1 });
    const loaded = parseAlertState(stored);
    assert.equal(loaded.kind, 'loaded');
    assert.equal(loaded.kind === 'loaded' ? loaded.state.firing['stale:shop data']?.set : undefined, 'shop data');
    const single = evaluateAlerts(emptyAlertState(), [{ check: 'stale', severity: 'fail', summary: 's', values: {} }], t, settings, MONITOR_CHECKS);
    assert.deepEqual(Object.keys(single.next.firing), ['stale'], 'one database: keyed by the check alone, as before');
  });
});
