import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { captureStream } from '../helpers/log-sink.ts';

// A set of SENTINEL_CONFIG that gives its own databaseUrl has no BACKUP_DATABASE_URL: what to do must
// name the key in the file, or the reader goes looking for a variable that is not set. A set that takes
// the variable from the environment keeps its name.
describe('hints of a set of SENTINEL_CONFIG name its keys in the file', () => {
  let dir: string;
  let env: Record<string, string>;
  const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runCli(args, env, { stdout: stdout.stream, stderr: stderr.stream });
    return { code, out: stdout.text(), err: stderr.text() };
  };

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'set-hints-'));
    const file = path.join(dir, 'sentinel.yaml');
    await fs.writeFile(file, 'sets:\n  - name: app\n    databaseUrl: ${APP_URL}\n    emptyBackupMaxBytes: 100\n  - name: crm\n');
    // Nothing listens there: connections are refused at once.
    const closed = `postgres://u:secret-pw@127.0.0.1:${await freePort()}`;
    env = { SENTINEL_CONFIG: file, APP_URL: `${closed}/app`, BACKUP_DATABASE_URL: `${closed}/crm`, BACKUP_DIR: path.join(dir, 'backups'), LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('backup and doctor: the connection hint names databaseUrl of the set, or BACKUP_DATABASE_URL where the set takes it', async () => {
    const backup = await cli('backup');
    assert.equal(backup.code, 1, backup.out + backup.err);
    const [app, crm] = backup.err.split(/\n(?=cannot connect)/);
    assert.match(app ?? '', /^cannot connect to database "app".*\nWhat to do: check the host and port in databaseUrl of set "app" in SENTINEL_CONFIG and/);
    assert.match(crm ?? '', /^cannot connect to database "crm".*\nWhat to do: check the host and port in BACKUP_DATABASE_URL and/);
    const doctor = await cli('doctor');
    assert.match(doctor.out, /\[FAIL\] set app: database: connection: cannot connect.*\n\s+What to do: check the host and port in databaseUrl of set "app" in SENTINEL_CONFIG/);
    assert.match(doctor.out, /\[FAIL\] set crm: database: connection: cannot connect.*\n\s+What to do: check the host and port in BACKUP_DATABASE_URL/);
    assert.doesNotMatch(backup.err + doctor.out, /secret-pw/);
  });

  it("check: an empty backup's hint names the set's databaseUrl and emptyBackupMaxBytes", async () => {
    const stamp = new Date().toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
    await fs.mkdir(path.join(dir, 'backups', 'app'), { recursive: true });
    await fs.writeFile(path.join(dir, 'backups', 'app', `backup-${stamp}.sql.gz`), Buffer.alloc(20));
    const check = await cli('check', '--set', 'app');
    assert.equal(check.code, 2, check.out + check.err);
    assert.match(check.out, /databaseUrl of set "app" in SENTINEL_CONFIG names the right database.*\(emptyBackupMaxBytes of set "app" in SENTINEL_CONFIG sets the limit\)/);
    assert.doesNotMatch(check.out, /BACKUP_DATABASE_URL|EMPTY_BACKUP_MAX_BYTES/);
  });
});
