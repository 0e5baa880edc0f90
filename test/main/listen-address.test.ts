import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel } from '../../src/main.ts';

// GET /livez on one address family; undefined when nothing answers there.
function livez(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get({ host, port, path: '/livez', timeout: 5000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', () => resolve(undefined));
    request.on('timeout', () => request.destroy());
  });
}

// The address the HTTP server binds to: dual-stack by default, so a private network that resolves the
// service to IPv6 only (Railway's older environments) reaches it as well as an IPv4 one.
describe('the HTTP listen address', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'listen-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('by default /livez answers on both 127.0.0.1 and ::1', async () => {
    const sentinel = await startSentinel({ config: loadConfig({ BACKUP_DIR: dir, PORT: '0', LOG_LEVEL: 'silent' }), logger: silentLogger() });
    try {
      assert.equal(await livez('127.0.0.1', sentinel.port), 200, 'IPv4 loopback');
      assert.equal(await livez('::1', sentinel.port), 200, 'IPv6 loopback');
    } finally {
      await sentinel.stop();
    }
  });

  it('HOST narrows it to one address, and an explicit host from the caller (demo, tests) still wins', async () => {
    const onlyV4 = await startSentinel({ config: loadConfig({ BACKUP_DIR: dir, PORT: '0', HOST: '127.0.0.1' }), logger: silentLogger() });
    try {
      assert.equal(await livez('127.0.0.1', onlyV4.port), 200);
      assert.equal(await livez('::1', onlyV4.port), undefined, 'nothing listens on IPv6 with HOST=127.0.0.1');
    } finally {
      await onlyV4.stop();
    }
    const explicit = await startSentinel({ config: loadConfig({ BACKUP_DIR: dir, PORT: '0', HOST: '127.0.0.1' }), logger: silentLogger(), host: '::1', port: 0 });
    try {
      assert.equal(await livez('::1', explicit.port), 200);
      assert.equal(await livez('127.0.0.1', explicit.port), undefined, 'StartOptions.host overrides HOST');
    } finally {
      await explicit.stop();
    }
  });
});
