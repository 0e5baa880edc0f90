import { databaseLocation, formatTimestamp, keyPrefix } from '../core/naming.ts';
import { Secret } from '../config/secret.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import { RestoreError, SentinelError, shortMessageOf } from '../errors.ts';
import { decryptFactoryOf } from '../restore/build-verify-service.ts';
import { findPgTools } from '../restore/pg-tools.ts';
import { restoreBackup, type RestoreProgress } from '../restore/restore.ts';
import { createDestinations } from '../destinations/destination.ts';
import { setDestinationsAmong } from '../destinations/set-destinations.ts';
import { DESTINATION_OPTION, destinationsOfSetText, pickDestination } from '../destinations/pick-destination.ts';
import type { Destination } from '../destinations/destination.ts';
import { restoreSets, type SetsRestoreSummary, type SetToRestore } from '../restore/restore-sets.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { locationForCommand } from './set-option.ts';
import { defineCommand, UsageError, type CommandContext } from './command.ts';
import { restoreServer, type ServerRestoreSummary } from '../restore/restore-server.ts';
import { describeTarget, parseTargetUrl, type RestoreTarget } from '../restore/target.ts';
import type { BackupStore } from '../storage/store.ts';
import { printableKey } from '../util/printable-key.ts';

// `backup-sentinel restore`: streams one backup into a database. Exit codes: 0 restored, 1 failed
// (nothing committed, except a failed --jobs restore, which says so), 64 bad arguments.
export const restoreCommand = defineCommand({
  name: 'restore',
  usage: '[--key KEY | --latest [--all | --set NAME]] [--destination NAME] --target-url URL [--clean] [--create] [--jobs N] [--no-owner]',
  summary: 'restore a backup into a database (sha256-checked, all-or-nothing)',
  options: {
    key: { type: 'string', valueName: 'KEY', description: 'the backup to restore, as `list` prints it' },
    latest: { type: 'boolean', description: 'restore the newest backup (the default without --key)' },
    all: { type: 'boolean', description: 'a whole server: the globals (roles) and every database of the newest run (with SENTINEL_CONFIG: each set\'s newest backup); --target-url names the server\'s maintenance database (e.g. /postgres)' },
    set: { type: 'string', valueName: 'NAME', description: 'the newest backup of one backup set: a database of BACKUP_DATABASES, or a set of SENTINEL_CONFIG (<name>/<database> with databases)' },
    'target-url': { type: 'string', valueName: 'URL', description: 'the database to restore into (default RESTORE_TARGET_URL, which keeps a password out of ps)' },
    clean: { type: 'boolean', description: 'the target may hold data: its schemas are dropped first, inside the restore\'s transaction' },
    create: { type: 'boolean', description: 'create the target database when it does not exist' },
    jobs: {
      type: 'string',
      valueName: 'N',
      description: 'parallel pg_restore jobs, custom-format archives only',
      accepts: { expected: 'a whole number from 1 to 64', test: (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 64 },
    },
    'no-owner': { type: 'boolean', description: 'leave out owners and grants (for a server that lacks the source\'s roles)' },
    destination: DESTINATION_OPTION,
  },
  async run(values, ctx) {
    if (values.key !== undefined && values.latest) throw new UsageError('Give --key KEY or --latest, not both.');
    if (values.all && (values.key !== undefined || values.set !== undefined)) throw new UsageError('--all restores every database of the newest run: give it without --key and --set.');
    if (values.set !== undefined && values.key !== undefined) throw new UsageError('Give --key KEY or --set NAME, not both.');
    if (values.all && (values.clean || values.create || values['no-owner'] || values.jobs !== undefined)) {
      throw new UsageError('--all creates each database itself and restores owners and grants: --clean, --create, --jobs and --no-owner do not apply.');
    }
    const url = values['target-url'] ?? ctx.config.verify.restoreTargetUrl?.reveal();
    if (url === undefined || url.trim() === '') {
      throw new UsageError('--target-url is required: the database to restore into, e.g. --target-url postgres://user@host:5432/newdb (password from PGPASSWORD or ~/.pgpass, or set RESTORE_TARGET_URL instead so it does not show in ps).');
    }
    const jobs = values.jobs === undefined ? 1 : Number(values.jobs);
    const { config } = ctx;
    try {
      const target = parseTargetUrl(new Secret(url.trim()), values['target-url'] !== undefined ? '--target-url' : 'RESTORE_TARGET_URL', process.env.PGPASSWORD);
      if (values['target-url'] !== undefined && /^[^:]+:\/\/[^/@]*:[^/@]*@/.test(url)) {
        ctx.stderr.write('Note: the password in --target-url is visible to other users in `ps` while this runs; prefer PGPASSWORD, ~/.pgpass or RESTORE_TARGET_URL.\n');
      }
      const all = createDestinations(config);
      const note = (line: string) => ctx.stderr.write(`${line}\n`);
      if (values.all && config.sets !== undefined) return await restoreEverySet(ctx, all, values.destination, target);
      // --set of SENTINEL_CONFIG: only the destinations that set writes to.
      const destinations = setDestinationsAmong(all, config, values.set);
      // SENTINEL_CONFIG: --set names a set of the file (its own folder).
      const location = values.set === undefined ? config.location : config.sets !== undefined ? locationForCommand(config, values.set, 'restore') : databaseLocation(config.location, values.set);
      const prefix = keyPrefix(location);
      // With several destinations: the one named, or the first that answers (an unreachable one is skipped, and said).
      const picked = await pickDestination(
        destinations,
        values.destination,
        async (d): Promise<string | undefined> => {
          if (values.all) {
            await d.store.list(prefix);
            return undefined;
          }
          if (values.key === undefined) return (await new BackupCatalog(d.store, prefix).newest())?.key;
          await d.store.head(values.key);
          return values.key;
        },
        note,
        destinationsOfSetText(values.set, config),
      );
      const store = picked.destination.store;
      if (destinations.length > 1) note(`Reading from destination "${picked.destination.name}" (${store.description})`);
      if (values.all) return await restoreWholeServer(ctx, store, target);
      const key = picked.value;
      if (key === undefined) {
        throw new RestoreError(`no backups under "${prefix}" in ${store.description}`, {
          hint:
            values.set === undefined
              ? 'check AWS_S3_BUCKET / BACKUP_DIR, BUCKET_SUBFOLDER and BACKUP_FILE_PREFIX; `backup-sentinel list` shows what is there'
              : config.sets !== undefined
                ? `set ${values.set} has no backup in this destination yet (its backups are under "${prefix}"); \`backup-sentinel list --set ${values.set}\` shows what is there`
                : `--set takes a database name as BACKUP_DATABASES lists it (its backups are under "${prefix}"); check the name and BUCKET_SUBFOLDER`,
        });
      }
      if (values.key === undefined) ctx.stderr.write(`Newest backup: ${printableKey(key)}\n`);
      const summary = await restoreBackup({
        store,
        key,
        prefix,
        target,
        clean: values.clean === true,
        create: values.create === true,
        jobs,
        noOwner: values['no-owner'] === true,
        decrypt: decryptFactoryOf(config),
        tools: findPgTools(config.backup?.pgDumpPath),
        logger: ctx.logger,
        onProgress: (p) => ctx.stderr.write(`${describeProgress(key ?? '', p)}\n`),
        signal: ctx.stopSignal,
      });
      // The format is known only once the backup was read (manifest, name, or its first bytes).
      if (jobs > 1 && summary.format !== 'custom') ctx.stderr.write(`--jobs only applies to custom-format archives; ${summary.key} is ${summary.format}: restored in one stream.\n`);
      ctx.stdout.write(
        `Restored ${printableKey(summary.key)} into ${summary.target}\n` +
          `  ${summary.tables} tables, ${summary.rowsEstimated ? 'about ' : ''}${summary.rows} rows, ${formatBytes(summary.storedBytes)} read in ${formatDuration(summary.durationMs)}\n` +
          `  ${summary.sha256Checked ? `sha256 verified (${summary.sha256})` : `sha256 NOT verified: the backup has no manifest (its sha256 is ${summary.sha256})`}\n`,
      );
      return 0;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      ctx.stderr.write(`Restore failed: ${error instanceof SentinelError ? error.message : error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  },
});

// What a restore of several databases (a whole server, every set) runs with: the command's tools,
// decryption, stop signal, and each step told on stderr.
function restoreOfMany(ctx: CommandContext) {
  return {
    decrypt: decryptFactoryOf(ctx.config),
    tools: findPgTools(ctx.config.backup?.pgDumpPath),
    logger: ctx.logger,
    signal: ctx.stopSignal,
    onStep: (line: string) => ctx.stderr.write(`${line}\n`),
  };
}

// --all: the summary per database on stdout, exit 0 only when everything was restored.
async function restoreWholeServer(ctx: CommandContext, store: BackupStore, target: RestoreTarget): Promise<number> {
  const { config } = ctx;
  const summary = await restoreServer({
    store,
    location: config.location,
    target,
    ...restoreOfMany(ctx),
  });
  ctx.stdout.write(describeServerRestore(summary, describeTarget(target)));
  return summary.ok ? 0 : 1;
}

// --all with SENTINEL_CONFIG: each set's newest backup, each read from the first of the set's
// destinations that answers (or the one --destination names); a set that cannot be read is a failed
// line and the others go on. Exit 0 only when every set was restored.
async function restoreEverySet(ctx: CommandContext, all: readonly Destination[], named: string | undefined, target: RestoreTarget): Promise<number> {
  const { config } = ctx;
  if (named !== undefined && !all.some((d) => d.name === named)) {
    throw new UsageError(`--destination expects one of ${all.map((d) => d.name).join(', ')} (the configured destinations); got "${named}"`);
  }
  const sets: SetToRestore[] = [];
  for (const set of config.sets ?? []) {
    const own = setDestinationsAmong(all, config, set.name);
    const base = { name: set.name, location: set.location, databases: set.databases };
    if (named !== undefined && !own.some((d) => d.name === named)) {
      sets.push({ ...base, source: { error: `set ${set.name} does not write to destination "${named}" (it writes to ${own.map((d) => d.name).join(', ')}): leave --destination out, or restore it with --latest --set ${set.name}` } });
      continue;
    }
    try {
      const picked = await pickDestination(own, named, async (d) => await d.store.list(keyPrefix(set.location)), (line) => ctx.stderr.write(`set ${set.name}: ${line}\n`));
      if (all.length > 1) ctx.stderr.write(`set ${set.name}: reading from destination "${picked.destination.name}" (${picked.destination.store.description})\n`);
      sets.push({ ...base, source: { store: picked.destination.store } });
    } catch (error) {
      sets.push({ ...base, source: { error: shortMessageOf(error) } });
    }
  }
  const summary = await restoreSets({
    sets,
    target,
    ...restoreOfMany(ctx),
  });
  ctx.stdout.write(describeSetsRestore(summary, describeTarget(target)));
  return summary.ok ? 0 : 1;
}

function describeSetsRestore(summary: SetsRestoreSummary, where: string): string {
  const lines = [
    `Restore of each set's newest backup (SENTINEL_CONFIG) onto the server of ${where}`,
    '  roles: not restored (BACKUP_GLOBALS is not kept per set): the roles the databases need must exist already',
  ];
  for (const d of summary.databases) {
    if (d.status === 'restored') {
      lines.push(`  set ${d.set}: ${d.database} restored from ${printableKey(d.key ?? '')}, ${d.tables ?? 0} tables, ${d.rows ?? 0} rows${d.owner ? `, owner ${d.owner}` : ''}${d.note ? ` (${d.note})` : ''}`);
    } else {
      lines.push(`  set ${d.set}: FAILED: ${d.error ?? 'unknown error'}`);
    }
  }
  lines.push(summary.ok ? 'Everything was restored.' : 'Some sets were not restored: see the lines above.');
  return `${lines.join('\n')}\n`;
}

function roles(n: number): string {
  return `${n} role${n === 1 ? '' : 's'}`;
}

function describeServerRestore(summary: ServerRestoreSummary, where: string): string {
  const lines = [`Whole-server restore of the run of ${formatTimestamp(summary.runTime)} (UTC) onto the server of ${where}`];
  const g = summary.globals;
  if (summary.globalsError !== undefined) lines.push(`  globals: FAILED: ${summary.globalsError}`);
  else if (g === undefined) lines.push('  globals: none in this run (BACKUP_GLOBALS was off): the roles the databases need must exist already');
  else {
    if (summary.globalsTime !== undefined) lines.push(`  globals: this run has none (its globals backup failed); using those of ${formatTimestamp(summary.globalsTime)}`);
    lines.push(`  globals: ${roles(g.created.length)} created${g.created.length ? ` (${g.created.join(', ')})` : ''}`);
    if (g.existing.length) lines.push(`  globals: ${roles(g.existing.length)} already on the target, left unchanged (password included): ${g.existing.join(', ')}`);
    if (g.rolePasswords === 'omitted') lines.push('  globals: the backup has no role passwords (the backup user could not read them): set them with ALTER ROLE ... PASSWORD');
    for (const a of g.adjusted) lines.push(`  globals: ${a.role} was set without ${a.dropped.join(', ')} (only a superuser may set them)`);
    for (const f of g.failed) lines.push(`  globals: refused: ${f.statement} -- ${f.error}`);
  }
  for (const d of summary.databases) {
    if (d.status === 'restored') {
      lines.push(`  ${d.database}: restored, ${d.tables ?? 0} tables, ${d.rows ?? 0} rows${d.owner ? `, owner ${d.owner}` : ''}${d.note ? ` (${d.note})` : ''}`);
    } else {
      lines.push(`  ${d.database}: FAILED: ${d.error ?? 'unknown error'}`);
    }
  }
  lines.push(summary.ok ? 'Everything was restored.' : 'Some parts were not restored: see the lines above.');
  return `${lines.join('\n')}\n`;
}

function describeProgress(key: string, p: RestoreProgress): string {
  const of = p.totalBytes === undefined ? '' : ` of ${formatBytes(p.totalBytes)}`;
  const percent = p.percent === undefined ? '' : ` (${p.percent.toFixed(p.percent >= 10 ? 0 : 1)}%)`;
  return `restoring ${printableKey(key)}: ${formatBytes(p.bytes)}${of}${percent}, ${formatDuration(p.elapsedMs)} elapsed`;
}
