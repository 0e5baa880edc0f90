import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { freePort } from '../helpers/free-port.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { listeningPort } from '../helpers/listening-port.ts';
import { ONE_S3_ATTEMPT_IMPORT } from '../helpers/one-s3-attempt.ts';
import { compileCacheEnv, TYPESCRIPT_LOADER } from '../helpers/typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

// The real `serve` process, with a database and a bucket that are both unreachable: failures are
// findings, the process stays up, answers its endpoints, keeps secrets out of its output, and stops
// cleanly on SIGTERM.
describe('serve with everything down', () => {
  it('stays alive, reports fail on /health and 503, and exits 0 on SIGTERM', async () => {
    const [deadDb, deadS3] = await Promise.all([freePort(), freePort()]);
    // Nothing listens at the bucket's endpoint: each S3 request is tried once rather than 4 times with
    // back-off (see the helper); the process does and reports the same.
    const child = execa(process.execPath, [...TYPESCRIPT_LOADER, ...ONE_S3_ATTEMPT_IMPORT, CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...compileCacheEnv(),
        PORT: '0',
        AWS_S3_BUCKET: 'down-bucket',
        AWS_S3_ENDPOINT: `http://127.0.0.1:${deadS3}`,
        AWS_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'AKIDDOWN',
        AWS_SECRET_ACCESS_KEY: 'secret-key-never-printed',
        BACKUP_DATABASE_URL: `postgres://app:db-pass-never-printed@127.0.0.1:${deadDb}/app`,
        RUN_ON_STARTUP: 'true',
        LOG_LEVEL: 'info',
      },
      extendEnv: false,
      reject: false,
      all: true,
    });
    let output = '';
    child.all?.on('data', (chunk: Buffer | string) => (output += chunk.toString()));
    try {
      const port = await listeningPort(child);
      const health = await waitFor(
        async () => {
          // Not listening yet while the process starts.
          const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
          if (response === undefined) return undefined;
          const body = (await response.json()) as { status: string; checks: Record<string, unknown> };
          return body.checks['backup:backup_failed'] !== undefined && body.checks['backup:storage_unreachable'] !== undefined
            ? { code: response.status, body }
            : undefined;
        },
        'a failed backup and an unreachable bucket on /health',
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.equal(health.code, 503);
      assert.equal(health.body.status, 'fail');
      assert.equal((await fetch(`http://127.0.0.1:${port}/livez`)).status, 200, 'liveness does not depend on storage');
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 503, 'not ready: storage never reached');
      // doctor's storage probe and database check at start: logged as warnings, the service keeps running.
      await waitFor(
        () => /start-up check failed: storage: write, read back, delete/.test(output) && /start-up check failed: database: connection/.test(output),
        'the start-up checks logging the unreachable bucket and database',
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.match(output, /\/status and \/metrics are open to anyone who can reach/, 'no credentials on a non-loopback address: one warning');
      assert.equal(child.exitCode, null, 'the process is still running');
    } finally {
      child.kill('SIGTERM');
    }
    const result = await child;
    assert.equal(result.exitCode, 0, result.all);
    assert.doesNotMatch(result.all ?? '', /secret-key-never-printed|db-pass-never-printed/);
    assert.match(result.all ?? '', /backup failed/);
  });

  // A storage that takes connections and answers nothing: the first round of the leader lease, which
  // start-up waits for, hangs until its read's bound (12 s). A SIGTERM then must not wait it out.
  it('exits at once on a SIGTERM while start-up waits on a storage that does not answer', async () => {
    // Takes each connection and reads what comes, answering nothing.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const child = execa(process.execPath, [...TYPESCRIPT_LOADER, CLI, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...compileCacheEnv(),
        PORT: '0',
        AWS_S3_BUCKET: 'silent-bucket',
        AWS_S3_ENDPOINT: endpoint,
        AWS_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'AKIDSILENT',
        AWS_SECRET_ACCESS_KEY: 'secret-key-never-printed',
        BACKUP_DATABASE_URL: 'postgres://app:db-pass-never-printed@127.0.0.1:1/app',
        LOG_LEVEL: 'info',
      },
      extendEnv: false,
      reject: false,
      all: true,
    });
    let output = '';
    child.all?.on('data', (chunk: Buffer | string) => (output += chunk.toString()));
    try {
      await waitFor(() => /leader election/.test(output) && sockets.length >= 1, 'start-up to wait on the lease read', { timeoutMs: 30_000 });
    } finally {
      child.kill('SIGTERM');
    }
    const result = await child;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    assert.equal(result.exitCode, 0, result.all);
    // Stopped before the first lease round ended: the read's bound (12 s) never passed, so nothing after
    // the lease's start was started (the backup schedule is the next part to start).
    assert.match(result.all ?? '', /"msg":"stopped"/);
    assert.doesNotMatch(result.all ?? '', /backup schedule started/, 'start-up went on after the stop was requested');
    assert.doesNotMatch(result.all ?? '', /start-up check failed/, 'a start-up check cut off by the stop is no failure');
    assert.doesNotMatch(result.all ?? '', /secret-key-never-printed|db-pass-never-printed/);
  });
});
