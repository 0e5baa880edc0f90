import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

export interface PgCluster {
  host: string;
  port: number;
  superuser: string;
  password: string;
  // Directory holding the PostgreSQL server binaries used (initdb, pg_ctl, postgres).
  binDir: string;
  majorVersion: number;
  dataDir: string;
  // postgres://superuser:password@127.0.0.1:port/<db>
  url(database?: string, user?: string, password?: string): string;
  // Runs SQL through psql as the superuser and returns stdout (unaligned, tuples only).
  psql(sql: string, database?: string): Promise<string>;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

// The newest PostgreSQL server binaries on the machine: PG_BIN, Debian's /usr/lib/postgresql/<N>/bin,
// Alpine's /usr/libexec/postgresql<N>, or PATH.
export function findPgBinDir(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) return fromEnv;
  const candidates: { dir: string; major: number }[] = [];
  for (const base of ['/usr/lib/postgresql']) {
    if (!fs.existsSync(base)) continue;
    for (const name of fs.readdirSync(base)) {
      const dir = path.join(base, name, 'bin');
      if (/^\d+$/.test(name) && fs.existsSync(path.join(dir, 'initdb'))) candidates.push({ dir, major: Number(name) });
    }
  }
  for (const name of fs.existsSync('/usr/libexec') ? fs.readdirSync('/usr/libexec') : []) {
    const m = /^postgresql(\d+)$/.exec(name);
    const dir = path.join('/usr/libexec', name);
    if (m && fs.existsSync(path.join(dir, 'initdb'))) candidates.push({ dir, major: Number(m[1]) });
  }
  candidates.sort((a, b) => b.major - a.major);
  const best = candidates[0];
  if (best) return best.dir;
  throw new Error('No PostgreSQL server binaries found (initdb). Install postgresql (Debian) or set PG_BIN.');
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

// initdb refuses to run as root: as root, run the server tools as the postgres user.
function asServerUser(command: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

// Clusters started by this process and not stopped yet. A test whose set-up fails after a cluster started
// (another step of its before() rejected) never gets to call stop(): the exit hook stops those, so a run
// leaves no server behind. It must be synchronous: nothing can be awaited in 'exit'.
const running = new Map<string, () => void>();
process.once('exit', () => {
  for (const stopNow of running.values()) stopNow();
});

function stopSync(binDir: string, dataDir: string, base: string): void {
  const [cmd, args] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
  try {
    if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // Already stopped.
  }
  fs.rmSync(base, { recursive: true, force: true });
}

// initdb is most of a cluster's start-up time and gives the same data directory every time for the same
// server binaries, superuser and password: it runs once, into node_modules/.cache (a cache like tsx's,
// outside TMPDIR so the demo's clean-up check sees only its own files), and each cluster starts from a
// copy. Parallel test processes each may build one; the first rename wins and the others use it.
const TEMPLATE_CACHE = path.resolve(import.meta.dirname, '../../node_modules/.cache/pg-test-template');

// 1 MB WAL segments instead of 16: the copy each cluster starts from shrinks from 39 to 28 MB, and the
// copy is a good part of a cluster's start-up (under a loaded run it costs more than the server's start).
const INITDB_OPTIONS = ['-E', 'UTF8', '--locale', 'C.UTF-8', '--no-sync', '--wal-segsize=1'];

async function initdbTemplate(binDir: string, superuser: string, password: string): Promise<string> {
  const version = (await execa(path.join(binDir, 'postgres'), ['--version'])).stdout;
  const id = createHash('sha256').update(`${binDir}\0${version}\0${superuser}\0${password}\0${INITDB_OPTIONS.join(' ')}`).digest('hex').slice(0, 16);
  const template = path.join(TEMPLATE_CACHE, id);
  if (fs.existsSync(path.join(template, 'PG_VERSION'))) return template;
  // The first test files of a fresh checkout start at once: one builds the template, the others wait for
  // it instead of each running initdb. A lock older than two minutes was left by a killed process.
  await fsp.mkdir(TEMPLATE_CACHE, { recursive: true });
  const lock = `${template}.building`;
  const take = (): Promise<boolean> => fsp.mkdir(lock).then(() => true, () => false);
  let locked = await take();
  if (!locked && Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 120_000) {
    await fsp.rm(lock, { recursive: true, force: true });
    locked = await take();
  }
  if (!locked) {
    // Until it is built, or the builder gave up (its lock is gone): then this process tries itself.
    await waitFor(() => fs.existsSync(path.join(template, 'PG_VERSION')) || !fs.existsSync(lock), 'the PostgreSQL template another test process builds', { timeoutMs: 120_000, intervalMs: 100 });
    if (fs.existsSync(path.join(template, 'PG_VERSION'))) return template;
  }
  try {
    return await buildTemplate(binDir, superuser, password, template);
  } finally {
    if (locked) await fsp.rm(lock, { recursive: true, force: true });
  }
}

async function buildTemplate(binDir: string, superuser: string, password: string, template: string): Promise<string> {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'pg-template-'));
  try {
    const pwFile = path.join(work, 'pw');
    await fsp.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (isRoot) await execa('chown', ['-R', 'postgres:postgres', work]);
    const [initCmd, initArgs] = asServerUser(path.join(binDir, 'initdb'), [
      '-D', path.join(work, 'data'), '-U', superuser, '--pwfile', pwFile, '--auth', 'scram-sha-256', ...INITDB_OPTIONS,
    ]);
    await execa(initCmd, initArgs);
    await fsp.mkdir(TEMPLATE_CACHE, { recursive: true });
    const staged = await fsp.mkdtemp(path.join(TEMPLATE_CACHE, 'staging-'));
    try {
      await execa('cp', ['-a', path.join(work, 'data'), path.join(staged, 'data')]);
      await fsp.rename(path.join(staged, 'data'), template);
    } catch (error) {
      // Another process published the same template first.
      if (!fs.existsSync(path.join(template, 'PG_VERSION'))) throw error;
    } finally {
      await fsp.rm(staged, { recursive: true, force: true });
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  return template;
}

let shared: Promise<PgCluster> | undefined;

// One cluster for every suite of this test process that only needs databases of its own (each suite
// creates its databases under names no other suite in the file uses): initdb and start-up are most of
// a small suite's time. Its stop() does nothing, since another suite may still use it; the exit hook
// above stops it when the process ends. A suite that stops or kills its server, needs another password
// or server settings, or counts the cluster's sessions starts its own with startPgCluster().
export function sharedPgCluster(): Promise<PgCluster> {
  shared ??= startPgCluster().then(
    (pg) => ({ ...pg, stop: () => Promise.resolve() }),
    (error: unknown) => {
      shared = undefined;
      throw error;
    },
  );
  return shared;
}

// Starts a throwaway PostgreSQL cluster (initdb into a temp dir, free port, password auth).
export async function startPgCluster(options: { password?: string } = {}): Promise<PgCluster> {
  const binDir = findPgBinDir();
  const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'pg-test-'));
  const dataDir = path.join(base, 'data');
  running.set(base, () => stopSync(binDir, dataDir, base));
  try {
    return await initAndStart(binDir, base, dataDir, options.password ?? 'test-superuser-pw');
  } catch (error) {
    running.get(base)?.();
    running.delete(base);
    throw error;
  }
}

async function initAndStart(binDir: string, base: string, dataDir: string, password: string): Promise<PgCluster> {
  const socketDir = path.join(base, 'sock');
  const superuser = 'postgres';
  await fsp.mkdir(socketDir);
  await execa('cp', ['-a', await initdbTemplate(binDir, superuser, password), dataDir]);
  if (isRoot) await execa('chown', ['-R', 'postgres:postgres', base]);
  // Between freePort() and the server binding it another process may take the port: try another one.
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const serverOpts = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    const [ctlCmd, ctlArgs] = asServerUser(path.join(binDir, 'pg_ctl'), [
      '-D', dataDir, '-o', serverOpts, '-l', path.join(base, 'server.log'), '-w', '-t', '60', 'start',
    ]);
    const started = await execa(ctlCmd, ctlArgs, { reject: attempt >= 3 });
    if (started.exitCode === 0) break;
  }
  const version = await execa(path.join(binDir, 'postgres'), ['--version']);
  const majorVersion = Number(/(\d+)/.exec(version.stdout)?.[1] ?? '0');
  const psqlBin = fs.existsSync(path.join(binDir, 'psql')) ? path.join(binDir, 'psql') : 'psql';
  let stopped = false;

  const url = (database = 'postgres', user = superuser, pw = password) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

  const psqlBinary = async (sql: string, database: string): Promise<string> => {
    const result = await execa(psqlBin, ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', superuser, '-d', database], {
      input: sql,
      env: { PGPASSWORD: password },
    });
    return result.stdout.trim();
  };
  const admin = new AdminSession(() => ({ host: '127.0.0.1', port, user: superuser, password, database: 'postgres' }));
  const psql = async (sql: string, database = 'postgres'): Promise<string> => {
    // psql's own commands, and statements PostgreSQL refuses in the one transaction that a
    // several-statement query runs in (CREATE DATABASE, VACUUM): the psql program, as before.
    if (/^\s*\\/m.test(sql)) return await psqlBinary(sql, database);
    // What would outlive the call on the kept connection (a setting, a transaction left open, a temporary
    // table) gets a connection of its own, as every call had with psql.
    const keepsState = /\b(SET|RESET|BEGIN|START\s+TRANSACTION|TEMP|TEMPORARY|LISTEN|PREPARE|DECLARE)\b/i.test(sql);
    const settings = { host: '127.0.0.1', port, user: superuser, password, database };
    try {
      return database === 'postgres' && !keepsState ? await admin.query(sql) : await queryOnce(settings, sql);
    } catch (error) {
      if ((error as { code?: string }).code === '25001') return await psqlBinary(sql, database);
      throw error;
    }
  };

  return {
    host: '127.0.0.1',
    port,
    superuser,
    password,
    binDir,
    majorVersion,
    dataDir,
    url,
    psql,
    async createDatabase(name) {
      await psql(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await admin.close();
      const [cmd, args] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      await execa(cmd, args, { reject: false });
      await fsp.rm(base, { recursive: true, force: true });
      running.delete(base);
    },
  };
}

// What pg.psql() runs SQL with: a pg connection in this process instead of a psql process per call (the
// tests make ~300 such calls per run, and psql's start, its connection and the spawn cost ~30 ms of CPU
// each). The output is what `psql -X -A -t` prints: each row's values joined by '|' (NULL as nothing), and
// the command tag of a statement that returns no rows (or of an INSERT/UPDATE/DELETE ... RETURNING), one
// per line; read off the protocol messages so values come as PostgreSQL's text, exactly as psql shows them.
// A query of several statements runs in one transaction (psql ran them one by one): the fallback above
// takes those PostgreSQL refuses there.
type ConnectionSettings = pg.ClientConfig;

async function runOn(client: pg.Client, sql: string): Promise<string> {
  const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
  const lines: string[] = [];
  let rows = false;
  const onRowDescription = () => (rows = true);
  const onDataRow = (msg: { fields: (string | null)[] }) => lines.push(msg.fields.map((f) => f ?? '').join('|'));
  const onCommandComplete = (msg: { text: string }) => {
    if (!rows || /^(INSERT|UPDATE|DELETE|MERGE)\b/.test(msg.text)) lines.push(msg.text);
    rows = false;
  };
  connection.on('rowDescription', onRowDescription);
  connection.on('dataRow', onDataRow);
  connection.on('commandComplete', onCommandComplete);
  try {
    await client.query(sql);
  } finally {
    connection.off('rowDescription', onRowDescription);
    connection.off('dataRow', onDataRow);
    connection.off('commandComplete', onCommandComplete);
  }
  return lines.join('\n').trim();
}

// A database other than postgres: a connection for the one call, as psql made, so none is left open on a
// database a test then drops, renames or restores over.
async function queryOnce(settings: ConnectionSettings, sql: string): Promise<string> {
  const client = new pg.Client(settings);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await runOn(client, sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// The postgres database: one connection kept for the cluster's life (most calls are there: sessions,
// databases, roles). Calls take turns on it. A connection the server dropped (a test that stops and
// starts the server) is replaced at the next call.
class AdminSession {
  #settings: () => ConnectionSettings;
  #client: Promise<pg.Client> | undefined;
  #turn: Promise<unknown> = Promise.resolve();
  constructor(settings: () => ConnectionSettings) {
    this.#settings = settings;
  }

  query(sql: string): Promise<string> {
    const run = this.#turn.then(async () => {
      const reused = this.#client !== undefined;
      try {
        return await this.#runHeld(await this.#connected(), sql);
      } catch (error) {
        if (!lostConnection(error)) throw error;
        this.#drop();
        // The kept connection died since the last call (the server was stopped or restarted): as psql
        // would, connect afresh once.
        if (!reused) throw error;
        return await this.#runHeld(await this.#connected(), sql);
      }
    });
    this.#turn = run.catch(() => undefined);
    return run;
  }

  // The idle connection does not keep the test process alive (a shared cluster is never stopped by its
  // suites; the exit hook stops the server); only a query in flight does.
  async #runHeld(client: pg.Client, sql: string): Promise<string> {
    const socket = (client as unknown as { connection: { stream: { ref(): void; unref(): void } } }).connection.stream;
    socket.ref();
    try {
      return await runOn(client, sql);
    } finally {
      socket.unref();
    }
  }

  #connected(): Promise<pg.Client> {
    this.#client ??= (async () => {
      const client = new pg.Client(this.#settings());
      client.on('error', () => this.#drop());
      client.on('end', () => this.#drop());
      try {
        await client.connect();
      } catch (error) {
        this.#client = undefined;
        throw error;
      }
      return client;
    })();
    return this.#client;
  }

  #drop(): void {
    this.#client = undefined;
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    await this.#turn;
    const client = await pending?.catch(() => undefined);
    if (client === undefined) return;
    // Held while it closes: with nothing else left to do, the process would otherwise end before the
    // connection has (and before the caller's next step, such as stopping the server, runs).
    const socket = (client as unknown as { connection: { stream: { ref(): void } } }).connection.stream;
    socket.ref();
    await client.end().catch(() => undefined);
  }
}

// An error of the connection rather than of the SQL: no SQLSTATE, or the server ending the session
// (class 57: admin shutdown, crash shutdown, cannot connect now).
function lostConnection(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === undefined || (typeof code === 'string' && code.startsWith('57P'));
}
