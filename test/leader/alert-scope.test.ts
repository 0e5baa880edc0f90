import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorAlertScope } from '../../src/main.ts';
import { MONITOR_CHECKS } from '../../src/monitor/checks.ts';

describe('which checks a monitor result speaks for in alerts', () => {
  it('leaves backup_failed alone until this process has attempted a backup itself', () => {
    assert.ok(!monitorAlertScope(true, false).includes('backup_failed'), 'a new replica would resolve its predecessor\'s failed backup');
    assert.deepEqual(monitorAlertScope(true, true), MONITOR_CHECKS);
    // Monitor-only: no backup of its own will ever come, so the storage checks decide alone.
    assert.deepEqual(monitorAlertScope(false, false), MONITOR_CHECKS);
    assert.deepEqual([...monitorAlertScope(true, false), 'backup_failed'].sort(), [...MONITOR_CHECKS].sort());
  });
});
