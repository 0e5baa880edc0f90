import { maskUrl, Secret } from '../config/secret.ts';
import { defineCommand } from './command.ts';

// `backup-sentinel config`: the effective configuration as the service reads it (defaults applied,
// values parsed), secrets masked: a URL keeps everything but its password, any other secret is `***`.

// How hints word the settings of the file's sets and destinations: not settings themselves.
const NOT_SETTINGS = new Set(['settingNames']);

function shown(value: unknown): unknown {
  if (value instanceof Secret) {
    const text = value.reveal();
    // A database URL's path is its database name; any other URL's path may be its token (webhooks, pings).
    if (/^postgres(ql)?:\/\//i.test(text)) return maskUrl(text);
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? maskUrl(text, { showPath: false }) : '***';
  }
  // A plain setting that still carries user info (an endpoint written as https://user:pass@host).
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(value)) return maskUrl(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(shown);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => !NOT_SETTINGS.has(k)).map(([k, v]) => [k, shown(v)]));
  return value;
}

// `storage.bucket: vlvt-backups` lines, one per leaf; unset values as `-`.
function lines(value: unknown, path: string): string[] {
  if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) return value.flatMap((v, i) => lines(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => lines(v, path === '' ? k : `${path}.${k}`));
  }
  // Leaves only: strings, numbers, booleans, and arrays of them (objects were split above).
  const leaf = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));
  const text = value === undefined || value === null ? '-' : Array.isArray(value) ? value.map(leaf).join(', ') || '-' : leaf(value);
  return [`${path}: ${text}`];
}

export const configCommand = defineCommand({
  name: 'config',
  usage: '[--json]',
  summary: 'print the effective configuration (defaults applied, secrets masked)',
  options: { json: { type: 'boolean', description: 'as JSON' } },
  run(values, ctx) {
    const effective = shown(ctx.config);
    ctx.stdout.write(values.json ? `${JSON.stringify(effective, null, 2)}\n` : `${lines(effective, '').join('\n')}\n`);
    return Promise.resolve(0);
  },
});
