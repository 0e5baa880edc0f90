import { keyPrefix } from '../core/naming.ts';
import { runPrune } from '../retention/prune.ts';
import { describeTiers } from '../retention/tiers.ts';
import type { PruneItem } from '../retention/select-for-prune.ts';
import { createDestinations } from '../destinations/destination.ts';
import { setDestinationsAmong } from '../destinations/set-destinations.ts';
import type { BackupStore } from '../storage/store.ts';
import { errForLog, SentinelError, shortMessageOf } from '../errors.ts';
import { formatBytes } from '../util/format.ts';
import { defineCommand, UsageError } from './command.ts';
import { configForCommand, locationForCommand, SET_OPTION } from './set-option.ts';
import { printableKey, stringifyJsonSafely } from '../util/printable-key.ts';

// `backup-sentinel prune`: deletes backups older than RETENTION_DAYS, or with KEEP_* tiers those no
// tier keeps (never the newest MIN_BACKUPS_KEPT, never while the newest backup is stale, empty or of
// anomalous size); --dry-run lists what and why (with tiers, which tier keeps each kept backup).
// Exit codes: 0 done (or nothing to do), 1 error (with several destinations: any of them failed, the
// others being pruned all the same), 2 refused (backups were due but the newest backup is not good),
// 64 bad arguments.
export const pruneCommand = defineCommand({
  name: 'prune',
  usage: '[--dry-run] [--json] [--set NAME] [--destination NAME]',
  summary: 'delete backups older than RETENTION_DAYS or kept by no KEEP_* tier (--dry-run: list what and why)',
  options: {
    'dry-run': { type: 'boolean', description: 'list what would be deleted and why; delete nothing' },
    json: { type: 'boolean', description: 'print the plan and what was deleted as JSON' },
    set: SET_OPTION,
    destination: { type: 'string', valueName: 'NAME', description: 'with several destinations: prune only this one (default: each in turn, or with SENTINEL_CONFIG each of the set\'s)' },
  },
  async run(values, ctx) {
    const dryRun = values['dry-run'] === true;
    const json = values.json === true;
    // SENTINEL_CONFIG: the set's own retention and thresholds.
    const config = configForCommand(ctx.config, values.set, 'prune');
    const { retention } = config;
    const out = (line = '') => ctx.stdout.write(`${line}\n`);
    if (retention.days <= 0) {
      if (json) out(JSON.stringify({ dryRun, retentionOff: true, toDelete: [], deleted: [] }));
      else out('Retention is off (RETENTION_DAYS=0): nothing is pruned.');
      return 0;
    }
    const location = locationForCommand(ctx.config, values.set, 'prune');
    const logger = ctx.logger.child({ component: 'prune' });
    // Several destinations: each is pruned in turn (or the one named); exit code of the worst. JSON is then
    // an array with a `destination` in each entry; with one destination it stays the one object.
    // With --set of SENTINEL_CONFIG: the destinations that set writes to.
    const all = setDestinationsAmong(createDestinations(config), ctx.config, values.set);
    const chosen = values.destination === undefined ? all : all.filter((d) => d.name === values.destination);
    if (chosen.length === 0) throw new UsageError(`--destination expects one of ${all.map((d) => d.name).join(', ')} (the configured destinations); got "${values.destination ?? ''}"`);
    const docs: Record<string, unknown>[] = [];
    let worst = 0;
    const failed: string[] = [];
    for (const [i, destination] of chosen.entries()) {
      if (!json && i > 0) out();
      const report = (doc: Record<string, unknown>) => docs.push(all.length > 1 ? { destination: destination.name, ...doc } : doc);
      // One destination alone fails the command as before; of several, one that cannot be listed (or
      // whose deletes fail) is reported and the others are still pruned.
      if (all.length === 1) {
        worst = Math.max(worst, await pruneOne(destination.store, report));
        continue;
      }
      try {
        worst = Math.max(worst, await pruneOne(destination.store, report));
      } catch (error) {
        failed.push(destination.name);
        const problem = describePruneFailure(destination.name, destination.store.description, error);
        logger.error({ err: errForLog(error), destination: destination.name }, 'prune of a destination failed');
        if (json) report({ dryRun, error: problem.error, hint: problem.hint });
        else ctx.stderr.write(`[${destination.name}] Prune of ${destination.store.description} failed: ${problem.error}\n  What to do: ${problem.hint}\n`);
      }
    }
    if (json) out(stringifyJsonSafely(all.length > 1 ? docs : docs[0]));
    // A destination that failed outranks a refusal elsewhere: something was not done and needs a look.
    if (failed.length > 0) {
      const others = chosen.length > failed.length ? '; the others were pruned' : '';
      if (!json) ctx.stderr.write(`Prune failed in ${failed.length} of ${chosen.length} destination(s): ${failed.map((n) => `"${n}"`).join(', ')}${others}.\n`);
      return 1;
    }
    return worst;

    // One destination's prune: text to stdout, or its JSON document to `report`; the exit code.
    async function pruneOne(store: BackupStore, report: (doc: Record<string, unknown>) => void): Promise<number> {
      const result = await runPrune({
        store,
        location,
        policy: { days: retention.days, tiers: retention.tiers, minKept: retention.minKept, maxAgeHours: config.monitor.maxAgeHours, emptyMaxBytes: config.monitor.emptyMaxBytes },
        now: new Date(),
        // Stale, empty or anomalous newest backup (the monitor's checks on the same listing): no prune.
        monitorPolicy: config.monitor,
        dryRun,
        onDeleted: (keys) => logger.info({ keys }, `deleted ${keys.length} object(s)`),
      });
      const { plan } = result;
      const listed = plan.refusal !== undefined ? plan.held : plan.toDelete;
      // A refusal matters only when something was due: with nothing to delete there is nothing to refuse.
      const refused = plan.refusal !== undefined && plan.held.length > 0;
      if (json) {
        report({
          dryRun,
          refusal: plan.refusal ?? null,
          cutoff: plan.cutoff.toISOString(),
          toDelete: listed,
          kept: plan.kept,
          deleted: result.deleted,
          bytesFreed: result.bytesFreed,
        });
        return refused ? 2 : 0;
      }
      const tiers = retention.tiers;
      const policyText =
        tiers === undefined
          ? `RETENTION_DAYS=${retention.days}`
          : `${describeTiers(tiers)} (CRON_TZ=${tiers.timeZone})${tiers.keepWithinDays === undefined ? '' : `, RETENTION_DAYS=${tiers.keepWithinDays}`}`;
      out(
        `Prune of ${store.description}, prefix "${keyPrefix(location)}": ${policyText}, MIN_BACKUPS_KEPT=${retention.minKept}` +
          `${dryRun ? ' (dry run: nothing is deleted)' : ''}`,
      );
      out(
        tiers === undefined
          ? `${plan.backupCount} backup(s) under the prefix; older than ${plan.cutoff.toISOString()} is due.`
          : `${plan.backupCount} backup(s) under the prefix; those kept by no tier${tiers.keepWithinDays === undefined ? '' : ` and older than ${plan.cutoff.toISOString()}`} are due.`,
      );
      const backups = listed.filter((i) => i.kind === 'backup');
      const manifests = listed.filter((i) => i.kind === 'manifest');
      const pieces = listed.filter((i) => i.kind === 'piece');
      const bytes = listed.reduce((sum, i) => sum + i.size, 0);
      if (refused) {
        out(`Refused: ${plan.refusal ?? ''}.`);
        out('Nothing deleted; once the newest backup is good these would go:');
      } else if (listed.length === 0) {
        out(plan.refusal === undefined ? 'Nothing to delete.' : `Nothing to delete (note: ${plan.refusal}).`);
      } else {
        const verb = dryRun ? 'Would delete' : 'Deleted';
        const piecesText = pieces.length > 0 ? `, ${pieces.length} further piece(s) of split backups` : '';
        out(`${verb} ${backups.length} backup(s)${piecesText} and ${manifests.length} manifest(s), ${formatBytes(bytes)}:`);
      }
      for (const item of listed) out(`  ${printableKey(item.key)}  ${describe(item)}`);
      if (plan.kept.length > 0) {
        out(tiers === undefined ? `Kept although older than ${retention.days} days:` : 'Kept, and by which tier (the period it is the newest backup of):');
        for (const item of plan.kept) out(`  ${printableKey(item.key)}  ${item.ageDays} days old: ${item.reason}`);
      }
      return refused ? 2 : 0;
    }
  },
});

// Why a destination could not be pruned and what to check: the storage error's own hint when it has one.
function describePruneFailure(name: string, where: string, error: unknown): { error: string; hint: string } {
  const hint = error instanceof SentinelError && error.hint !== undefined ? error.hint : undefined;
  return {
    error: shortMessageOf(error),
    hint: `${hint === undefined ? '' : `${hint}; `}check that destination "${name}" (${where}) is reachable and writable, then run prune again (\`--destination ${name}\` prunes it alone)`,
  };
}

function describe(item: PruneItem): string {
  return item.kind === 'manifest' ? item.reason : `${item.reason}, ${formatBytes(item.size)}`;
}
