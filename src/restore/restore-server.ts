import { GLOBALS_FOLDER, globalsLocation } from '../backup/globals.ts';
import { formatTimestamp, isAuxiliaryKey, keyPrefix, parseBackupKey } from '../core/naming.ts';
import type { Location } from '../config/types.ts';
import { RestoreError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BackupStore } from '../storage/store.ts';
import { describeBackup, type DecryptFactory } from './backup-source.ts';
import type { PgTools } from './pg-tools.ts';
import { restoreBackup } from './restore.ts';
import { applyDeferred, restoreGlobals, type GlobalsRestoreReport } from './restore-globals.ts';
import { databaseExists, dropDatabase, withClient, withDatabase, type RestoreTarget } from './target.ts';

// `restore --latest --all`: a whole server from one run (one timestamp): the globals first (roles,
// memberships, tablespaces), then every database backed up in that run, each into a database made
// with CREATE DATABASE (owner as on the source when that role exists) and restored all-or-nothing.
// A failing database is reported and the others go on.

// One database's backup in the chosen run.
export interface RunMember {
  // The folder's decoded name; for the deployment's root location (a single database), undefined
  // until the manifest names it.
  folderName: string | undefined;
  location: Location;
  key: string;
}

interface ServerRun {
  time: Date;
  globalsKey: string | undefined;
  globalsTime: Date | undefined;
  members: RunMember[];
  // Databases with backups in storage but none from this run (that database's backup failed or was
  // added later), with their newest time.
  missing: { name: string; newest: Date }[];
}

function folderOf(location: Location): string {
  return location.subfolder ? `${location.subfolder}/` : '';
}

// Finds the newest run in storage: the newest database backup's time (the newest globals object's
// when there are only globals); then each database's backup with exactly that time.
export async function findNewestServerRun(store: BackupStore, location: Location): Promise<ServerRun> {
  const root = folderOf(location);
  const objects = await store.list(root);
  const globalsPrefix = `${root}${GLOBALS_FOLDER}/${location.prefix}`;
  const globals: { key: string; time: Date }[] = [];
  const sets = new Map<string, { name: string | undefined; location: Location; backups: { key: string; time: Date }[] }>();
  for (const object of objects) {
    if (isAuxiliaryKey(object.key)) continue;
    const rest = object.key.slice(root.length);
    const slash = rest.indexOf('/');
    if (rest.startsWith(`${GLOBALS_FOLDER}/`)) {
      const parsed = parseBackupKey(object.key, globalsPrefix);
      if (parsed.ours && parsed.time && object.key.startsWith(globalsPrefix)) globals.push({ key: object.key, time: parsed.time });
      continue;
    }
    if (rest.indexOf('/', slash + 1) !== -1) continue;
    const folder = slash === -1 ? undefined : rest.slice(0, slash);
    const setLocation: Location = folder === undefined ? location : { subfolder: `${root}${folder}`, prefix: location.prefix };
    const prefix = keyPrefix(setLocation);
    if (!object.key.startsWith(prefix)) continue;
    const parsed = parseBackupKey(object.key, prefix);
    if (!parsed.ours || parsed.time === undefined) continue;
    const id = folder ?? '';
    let set = sets.get(id);
    if (set === undefined) {
      set = { name: folder === undefined ? undefined : decodeFolder(folder), location: setLocation, backups: [] };
      sets.set(id, set);
    }
    set.backups.push({ key: object.key, time: parsed.time });
  }
  const newest = (list: { time: Date }[]) => list.reduce<Date | undefined>((a, b) => (a === undefined || b.time > a ? b.time : a), undefined);
  const time = newest([...sets.values()].flatMap((s) => s.backups)) ?? newest(globals);
  if (time === undefined) {
    throw new RestoreError(`no backups under "${root}" in ${store.description}`, {
      hint: 'check AWS_S3_BUCKET / BACKUP_DIR and BUCKET_SUBFOLDER; `backup-sentinel list` shows what is there',
    });
  }
  // The run's own globals, else (its globals failed) the newest earlier ones: roles change rarely,
  // and the summary says which run they come from.
  const usable = globals.filter((g) => g.time <= time).sort((a, b) => b.time.getTime() - a.time.getTime())[0];
  const run: ServerRun = { time, globalsKey: usable?.key, globalsTime: usable?.time, members: [], missing: [] };
  for (const set of sets.values()) {
    const match = set.backups.find((b) => b.time.getTime() === time.getTime());
    if (match) run.members.push({ folderName: set.name, location: set.location, key: match.key });
    else run.missing.push({ name: set.name ?? '(the database of BACKUP_DATABASE_URL)', newest: newest(set.backups) ?? time });
  }
  return run;
}

function decodeFolder(folder: string): string {
  try {
    return decodeURIComponent(folder);
  } catch {
    return folder;
  }
}

export interface DatabaseRestoreOutcome {
  database: string;
  key: string | undefined;
  status: 'restored' | 'failed';
  tables?: number;
  rows?: number;
  // The owner the database was created with, and why not the source's when it differs.
  owner?: string;
  note?: string;
  error?: string;
}

export interface ServerRestoreSummary {
  runTime: Date;
  // The run the globals come from when it is not runTime (that run's globals failed).
  globalsTime?: Date;
  // undefined when the run has no globals object (BACKUP_GLOBALS was off): roles must exist already.
  globals: GlobalsRestoreReport | undefined;
  globalsError?: string;
  databases: DatabaseRestoreOutcome[];
  // true when everything restored and no statement was refused.
  ok: boolean;
}

export interface ServerRestoreRequest {
  store: BackupStore;
  location: Location;
  // A database of the target server to connect to (its maintenance database, e.g. postgres).
  target: RestoreTarget;
  decrypt: DecryptFactory | undefined;
  tools: PgTools;
  logger: Logger;
  signal?: AbortSignal;
  // Told as each part finishes, for people watching.
  onStep?: (line: string) => void;
}

async function createOwnedDatabase(target: RestoreTarget, name: string, wanted: { owner: string; encoding: string } | undefined): Promise<{ owner?: string; note?: string }> {
  return await withClient(target, async (client) => {
    let owner: string | undefined;
    let note: string | undefined;
    if (wanted !== undefined) {
      const exists = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [wanted.owner]);
      if (exists.rowCount) owner = wanted.owner;
      else note = `owner "${wanted.owner}" does not exist on the target: the database belongs to the restoring user`;
    }
    const encoding = wanted?.encoding ? ` ENCODING ${client.escapeLiteral(wanted.encoding)}` : '';
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${owner ? ` OWNER ${client.escapeIdentifier(owner)}` : ''} TEMPLATE template0${encoding}`);
    return { ...(owner ? { owner } : {}), ...(note ? { note } : {}) };
  });
}

// Restores the newest run onto the target server. Throws only when there is nothing to restore or the
// target cannot be reached; each database's failure is in the summary.
export async function restoreServer(request: ServerRestoreRequest): Promise<ServerRestoreSummary> {
  const { store, target } = request;
  const log = request.logger.child({ component: 'restore-server' });
  const run = await findNewestServerRun(store, request.location);
  log.info({ run: formatTimestamp(run.time), globals: run.globalsKey, databases: run.members.length }, 'whole-server restore started');
  const summary: ServerRestoreSummary = { runTime: run.time, globals: undefined, databases: [], ok: true };
  if (run.globalsTime !== undefined && run.globalsTime.getTime() !== run.time.getTime()) summary.globalsTime = run.globalsTime;
  if (run.globalsKey !== undefined) {
    try {
      summary.globals = await restoreGlobals({ store, key: run.globalsKey, prefix: keyPrefix(globalsLocation(request.location)), target, decrypt: request.decrypt, tools: request.tools, logger: request.logger, ...(request.signal ? { signal: request.signal } : {}) });
      if (summary.globals.failed.length > 0) summary.ok = false;
    } catch (error) {
      summary.globalsError = (error as Error).message.split('\n')[0] ?? String(error);
      summary.ok = false;
    }
    request.onStep?.(`globals: ${summary.globalsError ?? `roles: ${summary.globals?.created.length ?? 0} created, ${summary.globals?.existing.length ?? 0} already there`}`);
  }
  const owners = new Map((summary.globals?.databases ?? []).map((d) => [d.name, d]));
  for (const member of run.members) {
    const outcome = await restoreMember(request, member, owners);
    summary.databases.push(outcome);
    if (outcome.status === 'failed') summary.ok = false;
    request.onStep?.(`${outcome.database}: ${outcome.status === 'restored' ? `${outcome.tables ?? 0} tables, ${outcome.rows ?? 0} rows` : `FAILED: ${outcome.error ?? ''}`}`);
  }
  // Folders of other deployments in the same bucket are not this server's: when the globals name the
  // server's databases, only those count as missing.
  const known = summary.globals?.databases;
  for (const missing of run.missing) {
    if (known !== undefined && !known.some((d) => d.name === missing.name)) continue;
    summary.databases.push({ database: missing.name, key: undefined, status: 'failed', error: `no backup from this run (its newest is ${formatTimestamp(missing.newest)})` });
    summary.ok = false;
  }
  summary.databases.sort((a, b) => (a.database < b.database ? -1 : a.database > b.database ? 1 : 0));
  if (summary.globals) {
    await applyDeferred(summary.globals, target);
    if (summary.globals.failed.length > 0) summary.ok = false;
  }
  log.info({ ok: summary.ok, databases: summary.databases.map((d) => ({ database: d.database, status: d.status })) }, 'whole-server restore finished');
  return summary;
}

// `taken`: databases already restored by this command (restore --all of several sets): a second backup
// for the same name is refused instead of being restored into the first one's database.
export async function restoreMember(
  request: Omit<ServerRestoreRequest, 'location'>,
  member: RunMember,
  owners: Map<string, { owner: string; encoding: string }>,
  taken?: Set<string>,
): Promise<DatabaseRestoreOutcome> {
  let name = member.folderName;
  let created = false;
  let dbTarget: RestoreTarget | undefined;
  const prefix = keyPrefix(member.location);
  try {
    const info = await describeBackup(request.store, member.key, prefix, { decrypt: request.decrypt, zstdPath: request.tools.zstd });
    // A database folder is named after its database (naming.ts); the root location's backups are named by their manifest.
    name ??= info.manifest?.database;
    if (name === undefined) {
      throw new RestoreError(`${member.key} has no manifest naming its database`, { hint: 'restore it on its own with `restore --key KEY --target-url URL --create`' });
    }
    if (taken?.has(name) === true) {
      // Only the first line reaches the summary: what to do is in it.
      throw new RestoreError(`database "${name}" was already restored from another set by this command: restore this set on its own into another database (restore --latest --set NAME --target-url .../<other name> --create)`);
    }
    dbTarget = withDatabase(request.target, name);
    let ownership: { owner?: string; note?: string } = {};
    if (!(await databaseExists(dbTarget))) {
      ownership = await createOwnedDatabase(request.target, name, owners.get(name));
      created = true;
    }
    const restored = await restoreBackup({
      store: request.store,
      key: member.key,
      prefix,
      target: dbTarget,
      maintenanceDatabase: request.target.database,
      decrypt: request.decrypt,
      tools: request.tools,
      logger: request.logger,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    taken?.add(name);
    return { database: name, key: member.key, status: 'restored', tables: restored.tables, rows: restored.rows, ...ownership };
  } catch (error) {
    // Nothing was committed into a database this restore made: it goes, so a second attempt starts clean.
    if (created && dbTarget) await dropDatabase(dbTarget, request.target.database).catch(() => undefined);
    return { database: name ?? member.key, key: member.key, status: 'failed', error: (error as Error).message.split('\n')[0] ?? String(error) };
  }
}
