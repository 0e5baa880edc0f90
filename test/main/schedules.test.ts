import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';

// The wall-clock time of `date` in `timeZone`, as "HH:MM".
function localTime(date: string | Date | undefined, timeZone: string): string {
  assert.ok(date !== undefined && date !== null, 'a next run time');
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(date));
}

describe('schedules of the composed service', () => {
  it('reads backup, monitor and verify schedules in CRON_TZ and shows the zone in /status', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'schedules-'));
    const zone = 'America/New_York';
    const sentinel = await startSentinel({
      config: loadConfig({
        BACKUP_DIR: dir,
        // Nothing listens on port 1; no backup runs here (no RUN_ON_STARTUP), only the schedule.
        BACKUP_DATABASE_URL: 'postgres://app:pw@127.0.0.1:1/app',
        CRON_TZ: zone,
        BACKUP_CRON_SCHEDULE: '0 3 * * *',
        MONITOR_CRON: '17 9 * * *',
        VERIFY_CRON: '30 4 * * *',
      }),
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
    });
    try {
      const status = (await (await fetch(`http://127.0.0.1:${sentinel.port}/status`)).json()) as {
        backup: { schedule: string; timezone: string; nextRunAt: string };
        verify: { nextRunAt: string };
      };
      assert.equal(status.backup.timezone, zone);
      assert.equal(status.backup.schedule, '0 3 * * *');
      assert.equal(localTime(status.backup.nextRunAt, zone), '03:00');
      assert.equal(localTime(status.verify.nextRunAt, zone), '04:30');
      assert.equal(localTime(sentinel.monitor.nextCheckAt(), zone), '09:17');
    } finally {
      await sentinel.stop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
