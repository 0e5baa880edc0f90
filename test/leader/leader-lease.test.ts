import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LeaderLease } from '../../src/leader/leader-lease.ts';
import { leaseKey, parseLease } from '../../src/leader/lease.ts';
import { silentLogger } from '../../src/logger.ts';
import { DirStore } from '../../src/storage/dir-store.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import type { BackupStore, ConditionalStore } from '../../src/storage/store.ts';
import { startConditionalProxy, type ConditionalProxy } from '../helpers/conditional-proxy.ts';
import { captureLogs } from '../helpers/log-sink.ts';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Short, so each handover and expiry the tests wait for takes a second or two; the bounds asserted are
// multiples of it. 1 s was too short on a loaded machine: a renewal then has half a second to land, and
// a late one makes the leader step down in the middle of a test.
// 2 s: the three storages' suites run at once beside other test files, and the bounds below (step down
// before the TTL, takeover within two) need the margin under load.
const TTL_MS = 2_000;
const KEY = leaseKey('');

// Samples both instances every few ms for the whole test: two leaders at once is a failure.
function watchForTwoLeaders(a: LeaderLease, b: LeaderLease): { stop(): number } {
  let both = 0;
  const timer = setInterval(() => {
    if (a.isLeader() && b.isLeader()) both++;
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return both;
    },
  };
}

type Store = BackupStore & ConditionalStore;

interface Fixture {
  // Two views of one storage; `cut(i, true)` makes storage unreachable for instance i only.
  stores: [Store, Store];
  cut(i: 0 | 1, down: boolean): void;
  close(): Promise<void>;
}

function lease(store: Store, instance: string, callLimitMs?: number): LeaderLease {
  return new LeaderLease({ store, key: KEY, location: KEY, ttlMs: TTL_MS, instance, logger: silentLogger(), ...(callLimitMs === undefined ? {} : { callLimitMs }) });
}

function runLeaseSuite(name: string, makeFixture: () => Promise<Fixture>): void {
  // The tests of one storage share its lease key: one at a time.
  describe(`the leader lease on ${name}`, { concurrency: 1 }, () => {
    let fixture: Fixture;
    before(async () => {
      fixture = await makeFixture();
    });
    after(async () => {
      await fixture?.close();
    });

    it('of two instances exactly one leads; a graceful stop hands the lease over within one renewal period', async () => {
      const [sa, sb] = fixture.stores;
      const a = lease(sa, 'instance-a');
      const b = lease(sb, 'instance-b');
      const changes: string[] = [];
      a.onChange((l) => void changes.push(`a:${l}`));
      b.onChange((l) => void changes.push(`b:${l}`));
      await a.start();
      // On a loaded machine a's first round may miss (a slow answer is not a lease): it takes it at a later round.
      await waitFor(() => a.isLeader(), 'a, started first, to lead', { timeoutMs: TTL_MS * 5 });
      await b.start();
      const watch = watchForTwoLeaders(a, b);
      try {
        // b stands by, naming a. (Under a heavy load a renewal of a's may come late: a then stands by until
        // its next round takes its own lease again, a state waited out here, as below; b never leads.)
        await waitFor(() => a.isLeader() && b.status().role === 'standby' && b.status().holder === 'instance-a', () => `a leading and b standing by, got a ${JSON.stringify(a.status())}, b ${JSON.stringify(b.status())}`, { timeoutMs: TTL_MS * 5 });
        assert.equal(b.isLeader(), false);
        assert.ok(b.status().until !== null);
        // Renewals keep it with a for more than a TTL: b never takes it. (A renewal that comes late on a
        // loaded machine makes a stand by until its next round takes its own lease again: a state the
        // test waits out, not a failure.)
        const firstUntil = Date.parse(a.status().until ?? '');
        await waitFor(() => a.isLeader() && Date.parse(a.status().until ?? '') >= firstUntil + TTL_MS, 'a to renew its lease for a whole TTL', { timeoutMs: TTL_MS * 5 });
        assert.equal(b.isLeader(), false);
        assert.deepEqual(changes.filter((c) => c.startsWith('b:')), [], 'b took over a lease a kept renewing');
        const released = Date.now();
        await a.stop();
        await waitFor(() => b.isLeader(), 'b to take over after a released the lease');
        assert.ok(Date.now() - released < TTL_MS, `handover took ${Date.now() - released} ms, not less than one TTL`);
        assert.equal(parseLease((await sb.readVersioned(KEY))!.body)?.holder, 'instance-b');
        // b led only after a released. (On a heavily loaded machine a renewal can come late enough for a to
        // step down and take the lease again meanwhile, safely: the watch above sees no two leaders.)
        assert.deepEqual(changes.filter((c) => c.startsWith('b:')), ['b:true']);
        assert.deepEqual(changes.slice(0, 1), ['a:true']);
        assert.deepEqual(changes.slice(-2), ['a:false', 'b:true']);
      } finally {
        assert.equal(watch.stop(), 0, 'two instances were leader at the same time');
        await Promise.all([a.stop(), b.stop()]);
      }
      assert.equal(await sb.readVersioned(KEY), undefined, 'the last leader released the lease at stop');
    });

    // Replicas of one Deployment come up within the same moment: both find no lease and race to create it.
    it('of two instances started at the same moment exactly one leads, from the first round on', async () => {
      const [sa, sb] = fixture.stores;
      const a = lease(sa, 'instance-a');
      const b = lease(sb, 'instance-b');
      const watch = watchForTwoLeaders(a, b);
      try {
        await Promise.all([a.start(), b.start()]);
        assert.equal([a, b].filter((l) => l.isLeader()).length, 1, 'one leader once both have started');
        const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
        // The standby reads the lease at its next round (its create lost the race) and names the holder.
        await waitFor(() => standby.status().holder === leader.status().instance, 'the standby to name the leader');
        // Two renewals by the leader, each seen in its status, with the standby waiting meanwhile.
        const until = leader.status().until ?? '';
        await waitFor(() => (leader.status().until ?? '') > until, 'a first renewal');
        const next = leader.status().until ?? '';
        await waitFor(() => (leader.status().until ?? '') > next, 'a second renewal');
        assert.equal(standby.isLeader(), false);
      } finally {
        assert.equal(watch.stop(), 0, 'two instances were leader at the same time');
        await Promise.all([a.stop(), b.stop()]);
      }
    });

    it('a leader that cannot reach the storage steps down before another takes over, and never two lead', async () => {
      const [sa, sb] = fixture.stores;
      const a = lease(sa, 'instance-a2');
      const b = lease(sb, 'instance-b2');
      await a.start();
      // On a loaded machine a's first round may miss (a slow answer is not a lease): it takes it at a later round.
      await waitFor(() => a.isLeader(), 'a, started first, to lead', { timeoutMs: TTL_MS * 5 });
      await b.start();
      const watch = watchForTwoLeaders(a, b);
      try {
        // As above: a late renewal under load is waited out.
        await waitFor(() => a.isLeader(), 'a to lead', { timeoutMs: TTL_MS * 5 });
        fixture.cut(0, true);
        const cutAt = Date.now();
        await waitFor(() => !a.isLeader(), 'a to step down');
        assert.ok(Date.now() - cutAt <= TTL_MS, `a stepped down after ${Date.now() - cutAt} ms`);
        await waitFor(() => b.isLeader(), 'b to take over the expired lease');
        // Bounded takeover: the TTL from b's last sighting of a renewal, plus one round.
        assert.ok(Date.now() - cutAt < TTL_MS * 2 + 500, `takeover took ${Date.now() - cutAt} ms`);
        assert.equal(a.status().role, 'standby');
        assert.match(a.status().problem ?? '', /leader lease/);
      } finally {
        assert.equal(watch.stop(), 0, 'two instances were leader at the same time');
        await Promise.all([a.stop(), b.stop()]);
        fixture.cut(0, false);
      }
    });

    it('a crashed leader (no release) is replaced once its lease is a TTL old', async () => {
      const [sa, sb] = fixture.stores;
      const crashed = lease(sa, 'instance-crashed');
      await crashed.start();
      // On a loaded machine the first round may miss (a slow answer is not a lease): it takes it at a later round.
      await waitFor(() => crashed.isLeader(), 'the first instance to lead', { timeoutMs: TTL_MS * 5 });
      // What a killed process leaves: a lease nobody renews. Stop renewing without releasing it.
      fixture.cut(0, true);
      const b = lease(sb, 'instance-b3');
      const startedAt = Date.now();
      await b.start();
      assert.equal(b.isLeader(), false, 'took over a lease that was just renewed');
      await waitFor(() => b.isLeader(), 'b to take over');
      const took = Date.now() - startedAt;
      assert.ok(took >= TTL_MS * 0.9 && took < TTL_MS * 2 + 500, `takeover after ${took} ms`);
      await Promise.all([crashed.stop(), b.stop()]);
      fixture.cut(0, false);
    });
  });
}

// The three storages share nothing, and their tests wait on leases and timeouts rather than the CPU:
// they run at the same time. (Each test with a storage of its own, all nine at once, was tried: on a
// loaded machine their lease rounds then missed their hold too often.)
describe('the leader lease', { concurrency: true }, () => {
  // A process's first S3 store and request load the AWS SDK: synchronous work of a second or more on a
  // loaded machine, which would stall the lease rounds of the directory's tests, already running, past
  // their hold. Done once before any test starts.
  before(async () => {
    const s3 = await startS3Server();
    try {
      await new S3Store(s3.settings()).list('warm-up/');
    } finally {
      await s3.close();
    }
  });

  // s3rver ignores If-None-Match / If-Match: a narrowly scoped test double in front of it answers them
  // as S3 and R2 do (test/helpers/conditional-proxy.ts). Each instance has its own proxy, so one can be cut off.
  runLeaseSuite('S3 (s3rver behind the conditional-request double)', async () => {
    const s3: TestS3Server = await startS3Server();
    const proxies: ConditionalProxy[] = await Promise.all([startConditionalProxy(s3), startConditionalProxy(s3)]);
    const store = (p: ConditionalProxy) =>
      new S3Store(s3.settings(p.endpoint), { tuning: { maxAttempts: 1, socketTimeoutMs: 500 } });
    return {
      stores: [store(proxies[0]!), store(proxies[1]!)],
      cut: (i, down) => proxies[i]!.setDown(down),
      async close() {
        await Promise.all(proxies.map((p) => p.close()));
        await s3.close();
      },
    };
  });

  // A directory store cut off: its root made unreadable is not possible as root, so the cut-off
  // instance's store points at a path that a file blocks (every call fails like a lost mount).
  runLeaseSuite('a directory', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'lease-'));
    let cutA = false;
    const real = new DirStore(root);
    const broken = new DirStore(path.join(root, 'blocked-by-a-file', 'x'));
    await fs.writeFile(path.join(root, 'blocked-by-a-file'), '');
    // Instance 0 reads through a store that switches to the broken one when cut.
    const switching = new Proxy(real, {
      get(target, property, receiver) {
        const source = cutA ? broken : target;
        const value = Reflect.get(source, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(source) : value;
      },
    });
    return {
      stores: [switching, new DirStore(root)],
      cut: (_i, down) => {
        cutA = down;
      },
      close: () => fs.rm(root, { recursive: true, force: true }),
    };
  });

  it('a second stop() (a stop during start-up, then the service\'s) waits for the release the first began', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'lease-twice-'));
    const store = new DirStore(root);
    const a = lease(store, 'instance-stopped-twice');
    try {
      await a.start();
      assert.ok(a.isLeader());
      const first = a.stop();
      await a.stop();
      assert.equal(await store.readVersioned(KEY), undefined, 'the second stop() returned before the lease was released');
      await first;
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  // Storage that accepts connections and then answers nothing (a black hole): every lease call is
  // aborted after its bound, so the leader steps down in time and no request is left holding a socket
  // (which would keep a stopping process alive until the SDK's minute-long socket timeout).
  describe('the leader lease on a storage that stops answering', { concurrency: 1 }, () => {
    it('steps down, and leaves no request open once stopped', async () => {
      const s3 = await startS3Server();
      const proxy = await startConditionalProxy(s3);
      const tcp = await startTcpProxy(Number(new URL(proxy.endpoint).port));
      const store = new S3Store(s3.settings(tcp.endpoint));
      // Each call aborted after half a second (the default's 2 s floor is for a process's first call,
      // which loads the SDK): the test waits for two aborted calls, a renewal and the release.
      const a = lease(store, 'instance-stalled', 500);
      try {
        await a.start();
        // On a loaded machine the first round may miss: a later one takes the lease.
        await waitFor(() => a.isLeader(), 'the instance to lead', { timeoutMs: TTL_MS * 5 });
        tcp.stall();
        await waitFor(() => !a.isLeader(), 'the leader to stop counting itself leader');
        await waitFor(() => a.status().problem !== undefined, 'the failed renewal to be reported');
        assert.match(a.status().problem ?? '', /no answer from the storage within 500 ms/);
        const stopping = Date.now();
        await a.stop();
        assert.ok(Date.now() - stopping < 5_000, `stop took ${Date.now() - stopping} ms`);
        // Requests in flight hold their sockets in the client's http.Agent (idle keep-alive sockets are
        // elsewhere, in freeSockets): none may be left.
        const handler = store.client.config.requestHandler as unknown as { config?: { httpAgent?: { sockets: Record<string, unknown[]> } } };
        const inFlight = (): number => Object.values(handler.config?.httpAgent?.sockets ?? {}).reduce((n, list) => n + list.length, 0);
        await waitFor(() => inFlight() === 0, 'the stalled requests to be aborted', { timeoutMs: 5_000 });
      } finally {
        await a.stop();
        tcp.restore();
        await tcp.close();
        await proxy.close();
        await s3.close();
      }
    });

    it('a standby stopping while its read of the lease hangs stops at once, not at the read\'s bound', async () => {
      const s3 = await startS3Server();
      const proxy = await startConditionalProxy(s3);
      const tcp = await startTcpProxy(Number(new URL(proxy.endpoint).port));
      const store = new S3Store(s3.settings(tcp.endpoint));
      const { logger, records } = captureLogs();
      // A bound far beyond the test: only stop() can end the read in time.
      const a = new LeaderLease({ store, key: KEY, location: KEY, ttlMs: TTL_MS, instance: 'instance-stopping', logger, callLimitMs: 600_000 });
      try {
        tcp.stall();
        const starting = a.start();
        await waitFor(() => tcp.connectionsAccepted >= 1, 'the read of the lease to reach the storage');
        await a.stop();
        await starting;
        assert.equal(a.isLeader(), false);
        assert.deepEqual(records().filter((r) => Number(r.level) >= 40).map((r) => r.msg), [], 'a read cut off by stop() is no problem to report');
      } finally {
        tcp.restore();
        await tcp.close();
        await proxy.close();
        await s3.close();
      }
    });
  });
});
