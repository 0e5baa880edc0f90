import type { SettingNames } from '../config/setting-names.ts';
import { worstStatus } from '../http/health.ts';
import { pairKey, splitPair, type Finding } from '../core/findings.ts';
import { setDestinationsAmong } from '../destinations/set-destinations.ts';
import { unitNaming } from '../sets/unit-naming.ts';
import { MonitorRunner } from '../monitor/runner.ts';
import { buildStatus } from '../monitor/state.ts';
import { createDestinations, type Destination } from '../destinations/destination.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { defineCommand, UsageError, type CommandContext } from './command.ts';
import { databaseLocation } from '../core/naming.ts';
import type { Config, DatabaseSelection, Location, MonitorSettings } from '../config/types.ts';
import type { Severity } from '../core/findings.ts';
import { currentSetNames } from '../sets/list-databases.ts';
import type { BackupStore } from '../storage/store.ts';
import { printableKey, stringifyJsonSafely } from '../util/printable-key.ts';

// Exit codes, for cron jobs and CI: 0 all clear, 1 warnings only, 2 at least one failure.
const CHECK_EXIT = { pass: 0, warn: 1, fail: 2 } as const;

// `backup-sentinel check`: one freshness check of the storage, printed for people or as JSON.
export const checkCommand = defineCommand({
  name: 'check',
  usage: '[--json] [--set NAME] [--destination NAME]',
  summary: 'check once that backups in storage are fresh (exit 0 ok, 1 warn, 2 fail)',
  options: {
    json: { type: 'boolean', description: 'print the result as JSON (on stdout; logs stay on stderr)' },
    set: { type: 'string', valueName: 'NAME', description: 'with BACKUP_DATABASES or SENTINEL_CONFIG: check this backup set only (default: every one)' },
    destination: { type: 'string', valueName: 'NAME', description: 'with several destinations: check this one only (default: each)' },
  },
  async run(values, ctx) {
    const { config } = ctx;
    const destinations = createDestinations(config, {}, ctx.logger);
    const store = (destinations[0] as Destination).store;
    const only = { set: values.set, destination: values.destination };
    if (config.databases !== undefined || config.sets !== undefined) {
      const targets = await setTargets(config);
      // Sets in several destinations: each (set, destination) checked on its own, named by both.
      if (unitNaming(config, destinations).kind === 'set+destination') {
        const pairs = targets.flatMap((t) => setDestinationsAmong(destinations, config, t.set).map((d) => ({ name: pairKey(t.set, d.name), set: t.set, destination: d.name, store: d.store, location: t.location, settings: t.settings, settingNames: t.settingNames })));
        return await checkSets(values.json === true, ctx, narrow(pairs, only), 'pairs');
      }
      const sets = targets.map((t) => ({ name: t.set, set: t.set, destination: destinations[0]?.name, store, location: t.location, settings: t.settings, settingNames: t.settingNames }));
      return await checkSets(values.json === true, ctx, narrow(sets, only), 'sets');
    }
    // Several destinations: each checked on its own, like sets (`--json` lists them under `sets`, by destination).
    if (destinations.length > 1) {
      const scopes = destinations.map((d) => ({ name: d.name, set: undefined, destination: d.name, store: d.store, location: config.location, settings: config.monitor }));
      return await checkSets(values.json === true, ctx, narrow(scopes, only), 'destinations');
    }
    narrow([{ set: undefined, destination: destinations[0]?.name }], only);
    const runner = new MonitorRunner({ store, location: config.location, settings: config.monitor, logger: ctx.logger });
    const result = await runner.runCheck();
    const status = worstStatus(result.findings.map((f) => f.severity));
    const snapshot = runner.snapshot();
    if (values.json) {
      ctx.stdout.write(`${stringifyJsonSafely({ status, ...buildStatus(snapshot, result.at) }, 2)}\n`);
      return CHECK_EXIT[status];
    }
    const lines = [`Checked ${snapshot.where} at ${result.at.toISOString()}`];
    const { inventory } = snapshot;
    if (result.ok) {
      lines.push(`  ${inventory.count} backup${inventory.count === 1 ? '' : 's'}, ${formatBytes(inventory.totalBytes)} in total`);
      if (inventory.newest) {
        const age = formatDuration(Math.max(0, result.at.getTime() - inventory.newest.time.getTime()));
        lines.push(`  newest: ${printableKey(inventory.newest.key)} (${formatBytes(inventory.newest.size)}, ${age} ago)`);
      }
    }
    lines.push('');
    if (result.findings.length === 0) {
      lines.push(`OK: newest backup within ${config.monitor.maxAgeHours} h, no empty or anomalous backup.`);
    } else {
      for (const finding of result.findings) lines.push(...describeFinding(finding));
      const fails = result.findings.filter((f) => f.severity === 'fail').length;
      const warns = result.findings.length - fails;
      lines.push(`${status.toUpperCase()}: ${[fails ? `${fails} failure${fails === 1 ? '' : 's'}` : '', warns ? `${warns} warning${warns === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ')}.`);
    }
    ctx.stdout.write(`${lines.join('\n')}\n`);
    return CHECK_EXIT[status];
  },
});

// BACKUP_DATABASES (or several destinations): every set (destination) checked on its own; the exit code is the
// worst one's, `--json` lists each.
async function checkSets(
  json: boolean,
  ctx: CommandContext,
  scopes: readonly { name: string; store: BackupStore; location: Location; settings: MonitorSettings; settingNames?: SettingNames | undefined }[],
  kind: 'sets' | 'destinations' | 'pairs',
): Promise<number> {
  const { config } = ctx;
  const names = scopes.map((s) => s.name);
  const results = await Promise.all(
    scopes.map(async ({ name: set, store, location, settings, settingNames }) => {
      const runner = new MonitorRunner({ store, location, settings, settingNames, logger: ctx.logger.child(kind === 'sets' ? { set } : kind === 'pairs' ? splitPair(set) : { destination: set }) });
      const result = await runner.runCheck();
      return { set, result, snapshot: runner.snapshot(), status: worstStatus(result.findings.map((f) => f.severity)) };
    }),
  );
  const status = worstStatus(results.map((r) => r.status).filter((s): s is Severity => s !== 'pass'));
  if (json) {
    const sets = Object.fromEntries(results.map((r) => [r.set, { status: r.status, ...buildStatus(r.snapshot, r.result.at) }]));
    ctx.stdout.write(`${stringifyJsonSafely({ status, sets }, 2)}\n`);
    return CHECK_EXIT[status];
  }
  const lines: string[] = [];
  for (const { set, result, snapshot, status: setStatus } of results) {
    const { inventory } = snapshot;
    const newest = inventory.newest === undefined ? 'no backup' : `newest ${printableKey(inventory.newest.key)} (${formatBytes(inventory.newest.size)}, ${formatDuration(Math.max(0, result.at.getTime() - inventory.newest.time.getTime()))} ago)`;
    const name = kind === 'pairs' ? `${splitPair(set).set} in ${splitPair(set).destination}` : set;
    lines.push(`${setStatus.toUpperCase()} ${name}: ${inventory.count} backup${inventory.count === 1 ? '' : 's'}, ${newest}`);
    for (const finding of result.findings) lines.push(...describeFinding(finding).map((l) => (l === '' ? l : `  ${l}`)));
  }
  const failed = results.filter((r) => r.status !== 'pass').map((r) => (kind === 'pairs' ? `${splitPair(r.set).set} in ${splitPair(r.set).destination}` : r.set));
  lines.push(
    names.length === 0
      ? `WARN: no backup set to check (${config.sets === undefined ? 'BACKUP_DATABASES' : 'SENTINEL_CONFIG'} selects no database).`
      : failed.length === 0
        ? `OK: all ${names.length} ${kind === 'sets' ? 'sets' : kind === 'pairs' ? 'copies of the sets' : 'destinations'} fresh.`
        : `${status.toUpperCase()}: ${failed.join(', ')}.`,
  );
  ctx.stdout.write(`${lines.join('\n')}\n`);
  return names.length === 0 ? CHECK_EXIT.warn : CHECK_EXIT[status];
}

// --set and --destination keep the scopes they name; a name that matches none is refused, naming those
// there are (a typo in a cron job's `check --set` must not pass as "all fresh" over nothing).
function narrow<T extends { set: string | undefined; destination: string | undefined }>(scopes: readonly T[], only: { set: string | undefined; destination: string | undefined }): T[] {
  let kept = [...scopes];
  for (const key of ['set', 'destination'] as const) {
    const wanted = only[key];
    if (wanted === undefined) continue;
    const known = [...new Set(kept.map((s) => s[key]).filter((n): n is string => n !== undefined))];
    if (known.length === 0) throw new UsageError(`--${key} needs ${key === 'set' ? 'backup sets (BACKUP_DATABASES or the sets of SENTINEL_CONFIG)' : 'a destination'}; this configuration has none, so leave --${key} out`);
    if (!known.includes(wanted)) throw new UsageError(`--${key} expects one of ${known.join(', ')}; got ${JSON.stringify(wanted)}`);
    kept = kept.filter((s) => s[key] === wanted);
  }
  return kept;
}

// The sets to check, each with its folder and thresholds: BACKUP_DATABASES's databases, or SENTINEL_CONFIG's
// sets (with `databases`, each database as `<name>/<database>`).
async function setTargets(config: Config): Promise<{ set: string; location: Location; settings: MonitorSettings; settingNames?: SettingNames | undefined }[]> {
  if (config.sets === undefined) {
    const names = await currentSetNames(config.databases as DatabaseSelection, config.backup?.databaseUrl);
    return names.map((set) => ({ set, location: databaseLocation(config.location, set), settings: config.monitor }));
  }
  const perSet = await Promise.all(
    config.sets.map(async (s) => {
      if (s.databases === undefined) return [{ set: s.name, location: s.location, settings: s.monitor, settingNames: s.settingNames }];
      const names = await currentSetNames(s.databases, s.backup?.databaseUrl);
      return names.map((db) => ({ set: `${s.name}/${db}`, location: databaseLocation(s.location, db), settings: s.monitor, settingNames: s.settingNames }));
    }),
  );
  return perSet.flat();
}

function describeFinding(finding: Finding): string[] {
  const lines = [`${finding.severity.toUpperCase()} ${finding.check}: ${finding.summary}`];
  if (finding.hint) lines.push(`  what to do: ${finding.hint}`);
  lines.push('');
  return lines;
}
