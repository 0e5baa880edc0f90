import { keyPrefix } from '../core/naming.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import { createStore } from '../storage/create-store.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { defineCommand } from './command.ts';
import { locationForCommand, SET_OPTION } from './set-option.ts';
import { printableKey, stringifyJsonSafely } from '../util/printable-key.ts';

// `backup-sentinel list`: the backups in storage, newest first, with size and age (manifests and the
// service's own files are left out).
export const listCommand = defineCommand({
  name: 'list',
  usage: '[--json] [--set NAME]',
  summary: 'list the backups in storage with size and age',
  options: {
    json: { type: 'boolean', description: 'print the backups as JSON (key, size, time, lastModified, ageSeconds)' },
    set: SET_OPTION,
  },
  async run(values, ctx) {
    const { config } = ctx;
    const location = locationForCommand(config, values.set, 'list');
    const catalog = new BackupCatalog(createStore(config, {}, ctx.logger), keyPrefix(location));
    const now = new Date();
    const backups = (await catalog.list()).backups.reverse();
    if (values.json) {
      ctx.stdout.write(
        `${stringifyJsonSafely(backups.map((b) => ({ key: b.key, size: b.size, time: b.time.toISOString(), lastModified: b.lastModified.toISOString(), ageSeconds: Math.round((now.getTime() - b.time.getTime()) / 1000) })))}\n`,
      );
      return 0;
    }
    const { where } = catalog;
    if (backups.length === 0) {
      ctx.stdout.write(`No backups in ${where}.\n`);
      return 0;
    }
    const rows = backups.map((b) => [printableKey(b.key), formatBytes(b.size), `${formatDuration(Math.max(0, now.getTime() - b.time.getTime()))} ago`, b.time.toISOString().replace('.000Z', 'Z')]);
    const header = ['KEY', 'SIZE', 'AGE', 'TIME (UTC)'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => (i === 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
    const total = backups.reduce((sum, b) => sum + b.size, 0);
    ctx.stdout.write(
      [`${backups.length} backup${backups.length === 1 ? '' : 's'} in ${where}, ${formatBytes(total)} in total:`, line(header), ...rows.map(line)].join('\n') + '\n',
    );
    return 0;
  },
});
