import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  differsMaterially,
  emptyAlertState,
  evaluateAlerts,
  recordDelivery,
  type AlertState,
  type Notification,
} from '../../src/alerts/policy.ts';
import type { CheckName, Finding, Severity } from '../../src/core/findings.ts';

const T0 = new Date('2026-11-27T03:00:00Z');
const hours = (h: number): Date => new Date(T0.getTime() + h * 3_600_000);
const settings = { repeatHours: 24 };

function finding(check: CheckName, severity: Severity = 'fail', summary = `${check} problem`): Finding {
  return { check, severity, summary, values: { ageHours: 27, limitHours: 25 } };
}

// Runs check runs in order, delivering every notification (unless told not to), and returns what was sent.
interface Step {
  at: number;
  findings: Finding[];
  deliver?: boolean;
  scope?: CheckName[];
}
function run(steps: Step[], start: AlertState = emptyAlertState()): { sent: (Notification | undefined)[]; state: AlertState } {
  let state = start;
  const sent: (Notification | undefined)[] = [];
  for (const step of steps) {
    const { notification, next } = evaluateAlerts(state, step.findings, hours(step.at), settings, step.scope);
    state = notification !== undefined && step.deliver !== false ? recordDelivery(next, notification) : next;
    sent.push(notification);
  }
  return { sent, state };
}

function describeNotification(n: Notification | undefined): string {
  if (n === undefined) return '-';
  const parts = [
    n.kind,
    ...n.started.map((i) => `+${i.check}${i.escalated ? '!' : ''}`),
    ...n.resolved.map((r) => `~${r.check}`),
    ...n.stillFiring.map((i) => `=${i.check}`),
  ];
  return parts.join(' ');
}

describe('alert policy', () => {
  const stale = finding('stale');
  const empty = finding('empty', 'warn');
  const failed = finding('backup_failed');
  const cases: { title: string; steps: Step[]; expected: string[] }[] = [
    { title: 'nothing firing sends nothing', steps: [{ at: 0, findings: [] }, { at: 1, findings: [] }], expected: ['-', '-'] },
    { title: 'a new finding fires once, then stays quiet while it keeps firing', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [stale] }, { at: 23, findings: [stale] }], expected: ['firing +stale', '-', '-'] },
    { title: 'findings that start together go out as one message', steps: [{ at: 0, findings: [stale, empty] }], expected: ['firing +stale +empty'] },
    { title: 'a reminder goes out every repeat interval while firing', steps: [{ at: 0, findings: [stale] }, { at: 24, findings: [stale] }, { at: 47, findings: [stale] }, { at: 48, findings: [stale] }], expected: ['firing +stale', 'reminder =stale', '-', 'reminder =stale'] },
    { title: 'a cleared finding sends resolved once', steps: [{ at: 0, findings: [stale] }, { at: 3, findings: [] }, { at: 4, findings: [] }], expected: ['firing +stale', 'resolved ~stale', '-'] },
    { title: 'a second finding starting later lists the first as also firing', steps: [{ at: 0, findings: [stale] }, { at: 2, findings: [stale, empty] }], expected: ['firing +stale', 'firing +empty =stale'] },
    { title: 'one resolving while another keeps firing says both', steps: [{ at: 0, findings: [stale, empty] }, { at: 2, findings: [stale] }], expected: ['firing +stale +empty', 'resolved ~empty =stale'] },
    { title: 'one resolving as another starts is one firing message with the resolved part', steps: [{ at: 0, findings: [stale] }, { at: 2, findings: [empty] }], expected: ['firing +stale', 'firing +empty ~stale'] },
    { title: 'rising from warn to fail notifies again as escalated', steps: [{ at: 0, findings: [finding('stale', 'warn')] }, { at: 1, findings: [finding('stale', 'fail')] }, { at: 2, findings: [finding('stale', 'warn')] }], expected: ['firing +stale', 'firing +stale!', '-'] },
    { title: 'a changed summary alone sends nothing', steps: [{ at: 0, findings: [finding('stale', 'fail', 'no new backup for 27 h')] }, { at: 1, findings: [finding('stale', 'fail', 'no new backup for 28 h')] }], expected: ['firing +stale', '-'] },
    { title: 'an undelivered firing is sent again at the next run', steps: [{ at: 0, findings: [stale], deliver: false }, { at: 1, findings: [stale] }, { at: 2, findings: [stale] }], expected: ['firing +stale', 'firing +stale', '-'] },
    { title: 'a finding that cleared before anyone was told sends no resolved', steps: [{ at: 0, findings: [stale], deliver: false }, { at: 1, findings: [] }], expected: ['firing +stale', '-'] },
    { title: 'an undelivered resolved is sent again at the next run', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [], deliver: false }, { at: 2, findings: [] }, { at: 3, findings: [] }], expected: ['firing +stale', 'resolved ~stale', 'resolved ~stale', '-'] },
    { title: 'firing again before the resolved got through continues the old alert silently', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [], deliver: false }, { at: 2, findings: [stale] }, { at: 3, findings: [stale] }], expected: ['firing +stale', 'resolved ~stale', '-', '-'] },
    { title: 'a scoped backup failure notifies at once and leaves other alerts alone', steps: [{ at: 0, findings: [stale] }, { at: 0.5, findings: [failed], scope: ['backup_failed'] }, { at: 1, findings: [stale, failed] }], expected: ['firing +stale', 'firing +backup_failed =stale', '-'] },
    { title: 'a scoped run never resolves checks outside its scope', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [], scope: ['backup_failed'] }], expected: ['firing +stale', '-'] },
    { title: 'a scoped run carries a reminder that is due', steps: [{ at: 0, findings: [stale] }, { at: 30, findings: [], scope: ['backup_failed'] }, { at: 31, findings: [stale] }], expected: ['firing +stale', 'reminder =stale', '-'] },
    { title: 'a verify run neither resolves nor repeats monitor alerts', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [finding('verify_failed')], scope: ['verify_failed', 'drill_failed'] }, { at: 2, findings: [], scope: ['verify_failed', 'drill_failed'] }, { at: 3, findings: [stale], scope: ['stale', 'empty'] }], expected: ['firing +stale', 'firing +verify_failed =stale', 'resolved ~verify_failed =stale', '-'] },
    { title: 'a monitor run leaves the verify alert firing', steps: [{ at: 0, findings: [finding('verify_failed')], scope: ['verify_failed'] }, { at: 1, findings: [], scope: ['stale', 'empty'] }, { at: 2, findings: [], scope: ['verify_failed'] }], expected: ['firing +verify_failed', '-', 'resolved ~verify_failed'] },
    { title: 'a finding of a check outside the scope still fires', steps: [{ at: 0, findings: [finding('retention', 'warn')], scope: ['stale'] }], expected: ['firing +retention'] },
    { title: 'the same failure repeating notifies again only as the reminder', steps: [{ at: 0, findings: [failed], scope: ['backup_failed'] }, { at: 0.1, findings: [failed] }, { at: 20, findings: [failed], scope: ['backup_failed'] }, { at: 24, findings: [failed], scope: ['backup_failed'] }], expected: ['firing +backup_failed', '-', '-', 'reminder =backup_failed'] },
    { title: 'flapping notifies each start and each end', steps: [{ at: 0, findings: [stale] }, { at: 1, findings: [] }, { at: 2, findings: [stale] }, { at: 3, findings: [] }], expected: ['firing +stale', 'resolved ~stale', 'firing +stale', 'resolved ~stale'] },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const { sent } = run(c.steps);
      assert.deepEqual(sent.map(describeNotification), c.expected);
    });
  }

  it('a reminder is due repeatHours after the last delivered message, not after the start', () => {
    const { sent } = run([
      { at: 0, findings: [stale] },
      { at: 10, findings: [stale, empty] },
      { at: 24, findings: [stale, empty] },
      { at: 34, findings: [stale, empty] },
    ]);
    assert.deepEqual(sent.map(describeNotification), ['firing +stale', 'firing +empty =stale', '-', 'reminder =stale =empty']);
  });

  it('the resolved notice carries how long the alert lasted and since when', () => {
    const { sent } = run([{ at: 0, findings: [stale] }, { at: 27.5, findings: [] }]);
    const resolved = sent[1]?.resolved[0];
    assert.equal(resolved?.durationMs, 27.5 * 3_600_000);
    assert.equal(resolved?.since.toISOString(), T0.toISOString());
    assert.equal(resolved?.summary, 'stale problem');
  });

  it('a reminder keeps the original start time and the latest values', () => {
    const { sent } = run([
      { at: 0, findings: [{ ...stale, values: { ageHours: 26 } }] },
      { at: 24, findings: [{ ...stale, summary: 'no new backup for 50 h', values: { ageHours: 50 } }] },
    ]);
    const item = sent[1]?.stillFiring[0];
    assert.equal(item?.since.toISOString(), T0.toISOString());
    assert.deepEqual(item?.values, { ageHours: 50 });
    assert.equal(item?.summary, 'no new backup for 50 h');
  });

  it('fail alerts are listed before warn alerts', () => {
    const { sent } = run([{ at: 0, findings: [finding('empty', 'warn'), finding('storage_unreachable', 'fail')] }]);
    assert.deepEqual(sent[0]?.started.map((i) => i.check), ['storage_unreachable', 'empty']);
  });

  it('two findings of one check count once, at the worse severity', () => {
    const { sent } = run([{ at: 0, findings: [finding('size_anomaly', 'warn'), finding('size_anomaly', 'fail')] }]);
    assert.equal(sent[0]?.started.length, 1);
    assert.equal(sent[0]?.started[0]?.severity, 'fail');
  });

  it('evaluation never changes the state it was given', () => {
    const { state } = run([{ at: 0, findings: [stale] }]);
    const copy = structuredClone(state);
    evaluateAlerts(state, [], hours(5), settings);
    evaluateAlerts(state, [empty], hours(5), settings);
    assert.deepEqual(state, copy);
  });

  it('only changes that must survive a restart count as material', () => {
    const first = run([{ at: 0, findings: [finding('stale', 'fail', 'no new backup for 27 h')] }]).state;
    const refreshed = evaluateAlerts(first, [finding('stale', 'fail', 'no new backup for 28 h')], hours(1), settings).next;
    assert.equal(differsMaterially(first, refreshed), false);
    const resolved = evaluateAlerts(first, [], hours(1), settings).next;
    assert.equal(differsMaterially(first, resolved), true);
  });
});
