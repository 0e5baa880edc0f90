import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { isLoopbackHost } from '../../src/http/auth.ts';
import { startSentinel, type Sentinel } from '../../src/main.ts';
import { problemsOf } from '../config/fixtures.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const TOKEN = 'tok-3f9a1c5e7b2d4e6f8a0b1c2d3e4f5a6b';
const BASIC_USER = 'prometheus';
const BASIC_PASSWORD = 'pw-9d8c7b6a5f4e3d2c1b0a:with-colon';

// The real service (startSentinel, as `serve` runs it) on directory storage, monitor-only, configured
// from environment variables through loadConfig.
async function startWith(env: Record<string, string>, host = '127.0.0.1'): Promise<{ sentinel: Sentinel; base: string; logs: ReturnType<typeof captureLogs>; dir: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-auth-'));
  const logs = captureLogs('info');
  const sentinel = await startSentinel({ config: loadConfig({ BACKUP_DIR: dir, STATE_DIR: path.join(dir, 'state'), ...env }), logger: logs.logger, host, port: 0 });
  return { sentinel, base: `http://127.0.0.1:${sentinel.port}`, logs, dir };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('HTTP endpoint access', () => {
  describe('with HTTP_AUTH_TOKEN and HTTP_BASIC_AUTH set', () => {
    let started: Awaited<ReturnType<typeof startWith>>;
    before(async () => {
      started = await startWith({ HTTP_AUTH_TOKEN: TOKEN, HTTP_BASIC_AUTH: `${BASIC_USER}:${BASIC_PASSWORD}` });
    });
    after(async () => {
      await started.sentinel.stop();
      await fs.rm(started.dir, { recursive: true, force: true });
    });

    it('answers /status, /metrics and / with 401 and WWW-Authenticate without a credential or with a wrong one', async () => {
      for (const endpoint of ['/status', '/metrics', '/']) {
        for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${TOKEN}x`, basic(BASIC_USER, 'wrong'), basic('someone', BASIC_PASSWORD), `Token ${TOKEN}`, 'Basic !!!']) {
          const response = await fetch(`${started.base}${endpoint}`, authorization === undefined ? {} : { headers: { authorization } });
          assert.equal(response.status, 401, `${endpoint} with ${authorization ?? 'no Authorization header'}`);
          const challenge = response.headers.get('www-authenticate') ?? '';
          assert.match(challenge, /Bearer realm="backup-sentinel"/);
          assert.match(challenge, /Basic realm="backup-sentinel"/);
          const body = await response.text();
          assert.ok(!body.includes(TOKEN) && !body.includes(BASIC_PASSWORD), 'a 401 never quotes a credential');
        }
      }
    });

    it('answers 200 with the right bearer token or the right basic credentials', async () => {
      for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, basic(BASIC_USER, BASIC_PASSWORD)]) {
        const status = await fetch(`${started.base}/status`, { headers: { authorization } });
        assert.equal(status.status, 200, authorization.split(' ')[0]);
        const metrics = await fetch(`${started.base}/metrics`, { headers: { authorization } });
        assert.equal(metrics.status, 200);
        assert.match(await metrics.text(), /backup_sentinel_build_info/);
      }
    });

    it('guards the status page at / too: a browser without credentials gets 401, with basic auth the page', async () => {
      const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
      const refused = await fetch(`${started.base}/`, { headers: html });
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /Basic realm=/, 'a browser can ask for the user and password itself');
      const page = await fetch(`${started.base}/`, { headers: { ...html, authorization: basic(BASIC_USER, BASIC_PASSWORD) } });
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    });

    it('leaves /livez, /readyz and /health open for probes and uptime monitors', async () => {
      for (const endpoint of ['/livez', '/readyz', '/health']) {
        const response = await fetch(`${started.base}${endpoint}`);
        assert.notEqual(response.status, 401, endpoint);
      }
      assert.equal((await fetch(`${started.base}/livez`)).status, 200);
    });

    it('shows no credential in /status or the logs', async () => {
      const status = await (await fetch(`${started.base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      for (const text of [status, started.logs.text()]) {
        assert.ok(!text.includes(TOKEN), 'token shown');
        assert.ok(!text.includes(BASIC_PASSWORD), 'password shown');
      }
    });
  });

  it('closes /livez, /readyz and /health too with HTTP_AUTH_HEALTH=true', async () => {
    const started = await startWith({ HTTP_AUTH_TOKEN: TOKEN, HTTP_AUTH_HEALTH: 'true' });
    try {
      for (const endpoint of ['/livez', '/readyz', '/health']) {
        assert.equal((await fetch(`${started.base}${endpoint}`)).status, 401, endpoint);
      }
      assert.equal((await fetch(`${started.base}/livez`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    } finally {
      await started.sentinel.stop();
      await fs.rm(started.dir, { recursive: true, force: true });
    }
  });

  it('without credentials every endpoint stays open, as before', async () => {
    const started = await startWith({});
    try {
      for (const endpoint of ['/status', '/metrics', '/', '/health']) assert.notEqual((await fetch(`${started.base}${endpoint}`)).status, 401, endpoint);
    } finally {
      await started.sentinel.stop();
      await fs.rm(started.dir, { recursive: true, force: true });
    }
  });

  it('warns once at start when the endpoints are open on an address other hosts can reach', async () => {
    const warningsOf = (logs: ReturnType<typeof captureLogs>) => logs.records().filter((r) => r['level'] === 40 && /HTTP_AUTH_TOKEN/.test(String(r['msg'])));
    const open = await startWith({}, '0.0.0.0');
    const closed = await startWith({ HTTP_AUTH_TOKEN: TOKEN }, '0.0.0.0');
    const loopback = await startWith({}, '127.0.0.1');
    try {
      assert.equal(warningsOf(open.logs).length, 1, 'open on 0.0.0.0: one warning');
      assert.match(String(warningsOf(open.logs)[0]?.['msg']), /\/status and \/metrics are open/);
      assert.equal(warningsOf(closed.logs).length, 0, 'with a token: no warning');
      assert.equal(warningsOf(loopback.logs).length, 0, 'on loopback: no warning');
      assert.ok(!closed.logs.text().includes(TOKEN));
    } finally {
      for (const s of [open, closed, loopback]) {
        await s.sentinel.stop();
        await fs.rm(s.dir, { recursive: true, force: true });
      }
    }
  });

  it('tells loopback addresses from others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['::', '0.0.0.0', '10.0.0.5', 'fd00::1', 'example.com']) assert.equal(isLoopbackHost(host), false, host);
  });

  it('refuses a HTTP_BASIC_AUTH without a colon, naming the variable but not its value', () => {
    const secret = 'prometheus-no-colon-s3cret';
    const error = problemsOf({ HTTP_BASIC_AUTH: secret });
    const problem = error.problems.find((p) => p.variable === 'HTTP_BASIC_AUTH');
    assert.ok(problem, 'HTTP_BASIC_AUTH is named');
    assert.match(problem.expected, /user:password/);
    assert.ok(!`${error.message}\n${JSON.stringify(error.problems)}`.includes(secret), 'the value is not shown');
    for (const value of [':password', 'user:']) assert.ok(problemsOf({ HTTP_BASIC_AUTH: value }).problems.some((p) => p.variable === 'HTTP_BASIC_AUTH'), value);
  });

  it('refuses HTTP_AUTH_HEALTH=true without a credential to ask for', () => {
    assert.deepEqual(problemsOf({ HTTP_AUTH_HEALTH: 'true' }).problems.map((p) => p.variable), ['HTTP_AUTH_HEALTH']);
  });
});
