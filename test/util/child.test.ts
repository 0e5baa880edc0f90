import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStderrTail, describeExit, maskSecrets, runChild, startChild } from '../../src/util/child.ts';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe('createStderrTail', () => {
  it('stays bounded however much is written, and keeps the end', () => {
    const tail = createStderrTail({ limit: 100 });
    for (let i = 0; i < 10_000; i++) tail.add(`line ${i}\n`);
    const text = tail.text();
    assert.ok(text.length <= 100, `${text.length} characters`);
    assert.ok(text.endsWith('line 9999'), text);
    assert.ok(!text.includes('line 9000\n'), text);
  });

  it('masks a secret, URL-encoded too, also when it arrives split across chunks', () => {
    const secret = 'p@ss word/42';
    const tail = createStderrTail({ secrets: [secret, undefined, ''] });
    tail.add('FATAL: password p@ss w');
    tail.add('ord/42 rejected\nurl postgres://u:p%40ss%20word%2F42@h/db\n');
    assert.equal(tail.text(), 'FATAL: password *** rejected\nurl postgres://u:***@h/db');
  });

  it('never shows part of a secret that the bounded window cut through', () => {
    const secret = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (let shift = 0; shift < secret.length + 3; shift++) {
      const tail = createStderrTail({ limit: 40, secrets: [secret] });
      tail.add('x'.repeat(200));
      tail.add(secret);
      tail.add('y'.repeat(shift));
      const text = tail.text();
      assert.ok(text.length <= 40, text);
      // Any 4 consecutive characters of the secret would be a leak.
      for (let i = 0; i + 4 <= secret.length; i++) assert.ok(!text.includes(secret.slice(i, i + 4)), `shift ${shift}: ${text}`);
    }
  });

  it('gives the last non-empty lines', () => {
    const tail = createStderrTail();
    tail.add('one\n\ntwo  \nthree\n   \nfour\n\n');
    assert.deepEqual(tail.lines(3), ['two', 'three', 'four']);
  });

  it('maskSecrets leaves text without secrets alone', () => {
    assert.equal(maskSecrets('nothing here', [undefined, '']), 'nothing here');
  });
});

describe('startChild', () => {
  it('gives the child exactly the environment it is handed and the secret only there', async () => {
    const child = startChild('sh', ['-c', 'cat /proc/$$/environ | tr "\\0" "\\n"; echo "oops $PGPASSWORD" >&2'], {
      env: { ...env, PGPASSWORD: 'hunter2-secret' },
      secrets: ['hunter2-secret'],
    });
    let stdout = '';
    child.process.stdout?.setEncoding('utf8');
    child.process.stdout?.on('data', (chunk: string) => (stdout += chunk));
    const exit = await child.exited;
    assert.equal(exit.code, 0);
    assert.deepEqual(stdout.trim().split('\n').sort(), [`PATH=${env.PATH}`, 'PGPASSWORD=hunter2-secret'].sort());
    assert.equal(exit.stderr.text(), 'oops ***');
    assert.ok(!child.process.spawnargs.join(' ').includes('hunter2'));
  });

  it('kills the child when the abort signal fires', async () => {
    const abort = new AbortController();
    const child = startChild('sleep', ['30'], { env, signal: abort.signal });
    await child.started;
    abort.abort();
    const exit = await child.exited;
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(describeExit(exit), 'killed by SIGTERM');
  });

  it('kills with the chosen signal, and kill() after the exit does nothing', async () => {
    const child = startChild('sleep', ['30'], { env, killSignal: 'SIGKILL' });
    await child.started;
    child.kill();
    const exit = await child.exited;
    assert.equal(exit.signal, 'SIGKILL');
    child.kill();
  });

  it('reports a program that cannot start through `started` and the exit, without throwing', async () => {
    const child = startChild('/nonexistent/pg_dump', [], { env });
    await assert.rejects(child.started, /ENOENT/);
    const exit = await child.exited;
    assert.equal(exit.code, null);
    assert.match(describeExit(exit), /^could not start: .*ENOENT/);
  });

  it('runChild returns stdout and stops a child that outlives its time limit', async () => {
    const ok = await runChild('sh', ['-c', 'echo "pg_dump (PostgreSQL) 17.2"; exit 3'], { env });
    assert.equal(ok.stdout, 'pg_dump (PostgreSQL) 17.2\n');
    assert.equal(describeExit(ok), 'exit code 3');
    const slow = await runChild('sleep', ['30'], { env, timeoutMs: 200 });
    assert.equal(slow.timedOut, true);
    assert.equal(describeExit(slow, 200), 'timed out after 0.2 s');
  });

  it('lets one child write straight into another child\'s stdin', async () => {
    const sink = startChild('sh', ['-c', 'wc -c'], { env, stdin: 'pipe' });
    await sink.started;
    const stdin = sink.process.stdin;
    assert.ok(stdin);
    const source = startChild('sh', ['-c', 'head -c 100000 /dev/zero'], { env, stdout: stdin });
    stdin.destroy();
    assert.equal(source.process.stdout, null);
    let counted = '';
    sink.process.stdout?.setEncoding('utf8');
    sink.process.stdout?.on('data', (chunk: string) => (counted += chunk));
    assert.equal((await source.exited).code, 0);
    assert.equal((await sink.exited).code, 0);
    assert.equal(counted.trim(), '100000');
  });
});
