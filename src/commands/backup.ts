import { buildBackupService, buildBackupSetsRunner } from '../backup/build-backup-service.ts';
import { BackupHeartbeats } from '../heartbeat/backup-heartbeat.ts';
import type { SetResult } from '../sets/run-sets.ts';
import type { BackupResult } from '../backup/result.ts';
import { configOfSet } from '../config/load-sets.ts';
import type { BackupSetConfig, Config } from '../config/types.ts';
import { createDestinations, destinationSettings, type Destination } from '../destinations/destination.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { defineCommand, UsageError, type CommandContext } from './command.ts';
import { printableKey } from '../util/printable-key.ts';

// Runs one backup now and turns its result into people-readable lines and an exit code:
// 0 stored (or skipped because another replica holds the lock and is backing up), 1 failed,
// 78 nothing to back up (BACKUP_DATABASE_URL unset).
// only.set: one set (a database of BACKUP_DATABASES, a set of SENTINEL_CONFIG); only.destination: one of
// several destinations (with SENTINEL_CONFIG, one of the set's).
// fileSet (SENTINEL_CONFIG): the set being backed up, and the heartbeats the file's sets share.
export async function runSingleBackup(
  ctx: CommandContext,
  only: { set?: string | undefined; destination?: string | undefined } = {},
  fileSet?: { name: string; heartbeats: BackupHeartbeats },
): Promise<number> {
  if (ctx.config.sets !== undefined) return await backupFileSets(ctx, pickFileSets(ctx.config.sets, only.set), only.destination);
  const config = only.set === undefined ? ctx.config : oneDatabase(ctx.config, only.set);
  if (config.backup === undefined) {
    ctx.stderr.write('BACKUP_DATABASE_URL is not set: there is no database to back up.\nWhat to do: set BACKUP_DATABASE_URL=postgres://user:password@host:5432/database\n');
    return 78;
  }
  const destinations = pickDestinations(createDestinations(config), only.destination);
  const store = (destinations[0] as Destination).store;
  const several = destinations.length > 1 ? destinations : undefined;
  // Several databases in several destinations: each database's one dump reaches every destination.
  const sets = buildBackupSetsRunner(config, store, ctx.logger, undefined, several);
  let globals: BackupResult | undefined;
  const service = buildBackupService(config, store, ctx.logger, {
    onGlobals: (result) => {
      globals = result;
    },
    sets,
    destinations: several,
    set: fileSet?.name,
    heartbeats: fileSet?.heartbeats,
  });
  if (service === undefined) return 78;
  // BACKUP_DATABASES: one line per database, and the exit code says whether any failed (naming them).
  const setResults: SetResult[] = [];
  sets?.onSetResult((r) => {
    setResults.push(r);
  });
  const onStop = () => void service.stop();
  ctx.stopSignal.addEventListener('abort', onStop, { once: true });
  try {
    const result = await service.runOnce('manual');
    if (sets !== undefined) {
      for (const r of setResults) {
        const copies = several !== undefined && (r.result.status === 'success' || r.result.status === 'failed') ? r.result.destinations : undefined;
        // Several destinations: a line per copy, naming the set and the destination.
        if (copies === undefined) ctx.stdout.write(`[${r.set}] ${describeForPeople(r.result, store.description)}\n`);
        else for (const d of copies) ctx.stdout.write(`[${r.set} in ${d.destination}] ${describeForPeople(d.result, d.where)}\n`);
      }
      for (const r of setResults) if (r.result.status === 'failed' || r.result.status === 'cancelled') ctx.stderr.write(`[${r.set}] ${r.result.error.message}\n`);
      if (result.status === 'failed' || result.status === 'cancelled') ctx.stderr.write(`${result.error.message}\n`);
    } else if (several !== undefined && (result.status === 'success' || result.status === 'failed') && result.destinations !== undefined) {
      // Several destinations: a line per destination, and the exit code says whether any failed (naming it).
      for (const d of result.destinations) ctx.stdout.write(`[${d.destination}] ${describeForPeople(d.result, d.where)}\n`);
      if (result.status === 'failed') ctx.stderr.write(`${result.error.message}\n`);
    } else {
      ctx.stdout.write(`${describeForPeople(result, several === undefined ? store.description : several.map((d) => d.store.description).join(' and '))}\n`);
      if (result.status === 'failed' || result.status === 'cancelled') ctx.stderr.write(`${result.error.message}\n`);
    }
    // BACKUP_GLOBALS: the globals are their own result, and a failed one fails the command too.
    const g = globals;
    if (g !== undefined) {
      const copies = several !== undefined && (g.status === 'success' || g.status === 'failed') ? g.destinations : undefined;
      if (copies === undefined) ctx.stdout.write(`${describeForPeople(g, store.description).replace(/^Backup/, 'Globals')}\n`);
      else for (const d of copies) ctx.stdout.write(`[${d.destination}] ${describeForPeople(d.result, d.where).replace(/^Backup/, 'Globals')}\n`);
      if (g.status === 'failed' || g.status === 'cancelled') ctx.stderr.write(`${g.error.message}\n`);
    }
    const failed = (r: BackupResult | undefined) => r?.status === 'failed' || r?.status === 'cancelled';
    return failed(result) || failed(g) ? 1 : 0;
  } finally {
    ctx.stopSignal.removeEventListener('abort', onStop);
  }
}

// SENTINEL_CONFIG: every set of the file once, one after another, each under a line naming it; exit 1
// when any failed (a set that only monitors is said so and counts as nothing to do).
async function backupFileSets(ctx: CommandContext, sets: readonly BackupSetConfig[], destination: string | undefined): Promise<number> {
  let code = 0;
  const namesOf = (config: Config): string[] => destinationSettings(config).map((d) => d.name);
  if (destination !== undefined && !sets.some((s) => namesOf(configOfSet(ctx.config, s)).includes(destination))) {
    const written = [...new Set(sets.flatMap((s) => namesOf(configOfSet(ctx.config, s))))];
    throw new UsageError(`--destination expects a destination ${sets.length === 1 ? 'the set writes to' : 'a set writes to'} (${written.join(', ')}); got ${JSON.stringify(destination)}`);
  }
  // Sets sharing BACKUP_HEARTBEAT_URL share its heartbeat: one set's success must not hide another's failure.
  const heartbeats = new BackupHeartbeats(ctx.logger);
  for (const set of sets) {
    if (ctx.stopSignal.aborted) return 1;
    ctx.stdout.write(`== set ${set.name}\n`);
    if (set.backup === undefined) {
      ctx.stdout.write('no database URL (databaseUrl or BACKUP_DATABASE_URL): this set only monitors\n');
      continue;
    }
    const own = configOfSet(ctx.config, set);
    if (destination !== undefined && !namesOf(own).includes(destination)) {
      ctx.stdout.write(`not written to "${destination}": this set's destinations are ${namesOf(own).join(', ')}\n`);
      continue;
    }
    if ((await runSingleBackup({ ...ctx, config: own }, { destination }, { name: set.name, heartbeats })) !== 0) code = 1;
  }
  return code;
}

function describeForPeople(result: BackupResult, where: string): string {
  switch (result.status) {
    case 'success': {
      const m = result.manifest;
      return (
        `Backup stored: ${printableKey(result.key)} in ${where}\n` +
        `  ${formatBytes(m.size)} (${formatBytes(m.uncompressedSize)} before compression), ${formatDuration(result.durationMs)}, ` +
        `${m.parts} part${m.parts === 1 ? '' : 's'}, sha256 ${m.sha256}`
      );
    }
    case 'failed':
      return `Backup failed at stage "${result.stage}" after ${formatDuration(result.durationMs)}: ${result.shortMessage}`;
    case 'skipped':
      return `Backup ${result.message}`;
    case 'cancelled':
      return `Backup cancelled at stage "${result.stage}" after ${formatDuration(result.durationMs)} (stopping): ${result.shortMessage}`;
  }
}

// --set: the set of the file, or the database of BACKUP_DATABASES, alone.
function pickFileSets(sets: readonly BackupSetConfig[], name: string | undefined): readonly BackupSetConfig[] {
  if (name === undefined) return sets;
  const set = sets.find((s) => s.name === name);
  if (set === undefined) throw new UsageError(`--set expects the name of a set of SENTINEL_CONFIG (${sets.map((s) => s.name).join(', ')}); got ${JSON.stringify(name)}`);
  return [set];
}

function oneDatabase(config: Config, name: string): Config {
  if (config.databases === undefined) throw new UsageError(`--set needs BACKUP_DATABASES or SENTINEL_CONFIG (there is one database, backed up without --set); got ${JSON.stringify(name)}`);
  if (config.databases.kind === 'names' && !config.databases.names.includes(name)) {
    throw new UsageError(`--set expects a database of BACKUP_DATABASES (${config.databases.names.join(', ')}); got ${JSON.stringify(name)}`);
  }
  // That database alone, without the globals (a run of every set takes them).
  return { ...config, databases: { kind: 'names', names: [name] }, ...(config.backup === undefined ? {} : { backup: { ...config.backup, globals: false } }) };
}

// --destination: that one of several destinations.
function pickDestinations<T extends Destination>(destinations: T[], name: string | undefined): T[] {
  if (name === undefined) return destinations;
  const picked = destinations.filter((d) => d.name === name);
  if (picked.length === 0) throw new UsageError(`--destination expects one of ${destinations.map((d) => d.name).join(', ')} (the destinations to write to); got ${JSON.stringify(name)}`);
  return picked;
}

export const backupCommand = defineCommand({
  name: 'backup',
  usage: '[--set NAME] [--destination NAME]',
  summary: 'take one backup now (exit code 0 stored, 1 failed)',
  options: {
    set: { type: 'string', valueName: 'NAME', description: 'back up this set only: a database of BACKUP_DATABASES, or a set of SENTINEL_CONFIG (default: every one)' },
    destination: { type: 'string', valueName: 'NAME', description: 'with several destinations: write to this one only (default: each, or with SENTINEL_CONFIG each of the set\'s)' },
  },
  async run(values, ctx) {
    return await runSingleBackup(ctx, { set: values.set, destination: values.destination });
  },
});
