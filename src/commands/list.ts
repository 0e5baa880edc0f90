import { keyPrefix } from '../core/naming.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import { createDestinations } from '../destinations/destination.ts';
import { shortMessageOf } from '../errors.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { defineCommand, UsageError } from './command.ts';
import { configForCommand, locationForCommand, SET_OPTION } from './set-option.ts';
import { printableKey, stringifyJsonSafely } from '../util/printable-key.ts';

// `backup-sentinel list`: the backups in storage, newest first, with size and age (manifests and the
// service's own files are left out). With several destinations, each destination's, one after another;
// one that cannot be read is said (and the exit code is 1) while the others are still listed.
export const listCommand = defineCommand({
  name: 'list',
  usage: '[--json] [--set NAME] [--destination NAME]',
  summary: 'list the backups in storage with size and age',
  options: {
    json: { type: 'boolean', description: 'print the backups as JSON (key, size, time, lastModified, ageSeconds; with several destinations also destination)' },
    set: SET_OPTION,
    destination: { type: 'string', valueName: 'NAME', description: 'with several destinations: list only this one (default: each of them, or with SENTINEL_CONFIG each of the set\'s)' },
  },
  async run(values, ctx) {
    const { config } = ctx;
    const location = locationForCommand(config, values.set, 'list');
    // SENTINEL_CONFIG: the set's own destinations (its `destinations`), in the order of the file.
    const all = createDestinations(config.sets === undefined ? config : configForCommand(config, values.set, 'list'), {}, ctx.logger);
    const destinations = values.destination === undefined ? all : all.filter((d) => d.name === values.destination);
    if (destinations.length === 0) throw new UsageError(`--destination expects one of ${all.map((d) => d.name).join(', ')} (the destinations${config.sets === undefined ? '' : ' of this set'}); got ${JSON.stringify(values.destination)}`);
    const several = all.length > 1;
    const now = new Date();
    const json: Record<string, unknown>[] = [];
    const text: string[] = [];
    let unreadable = false;
    for (const destination of destinations) {
      const catalog = new BackupCatalog(destination.store, keyPrefix(location));
      let backups;
      try {
        backups = (await catalog.list()).backups.reverse();
      } catch (error) {
        // One destination alone fails the command as before; of several, the others are still listed.
        if (!several) throw error;
        unreadable = true;
        ctx.stderr.write(`[${destination.name}] cannot list ${catalog.where}: ${shortMessageOf(error)}\n`);
        continue;
      }
      if (values.json) {
        for (const b of backups) {
          json.push({
            ...(several ? { destination: destination.name } : {}),
            key: b.key,
            size: b.size,
            time: b.time.toISOString(),
            lastModified: b.lastModified.toISOString(),
            ageSeconds: Math.round((now.getTime() - b.time.getTime()) / 1000),
          });
        }
        continue;
      }
      const tag = several ? `[${destination.name}] ` : '';
      const { where } = catalog;
      if (backups.length === 0) {
        text.push(`${tag}No backups in ${where}.`);
        continue;
      }
      const rows = backups.map((b) => [printableKey(b.key), formatBytes(b.size), `${formatDuration(Math.max(0, now.getTime() - b.time.getTime()))} ago`, b.time.toISOString().replace('.000Z', 'Z')]);
      const header = ['KEY', 'SIZE', 'AGE', 'TIME (UTC)'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
      const total = backups.reduce((sum, b) => sum + b.size, 0);
      text.push([`${tag}${backups.length} backup${backups.length === 1 ? '' : 's'} in ${where}, ${formatBytes(total)} in total:`, line(header), ...rows.map(line)].join('\n'));
    }
    if (values.json) ctx.stdout.write(`${stringifyJsonSafely(json)}\n`);
    else if (text.length > 0) ctx.stdout.write(`${text.join('\n\n')}\n`);
    return unreadable ? 1 : 0;
  },
});
