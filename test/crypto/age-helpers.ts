import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Secret } from '../../src/config/secret.ts';
import type { EncryptionSettings } from '../../src/config/types.ts';

const run = promisify(execFile);

export interface KeyPair {
  identity: string;
  recipient: string;
  // age-keygen's own file (comments + key), for BACKUP_ENCRYPTION_IDENTITY=<path> and `age -i`.
  file: string;
}

export async function makeTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sentinel-crypto-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

// A key pair made by the reference tool, age-keygen.
export async function generateKeyPair(dir: string, name: string): Promise<KeyPair> {
  const file = path.join(dir, `${name}.txt`);
  await run('age-keygen', ['-o', file]);
  const recipient = (await run('age-keygen', ['-y', file])).stdout.trim();
  const identity = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')) ?? '';
  return { identity, recipient, file };
}

export function keySettings(recipients: string[], identity?: string): EncryptionSettings {
  return { recipients, passphrase: undefined, identity: identity === undefined ? undefined : new Secret(identity) };
}

export function passphraseSettings(passphrase: string): EncryptionSettings {
  return { recipients: [], passphrase: new Secret(passphrase), identity: undefined };
}

// Deterministic pseudo-random bytes (fast, reproducible sizes and contents for round trips).
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// Splits `data` into writes of varying sizes so chunk boundaries never line up with writes.
export function* unevenPieces(data: Buffer, sizes = [1, 7, 4096, 65535, 65537, 100_000, 13]): Generator<Buffer> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length] ?? 1;
    yield data.subarray(offset, offset + n);
    offset += n;
  }
}

export interface StreamResult {
  output: Buffer;
  error: unknown;
}

// Pipes `input` through `stage`, keeping whatever came out even when the stage fails.
export async function runStage(stage: Transform, input: Iterable<Buffer> | Buffer): Promise<StreamResult> {
  const chunks: Buffer[] = [];
  const source = Buffer.isBuffer(input) ? Readable.from([input]) : Readable.from(input);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  let error: unknown;
  try {
    await pipeline(source, stage, sink);
  } catch (caught) {
    error = caught;
  }
  return { output: Buffer.concat(chunks), error };
}

export async function runStageOk(stage: Transform, input: Iterable<Buffer> | Buffer): Promise<Buffer> {
  const { output, error } = await runStage(stage, input);
  assert.ifError(error);
  return output;
}

// Runs the reference `age` CLI; stdin gets `input`, stdout is returned.
export function runAge(args: string[], input?: Buffer): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('age', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr, code }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

// Runs `age` with a pseudo-terminal (util-linux `script`), answering every passphrase prompt:
// the age CLI reads passphrases only from a terminal.
export async function runAgeWithPassphrase(args: string[], passphrase: string, dir: string): Promise<{ code: number | null; transcript: string }> {
  const command = ['age', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let transcript = '';
  let answered = 0;
  const onData = (d: Buffer): void => {
    transcript += d.toString();
    const prompts = (transcript.match(/passphrase[^:\n]*:/gi) ?? []).length;
    while (answered < prompts) {
      answered += 1;
      child.stdin.write(`${passphrase}\n`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  clearTimeout(timer);
  return { code, transcript };
}
