import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Registry, Gauge } from 'prom-client';
import { createHttpApp, type HttpAppOptions } from '../../src/http/app.ts';
import type { Finding } from '../../src/core/findings.ts';

const servers: Server[] = [];

async function serve(options: HttpAppOptions): Promise<string> {
  const server = createHttpApp(options).listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const stale: Finding = { check: 'stale', severity: 'fail', summary: 'no new backup for 27 h (limit 25 h)', values: { ageHours: 27, limitHours: 25 } };
const anomaly: Finding = { check: 'size_anomaly', severity: 'warn', summary: 'newest backup is 40% of the median', values: { ratio: 0.4 } };

describe('HTTP app', () => {
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('answers /livez with 200 even when every provider throws', async () => {
    const boom = (): never => {
      throw new Error('provider broken');
    };
    const base = await serve({ health: boom, status: boom, ready: boom });
    const live = await fetch(`${base}/livez`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'ok' });
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 503);
    assert.equal((await fetch(`${base}/status`)).status, 200);
  });

  it('keeps answering while many clients hold connections open with half-sent headers (slow-loris)', async () => {
    const base = await serve({});
    const { port } = new URL(base);
    const sockets = await Promise.all(
      Array.from({ length: 200 }, () => new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ');
          resolve(socket);
        });
        socket.on('error', reject);
      })),
    );
    try {
      const live = await fetch(`${base}/livez`, { signal: AbortSignal.timeout(5000) });
      assert.equal(live.status, 200);
      assert.equal((await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) })).status, 200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('works with no providers at all', async () => {
    const base = await serve({});
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json() as { status: string }).status, 'pass');
    assert.equal((await fetch(`${base}/metrics`)).status, 404);
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    assert.equal(status.service, 'backup-sentinel');
  });

  it('serves /health as health+json: 503 on fail, 200 on warn and pass', async () => {
    let findings: Finding[] = [stale, anomaly];
    const base = await serve({
      name: 'prod-db',
      health: () => ({ findings, checkedAt: new Date('2026-01-01T00:00:00Z'), checks: ['stale', 'empty', 'size_anomaly'] }),
    });
    let response = await fetch(`${base}/health`);
    assert.equal(response.status, 503);
    assert.match(response.headers.get('content-type') ?? '', /^application\/health\+json/);
    const body = (await response.json()) as { status: string; serviceId: string; checks: Record<string, { status: string; output?: string }[]> };
    assert.equal(body.status, 'fail');
    assert.equal(body.serviceId, 'prod-db');
    assert.equal(body.checks['backup:stale']?.[0]?.status, 'fail');
    assert.equal(body.checks['backup:stale']?.[0]?.output, stale.summary);
    assert.equal(body.checks['backup:size_anomaly']?.[0]?.status, 'warn');
    assert.equal(body.checks['backup:empty']?.[0]?.status, 'pass');

    findings = [anomaly];
    response = await fetch(`${base}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, 'warn');

    findings = [];
    response = await fetch(`${base}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, 'pass');
  });

  it('reports warn, not fail, before the first check has finished', async () => {
    const base = await serve({ health: () => ({ findings: [], checkedAt: undefined }) });
    const response = await fetch(`${base}/health`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, 'warn');
  });

  it('answers /readyz 503 with reasons until ready', async () => {
    let ready = false;
    const base = await serve({ ready: () => ({ ready, reasons: ready ? [] : ['storage not reached yet'] }) });
    let response = await fetch(`${base}/readyz`);
    assert.equal(response.status, 503);
    assert.deepEqual(((await response.json()) as { reasons: string[] }).reasons, ['storage not reached yet']);
    ready = true;
    response = await fetch(`${base}/readyz`);
    assert.equal(response.status, 200);
  });

  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const registry = new Registry();
    new Gauge({ name: 'backup_sentinel_test_value', help: 'a test gauge', registers: [registry] }).set(42);
    const base = await serve({ registry });
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await response.text(), /^backup_sentinel_test_value 42$/m);
  });

  it('answers /metrics 500 when a collect() rejects, and keeps serving other endpoints', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'backup_sentinel_broken',
      help: 'a gauge whose collect fails',
      registers: [registry],
      collect() {
        throw new Error('broken collect');
      },
    });
    const base = await serve({ registry });
    assert.equal((await fetch(`${base}/metrics`)).status, 500);
    assert.equal((await fetch(`${base}/livez`)).status, 200);
  });

  it('merges the status provider into /status', async () => {
    const base = await serve({ status: () => ({ nextBackupAt: '2026-01-02T03:00:00.000Z', findings: [stale] }), health: () => ({ findings: [stale], checkedAt: new Date() }) });
    const body = (await (await fetch(`${base}/status`)).json()) as { nextBackupAt: string; health: { status: string } };
    assert.equal(body.nextBackupAt, '2026-01-02T03:00:00.000Z');
    assert.equal(body.health.status, 'fail');
  });
});
