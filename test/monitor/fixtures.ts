import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config, S3Settings } from '../../src/config/types.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import type { TestS3Server } from '../helpers/s3-server.ts';
import { captureStream } from '../helpers/log-sink.ts';
import { silentLogger } from '../../src/logger.ts';
import type { CommandContext } from '../../src/commands/command.ts';

// Shared setup of the monitor tests: config and stores pointed at the test S3 server, a settable
// clock, and fast ways to put backups of chosen sizes and times into storage.

export const MiB = 1024 * 1024;
export const HOUR = 3_600_000;

export function configFor(env: Record<string, string>): Config {
  return loadConfig({ LOG_LEVEL: 'silent', ...env });
}

// An S3 store for the test server that gives up fast (one attempt, 1 s connect timeout).
export function s3StoreFor(s3: TestS3Server, overrides: Record<string, string> = {}): { store: S3Store; config: Config } {
  const config = configFor({ ...s3.env, ...overrides });
  const store = new S3Store(config.storage as S3Settings, { tuning: { maxAttempts: 1, connectionTimeoutMs: 1000, socketTimeoutMs: 5000 } });
  return { store, config };
}

export class TestClock {
  current: Date;

  constructor(current: Date) {
    this.current = current;
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

// Puts a backup through the store (real requests), then sets its LastModified.
export async function putBackup(store: BackupStore, s3: TestS3Server | undefined, key: string, size: number, time: Date): Promise<void> {
  await store.put(key, Readable.from([Buffer.alloc(size, 7)]), { sizeHint: size });
  if (s3) await s3.backdate(key, time);
  else if ('description' in store && store.description.startsWith('dir:')) {
    await fs.utimes(path.join(store.description.slice(4), key), time, time);
  }
}

// Writes many objects straight into s3rver's directory, much faster than 10,000 PUT requests. Unlike
// the helper's seed(), sizes come from sparse files, so 10,000 1 MB backups cost no disk.
export async function seedS3Files(s3: TestS3Server, objects: { key: string; size: number; time: Date }[], bucket = s3.bucket): Promise<void> {
  const bucketDir = path.join(s3.directory, bucket);
  const folders = new Set(objects.map((o) => path.dirname(path.join(bucketDir, o.key))));
  for (const folder of folders) await fs.mkdir(folder, { recursive: true });
  const batch = 200;
  for (let i = 0; i < objects.length; i += batch) {
    await Promise.all(
      objects.slice(i, i + batch).map(async (o) => {
        const file = path.join(bucketDir, `${o.key}._S3rver_object`);
        const handle = await fs.open(file, 'w');
        await handle.truncate(o.size);
        await handle.close();
        await fs.writeFile(`${file}.md5`, 'd41d8cd98f00b204e9800998ecf8427e');
        await fs.utimes(file, o.time, o.time);
      }),
    );
  }
}


// A command context over env's configuration whose stdout and stderr the test reads.
export function commandContext(env: Record<string, string>): { ctx: CommandContext; out: () => string; err: () => string } {
  const stdout = captureStream();
  const stderr = captureStream();
  const ctx: CommandContext = { config: configFor(env), logger: silentLogger(), stdout: stdout.stream, stderr: stderr.stream, stopSignal: new AbortController().signal };
  return { ctx, out: stdout.text, err: stderr.text };
}
