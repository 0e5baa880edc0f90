import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { captureStream } from '../helpers/log-sink.ts';

// Backup heartbeats are only listed by doctor (a test ping would count as a backup run): with sets of
// SENTINEL_CONFIG, each set's own heartbeatUrl is listed under the set, and the shared URL with its sets.
describe('doctor lists the backup heartbeat of each set', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-heartbeats-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("a set's own heartbeatUrl under the set, the shared BACKUP_HEARTBEAT_URL with the sets that ping it; no URL shown", async () => {
    const file = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(file, 'sets:\n  - name: app\n  - name: crm\n    heartbeatUrl: ${CRM_HEARTBEAT}\n  - name: web\n');
    const env = {
      SENTINEL_CONFIG: file,
      BACKUP_DIR: path.join(dir, 'backups'),
      BACKUP_HEARTBEAT_URL: 'https://hc-ping.com/shared-secret-uuid',
      CRM_HEARTBEAT: 'https://uptime.betterstack.com/api/v1/heartbeat/crm-secret-token',
      LOG_LEVEL: 'silent',
    };
    const stdout = captureStream();
    const stderr = captureStream();
    await runCli(['doctor'], env, { stdout: stdout.stream, stderr: stderr.stream });
    const lines = stdout.text().split('\n').filter((l) => l.includes('backup heartbeat'));
    assert.deepEqual(
      lines.map((l) => l.trim()),
      [
        "[ok  ] backup heartbeat: configured (healthchecks heartbeat on hc-ping.com, shared by app, web); pinged at each backup's start and end, not by doctor",
        "[ok  ] set crm: backup heartbeat: configured (betterstack heartbeat on uptime.betterstack.com); pinged at each backup's start and end, not by doctor",
      ],
      stdout.text(),
    );
    assert.doesNotMatch(stdout.text() + stderr.text(), /secret/);
  });
});
