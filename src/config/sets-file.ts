import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { ConfigProblem } from '../errors.ts';
import { parseDestinations, type DestinationEntry } from './destinations-file.ts';
import type { Env } from './parse.ts';

// SENTINEL_CONFIG: a YAML file listing backup sets. This module only reads the file's shape and turns
// each set into environment-variable values (`compression: zstd` is BACKUP_COMPRESSION=zstd), so that
// load-config.ts validates a set with exactly the functions that validate the environment; a problem
// then names the set's path in the file (`sets[1].compression`) instead of the variable.

// A set's key in the file and the variable it stands for. `list`: a YAML list is joined with commas.
interface SetKey {
  key: string;
  variable: string;
  list?: boolean;
}

const SET_KEYS: readonly SetKey[] = [
  { key: 'databaseUrl', variable: 'BACKUP_DATABASE_URL' },
  { key: 'databases', variable: 'BACKUP_DATABASES', list: true },
  { key: 'excludeDatabases', variable: 'BACKUP_EXCLUDE_DATABASES', list: true },
  { key: 'schedule', variable: 'BACKUP_CRON_SCHEDULE' },
  { key: 'runOnStartup', variable: 'RUN_ON_STARTUP' },
  { key: 'format', variable: 'BACKUP_FORMAT' },
  { key: 'compression', variable: 'BACKUP_COMPRESSION' },
  { key: 'options', variable: 'BACKUP_OPTIONS' },
  { key: 'subfolder', variable: 'BUCKET_SUBFOLDER' },
  { key: 'prefix', variable: 'BACKUP_FILE_PREFIX' },
  { key: 'encryptionRecipients', variable: 'BACKUP_ENCRYPTION_RECIPIENTS', list: true },
  { key: 'encryptionPassphrase', variable: 'BACKUP_ENCRYPTION_PASSPHRASE' },
  { key: 'maxAgeHours', variable: 'MAX_BACKUP_AGE_HOURS' },
  { key: 'sizeWindow', variable: 'SIZE_WINDOW' },
  { key: 'sizeDropRatio', variable: 'SIZE_DROP_RATIO' },
  { key: 'sizeGrowthRatio', variable: 'SIZE_GROWTH_RATIO' },
  { key: 'sizeMinDiffBytes', variable: 'SIZE_MIN_DIFF_BYTES' },
  { key: 'emptyBackupMaxBytes', variable: 'EMPTY_BACKUP_MAX_BYTES' },
  { key: 'retentionDays', variable: 'RETENTION_DAYS' },
  { key: 'minBackupsKept', variable: 'MIN_BACKUPS_KEPT' },
  { key: 'keepDaily', variable: 'KEEP_DAILY' },
  { key: 'keepWeekly', variable: 'KEEP_WEEKLY' },
  { key: 'keepMonthly', variable: 'KEEP_MONTHLY' },
  { key: 'keepYearly', variable: 'KEEP_YEARLY' },
  { key: 'heartbeatUrl', variable: 'BACKUP_HEARTBEAT_URL' },
];

// What a hint should call each variable the set's file entry gave: `databaseUrl of set "app" in
// SENTINEL_CONFIG` for BACKUP_DATABASE_URL (a variable the set takes from the environment keeps its name).
export function setSettingNames(entry: Pick<SetEntry, 'name' | 'values'>): Record<string, string> {
  return Object.fromEntries(SET_KEYS.filter((k) => (entry.values[k.variable] ?? '') !== '').map((k) => [k.variable, `${k.key} of set "${entry.name}" in SENTINEL_CONFIG`]));
}

// One set as the file gives it: its name, and the variables its keys set ('' = unset for this set).
export interface SetEntry {
  // `sets[2]`
  path: string;
  name: string;
  // Whether the file gave `subfolder` (else the set's folder is BUCKET_SUBFOLDER/<name>).
  hasSubfolder: boolean;
  values: Record<string, string>;
  // variable -> `sets[2].compression (line 14)`, for problems about a value the file gave.
  paths: Record<string, string>;
  // The set's `destinations`: names of the file's (or the environment's) destinations, each with its
  // path and line; undefined: every destination.
  destinations?: { name: string; path: string }[];
}

export interface SetsFile {
  sets: SetEntry[];
  // undefined: the file has no `destinations` (the environment's storage is used).
  destinations?: DestinationEntry[] | undefined;
  // Whether the file has `sets` (a file may list destinations only).
  hasSets?: boolean;
  problems: ConfigProblem[];
}

// A set's name is its folder and its `set` label: no encoding needed, never "@…" or ".…" (reserved).
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const REFERENCE = /\$\{([^}]*)\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function describeNode(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'nothing' : JSON.stringify(node.value);
  return 'nothing';
}

// Parses the file's text; every problem of every set at once, each with its path and line.
export function parseSetsFile(text: string, env: Env): SetsFile {
  const problems: ConfigProblem[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
  };
  const problem = (path: string, node: Node | null | undefined, expected: string, given: string): void => {
    problems.push({ variable: `${path}${at(node)}`, expected, given });
  };
  for (const error of doc.errors) {
    const line = lines.linePos(error.pos[0]).line;
    problems.push({ variable: `SENTINEL_CONFIG (line ${line})`, expected: 'a valid YAML file', given: error.message.split('\n')[0] ?? error.code });
  }
  if (doc.errors.length > 0) return { sets: [], problems };
  const root = doc.contents;
  const example = 'sets:\n  - name: app\n    databaseUrl: ${APP_DATABASE_URL}';
  if (!isMap(root)) {
    problem('SENTINEL_CONFIG', root, `a mapping with a "sets" list, such as:\n${example}`, describeNode(root));
    return { sets: [], problems };
  }
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (key !== 'sets' && key !== 'destinations') problem(key === '' ? 'SENTINEL_CONFIG' : key, pair.key, 'only the keys "sets" and "destinations" at the top of the file (service-wide settings stay environment variables)', JSON.stringify(key));
  }
  // A key's value as text, `${VAR}` resolved; undefined (and a problem) when it cannot be used.
  const valueOf = (path: string, value: Node | null, listAllowed = false): string | undefined => {
    const text = scalarText(value, listAllowed);
    if (text === undefined) {
      problem(path, value, listAllowed ? 'a value or a list of values' : 'a single value (a string, number or true/false)', describeNode(value));
      return undefined;
    }
    const resolved = resolveReferences(text, env);
    if (resolved.missing.length > 0) {
      problem(path, value, `the environment variable${resolved.missing.length === 1 ? '' : 's'} ${resolved.missing.join(', ')} to be set (the file refers to ${resolved.missing.map((n) => `\${${n}}`).join(', ')})`, 'unset');
      return undefined;
    }
    return resolved.text;
  };
  const destinations = root.has('destinations') ? parseDestinations(root.get('destinations', true), { problem, at, describe: describeNode, value: valueOf }) : undefined;
  const list = root.get('sets', true);
  if (destinations !== undefined && !root.has('sets')) return { sets: [], destinations, hasSets: false, problems };
  if (!isSeq(list) || list.items.length === 0) {
    problem('sets', list, 'a list of at least one backup set, each with a name', describeNode(list));
    return { sets: [], destinations, problems };
  }
  const known = SET_KEYS.map((k) => k.key);
  // A set's `destinations`: a list of names (load-sets.ts checks that each is a destination).
  const destinationNames = (path: string, node: Node | null): { name: string; path: string }[] => {
    const items = isSeq(node) ? node.items : [node];
    const names = items.map((item, i) => ({ item, path: isSeq(node) ? `${path}[${i}]` : path }));
    if (names.length === 0 || !names.every(({ item }) => isScalar(item) && typeof item.value === 'string' && item.value !== '')) {
      problem(path, node, 'a list of destination names, such as [r2, local] (the names in the file\'s top-level "destinations", or s3 and dir for AWS_S3_BUCKET with BACKUP_DIR); leave it out for every destination', describeNode(node));
      return [];
    }
    return names.map(({ item, path: itemPath }) => ({ name: String((item as { value: string }).value), path: `${itemPath}${at(item as Node)}` }));
  };
  const sets: SetEntry[] = [];
  list.items.forEach((item, index) => {
    const base = `sets[${index}]`;
    if (!isMap(item)) {
      problem(base, item as Node, 'a mapping with a name and the set\'s settings', describeNode(item));
      return;
    }
    const entry: SetEntry = { path: base, name: '', hasSubfolder: false, values: {}, paths: {} };
    const nameNode = item.get('name', true);
    const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
    if (name === undefined || !SET_NAME.test(name)) {
      problem(`${base}.name`, nameNode ?? item, 'a set name of 1-63 letters, digits, "_", "." and "-", starting with a letter or digit (it names the set\'s folder, metrics and alerts)', describeNode(nameNode));
    } else if (sets.some((s) => s.name === name)) {
      problem(`${base}.name`, nameNode, 'a name no other set has', `${JSON.stringify(name)}, also the name of ${sets.find((s) => s.name === name)?.path ?? ''}`);
    }
    entry.name = name ?? `#${index}`;
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (key === 'name') continue;
      const spec = SET_KEYS.find((k) => k.key === key);
      const path = `${base}.${key}`;
      if (key === 'destinations') {
        entry.destinations = destinationNames(path, pair.value as Node | null);
        continue;
      }
      if (spec === undefined) {
        problem(path, pair.key as Node, `one of the set settings: name, destinations, ${known.join(', ')}`, `the unknown key ${JSON.stringify(key)}`);
        continue;
      }
      const value = pair.value as Node | null;
      const text = valueOf(path, value, spec.list === true);
      if (text === undefined) continue;
      entry.values[spec.variable] = text;
      entry.paths[spec.variable] = `${path}${at(value)}`;
      if (key === 'subfolder') entry.hasSubfolder = true;
    }
    sets.push(entry);
  });
  return { sets, destinations, hasSets: true, problems };
}

// A scalar as text, or a list of scalars joined with commas where a list is allowed; undefined otherwise.
function scalarText(node: Node | null, listAllowed: boolean): string | undefined {
  if (node === null || isScalar(node)) {
    const value = node === null ? null : node.value;
    if (value === null) return '';
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  }
  if (listAllowed && isSeq(node)) {
    const parts = node.items.map((i) => (isScalar(i) && (typeof i.value === 'string' || typeof i.value === 'number') ? String(i.value) : undefined));
    return parts.every((p) => p !== undefined) ? parts.join(',') : undefined;
  }
  return undefined;
}

// `${NAME}` becomes the environment variable's value (in strings only, after parsing, so a value can
// never change the file's structure); `$${` stays a literal `${`. Missing names are returned, never
// a value.
function resolveReferences(text: string, env: Env): { text: string; missing: string[] } {
  const missing: string[] = [];
  const out = text.split('$${').map((part) =>
    part.replace(REFERENCE, (whole, name: string) => {
      const value = VARIABLE_NAME.test(name) ? env[name] : undefined;
      if (value === undefined || value === '') {
        missing.push(VARIABLE_NAME.test(name) ? name : JSON.stringify(whole));
        return '';
      }
      return value;
    }),
  );
  return { text: out.join('${'), missing: [...new Set(missing)] };
}
