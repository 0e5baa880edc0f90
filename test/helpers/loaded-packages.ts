import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { compileCacheEnv, TYPESCRIPT_LOADER } from './typescript-node.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

// Module hooks (run in the loader's thread) that report every URL the program imports.
const HOOKS = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) { const resolved = await next(specifier, context); port.postMessage(resolved.url); return resolved; }`;

// Loaded before the program with --import: registers HOOKS and writes what they saw to RECORD_TO at exit.
const RECORDER = `import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import fs from 'node:fs';
const { port1, port2 } = new MessageChannel();
const seen = new Set();
port1.on('message', (url) => seen.add(url));
port1.unref();
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)}, { data: { port: port2 }, transferList: [port2] });
// What require() loaded (CommonJS packages loaded on demand) is in its cache, not seen by the hooks.
process.on('exit', () => fs.writeFileSync(process.env.RECORD_TO, [...seen, ...Object.keys(createRequire(process.cwd() + '/').cache)].join('\\n')));`;

// Runs the real CLI (or another program of the project) with `args` and returns its exit code and the
// npm packages it loaded (by name, e.g. "nodemailer", "@aws-sdk/client-s3"), to check that a run loads
// only what it uses.
export async function cliLoadedPackages(args: readonly string[], env: Record<string, string>, program = CLI): Promise<{ code: number | undefined; all: string; packages: Set<string> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loaded-packages-'));
  try {
    const record = path.join(dir, 'urls.txt');
    const result = await execa(process.execPath, [...TYPESCRIPT_LOADER, '--import', `data:text/javascript,${encodeURIComponent(RECORDER)}`, program, ...args], {
      env: { PATH: process.env.PATH ?? '', ...compileCacheEnv(), ...env, RECORD_TO: record },
      extendEnv: false,
      reject: false,
      all: true,
      stdin: 'ignore',
    });
    const urls = (
      await fs.readFile(record, 'utf8').catch((error: unknown) => {
        throw new Error(`the recorder wrote nothing; the program said:\n${String(result.all ?? '')}`, { cause: error });
      })
    ).split('\n');
    const packages = new Set(urls.map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]).filter((name): name is string => name !== undefined));
    return { code: result.exitCode, all: String(result.all ?? ''), packages };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
