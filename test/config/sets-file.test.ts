import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { captureStream } from '../helpers/log-sink.ts';
import { problemsOf } from './fixtures.ts';

// SENTINEL_CONFIG: backup sets from a YAML file, validated by the same readers as the environment.
describe('backup sets from a YAML file (SENTINEL_CONFIG)', () => {
  const MARK = 'Yq9secretW';
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sets-file-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const file = async (text: string): Promise<string> => {
    const name = path.join(dir, `sets-${n++}.yaml`);
    await fs.writeFile(name, text);
    return name;
  };
  const env = (sentinelConfig: string, more: Record<string, string> = {}): Record<string, string> => ({
    SENTINEL_CONFIG: sentinelConfig,
    BACKUP_DIR: path.join(dir, 'backups'),
    APP_DATABASE_URL: `postgres://app:${MARK}@db1.example.com:5432/app`,
    ...more,
  });

  it('reads each set with its own settings, the environment filling in what a set leaves out', async () => {
    const config = loadConfig(
      env(
        await file(`
sets:
  - name: app
    databaseUrl: \${APP_DATABASE_URL}
    schedule: "15 2 * * *"
    compression: zstd:5
    maxAgeHours: 13
    retentionDays: 14
  - name: crm
    databaseUrl: postgres://crm@db2.example.com:5433/crm
    subfolder: other/crm
    prefix: crm_
    keepDaily: 7
    encryptionRecipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
`),
        { BACKUP_COMPRESSION: 'gzip:9', BUCKET_SUBFOLDER: 'prod', SIZE_WINDOW: '5' },
      ),
    );
    const [app, crm] = config.sets ?? [];
    assert.equal(config.sets?.length, 2);
    assert.deepEqual(app?.location, { subfolder: 'prod/app', prefix: 'backup-' }, 'a folder named after the set, under BUCKET_SUBFOLDER');
    assert.equal(app?.backup?.databaseUrl.reveal(), `postgres://app:${MARK}@db1.example.com:5432/app`, '${...} resolved from the environment');
    assert.equal(app?.backup?.cron, '15 2 * * *');
    assert.deepEqual(app?.backup?.compression, { algorithm: 'zstd', level: 5 });
    assert.equal(app?.monitor.maxAgeHours, 13);
    assert.equal(app?.monitor.sizeWindow, 5, 'SIZE_WINDOW from the environment');
    assert.equal(app?.retention.days, 14);
    assert.deepEqual(crm?.location, { subfolder: 'other/crm', prefix: 'crm_' });
    assert.deepEqual(crm?.backup?.compression, { algorithm: 'gzip', level: 9 }, 'BACKUP_COMPRESSION from the environment');
    assert.equal(crm?.backup?.cron, '0 3 * * *', 'the default schedule');
    assert.equal(crm?.retention.tiers?.daily, 7);
    assert.equal(crm?.encryption.recipients.length, 1);
    assert.equal(loadConfig({ BACKUP_DIR: dir }).sets, undefined, 'without SENTINEL_CONFIG: no sets, everything as before');
  });

  it("the guide's complete example is a valid file", async () => {
    const guide = await fs.readFile(new URL('../../docs/BACKUP_CONFIGURATION.md', import.meta.url), 'utf8');
    const example = /```yaml\n(# sentinel\.yaml[\s\S]*?)```/.exec(guide)?.[1];
    assert.ok(example !== undefined, 'the example is in the guide');
    const config = loadConfig(env(await file(example), { ANALYTICS_DATABASE_URL: 'postgres://u@db2.example.com:5432/analytics' }));
    assert.deepEqual(config.sets?.map((s) => s.name), ['app', 'analytics', 'legacy']);
    assert.deepEqual(config.sets?.[1]?.databases, { kind: 'names', names: ['events', 'reports'] });
    assert.equal(config.sets?.[2]?.backup, undefined, 'legacy only monitors');
  });

  it('reports a problem in each of three sets at once, each with its path in the file and line', async () => {
    const error = problemsOf(
      env(
        await file(`sets:
  - name: app
    databaseUrl: \${APP_DATABASE_URL}
    schedule: "0 3 * *"
  - name: crm
    compression: brotli
  - name: shop
    databaseUrl: \${SHOP_DATABASE_URL}
    maxAgeHours: soon
`),
      ),
    );
    assert.deepEqual(
      error.problems.map((p) => p.variable),
      ['sets[0].schedule (line 4)', 'sets[1].compression (line 6)', 'sets[2].databaseUrl (line 8)', 'sets[2].maxAgeHours (line 9)'],
    );
    // The same words as the variable's own problem, with the path instead of the variable's name.
    const sameAsEnv = problemsOf({ BACKUP_COMPRESSION: 'brotli' }).problems[0];
    assert.equal(error.problems[1]?.expected, sameAsEnv?.expected);
    assert.equal(error.problems[1]?.given, '"brotli"');
    assert.match(error.problems[2]?.expected ?? '', /SHOP_DATABASE_URL to be set/);
    assert.match(error.message ?? '', /sets\[0\]\.schedule \(line 4\): expected a cron expression/);
    assert.match(error.hint ?? '', /SENTINEL_CONFIG file/);
  });

  it('a problem of the environment itself is reported once, not once per set', async () => {
    const error = problemsOf(env(await file('sets:\n  - name: a\n  - name: b\n'), { BACKUP_FORMAT: 'tar' }));
    assert.deepEqual(error.problems.map((p) => p.variable), ['BACKUP_FORMAT']);
  });

  it('refuses unknown keys, duplicate names, wrong shapes and broken YAML, naming where', async () => {
    const shapes = problemsOf(
      env(
        await file(`sets:
  - name: app
    schedul: "0 3 * * *"
  - name: app
  - name: "bad/name"
    schedule: { at: 3 }
  - just a string
`),
      ),
    );
    const variables = shapes.problems.map((p) => p.variable);
    assert.deepEqual(variables, ['sets[0].schedul (line 3)', 'sets[1].name (line 4)', 'sets[2].name (line 5)', 'sets[2].schedule (line 6)', 'sets[3] (line 7)']);
    assert.match(shapes.problems[0]?.given ?? '', /unknown key "schedul"/);
    assert.match(shapes.problems[1]?.given ?? '', /also the name of sets\[0\]/);
    assert.match(shapes.problems[3]?.given ?? '', /a mapping/);
    const broken = problemsOf(env(await file('sets:\n  - name: app\n   schedule: [\n')));
    assert.match(broken.problems[0]?.variable ?? '', /^SENTINEL_CONFIG \(line \d+\)$/);
    assert.equal(broken.problems[0]?.expected, 'a valid YAML file');
    const missing = problemsOf(env(path.join(dir, 'no-such.yaml')));
    assert.match(missing.message ?? '', /SENTINEL_CONFIG: expected the path of a readable YAML file.*no-such\.yaml.*ENOENT/);
    const empty = problemsOf(env(await file('sets: []\n')));
    assert.equal(empty.problems[0]?.variable, 'sets (line 1)');
  });

  it('refuses two sets whose backups would lie under one another, naming both', async () => {
    const error = problemsOf(
      env(
        await file(`sets:
  - name: app
  - name: app-copy
    subfolder: app
  - name: all
    subfolder: ""
    databases: "*"
    databaseUrl: \${APP_DATABASE_URL}
`),
      ),
    );
    const overlap = error.problems.filter((p) => /of its own/.test(p.expected));
    assert.deepEqual(overlap.map((p) => p.variable), ['sets[1].subfolder (line 4)', 'sets[2].subfolder (line 6)', 'sets[2].subfolder (line 6)']);
    assert.match(overlap[0]?.given ?? '', /"app\/backup-" for sets\[1\] "app-copy", overlapping "app\/backup-" of sets\[0\] "app"/);
    assert.match(overlap[1]?.given ?? '', /the bucket root/);
  });

  it('never shows a secret a set refers to: neither in a problem nor in `config`', async () => {
    const bad = problemsOf(env(await file('sets:\n  - name: app\n    databaseUrl: ${BAD_URL}\n'), { BAD_URL: `mysql://app:${MARK}@db/app` }));
    assert.match(bad.problems[0]?.variable ?? '', /^sets\[0\]\.databaseUrl/);
    assert.ok(!JSON.stringify(bad.problems).includes(MARK), JSON.stringify(bad.problems));
    const stdout = captureStream();
    const stderr = captureStream();
    const yaml = await file('sets:\n  - name: app\n    databaseUrl: ${APP_DATABASE_URL}\n    encryptionPassphrase: ${PASS}\n');
    const code = await runCli(['config'], { ...env(yaml), PASS: `${MARK}pass`, LOG_LEVEL: 'silent' }, { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 0, stderr.text());
    assert.ok(!stdout.text().includes(MARK), stdout.text());
    assert.match(stdout.text(), /^sets\[0\]\.name: app$/m);
    assert.match(stdout.text(), /^sets\[0\]\.backup\.databaseUrl: postgres:\/\/\*\*\*@db1\.example\.com:5432\/app$/m);
    assert.match(stdout.text(), /^sets\[0\]\.encryption\.passphrase: \*\*\*$/m);
  });

  it('serve stops at start with one message listing every problem of the file', async () => {
    const stdout = captureStream();
    const stderr = captureStream();
    const yaml = await file('sets:\n  - name: a\n    format: tar\n  - name: b\n    sizeWindow: 0\n  - name: c\n    retentionDays: many\n');
    const code = await runCli(['serve'], { ...env(yaml), LOG_LEVEL: 'silent' }, { stdout: stdout.stream, stderr: stderr.stream });
    assert.notEqual(code, 0);
    const text = stderr.text() + stdout.text();
    assert.match(text, /3 problems/);
    for (const p of ['sets[0].format (line 3)', 'sets[1].sizeWindow (line 5)', 'sets[2].retentionDays (line 7)']) assert.ok(text.includes(p), `${p} missing:\n${text}`);
  });
});
