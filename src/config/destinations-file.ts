import { isMap, isScalar, isSeq, type Node } from 'yaml';

// The top-level `destinations:` list of SENTINEL_CONFIG. Like a set, each entry only becomes
// environment-variable values (`bucket: b` is AWS_S3_BUCKET=b), so load-config.ts checks an entry with
// exactly the function that checks the environment's storage; a problem then names the entry's path.

const DESTINATION_KEYS: Readonly<Record<string, string>> = {
  bucket: 'AWS_S3_BUCKET',
  endpoint: 'AWS_S3_ENDPOINT',
  region: 'AWS_S3_REGION',
  forcePathStyle: 'AWS_S3_FORCE_PATH_STYLE',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  objectLock: 'SUPPORT_OBJECT_LOCK',
  dir: 'BACKUP_DIR',
};

// A destination's name is its `destination` label and the value of `--destination`.
const DESTINATION_NAME = /^[A-Za-z0-9_.-]{1,63}$/;

export interface DestinationEntry {
  // `destinations[1]`
  path: string;
  name: string;
  // The storage variables the entry sets (nothing from the environment's own AWS_S3_* or BACKUP_DIR).
  values: Record<string, string>;
  // variable -> `destinations[1].bucket (line 9)`; the entry's own line for a variable it did not give.
  paths: Record<string, string>;
  at: string;
}

// What the file parser lends: how to report a problem, a node's line, and a key's value as text
// (`${VAR}` resolved; undefined when the value cannot be used, the problem already reported).
export interface FileTools {
  problem: (path: string, node: Node | null | undefined, expected: string, given: string) => void;
  at: (node: Node | null | undefined) => string;
  describe: (node: unknown) => string;
  value: (path: string, node: Node | null) => string | undefined;
}

export function parseDestinations(list: unknown, tools: FileTools): DestinationEntry[] {
  const { problem, at } = tools;
  const example = 'destinations:\n  - name: r2\n    bucket: backups\n    endpoint: ${R2_ENDPOINT}\n  - name: local\n    dir: /mnt/backups';
  if (!isSeq(list) || list.items.length < 2) {
    problem(
      'destinations',
      list as Node,
      `a list of at least two destinations, each with a name and a bucket or a dir, such as:\n${example}\n(for one destination leave "destinations" out and use AWS_S3_BUCKET or BACKUP_DIR)`,
      isSeq(list) ? `a list of ${list.items.length}` : tools.describe(list),
    );
    return [];
  }
  const entries: DestinationEntry[] = [];
  const keys = ['name', ...Object.keys(DESTINATION_KEYS)].join(', ');
  list.items.forEach((item, index) => {
    const base = `destinations[${index}]`;
    if (!isMap(item)) {
      problem(base, item as Node, 'a mapping with a name and a bucket (with its endpoint, region and keys) or a dir', tools.describe(item));
      return;
    }
    const nameNode = item.get('name', true);
    const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
    if (name === undefined || !DESTINATION_NAME.test(name)) {
      problem(`${base}.name`, nameNode ?? item, 'a destination name of 1-63 letters, digits, "_", "." and "-" (it names the destination in metrics, alerts and --destination)', tools.describe(nameNode));
    } else if (entries.some((e) => e.name === name)) {
      problem(`${base}.name`, nameNode, 'a name no other destination has', `${JSON.stringify(name)}, also the name of ${entries.find((e) => e.name === name)?.path ?? ''}`);
    }
    const entry: DestinationEntry = { path: base, name: name ?? `#${index}`, values: {}, paths: {}, at: at(item) };
    // Keys given, even those whose value could not be used (reported already).
    const given = new Set<string>();
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (key === 'name') continue;
      const variable = DESTINATION_KEYS[key];
      const path = `${base}.${key}`;
      if (variable === undefined) {
        problem(path, pair.key as Node, `one of the destination settings: ${keys}`, `the unknown key ${JSON.stringify(key)}`);
        continue;
      }
      given.add(variable);
      const value = pair.value as Node | null;
      const text = tools.value(path, value);
      if (text === undefined) continue;
      entry.values[variable] = text;
      entry.paths[variable] = `${path}${at(value)}`;
    }
    const keysOf = (variables: string[]): string => Object.entries(DESTINATION_KEYS).filter(([, v]) => variables.includes(v)).map(([k]) => k).join(', ');
    const s3Keys = [...given].filter((v) => v !== 'BACKUP_DIR');
    if (given.has('BACKUP_DIR') && s3Keys.length > 0) {
      problem(`${base}.dir`, item.get('dir', true), 'either a dir or a bucket (with its settings) in one destination: list a second destination for the other', `dir with ${keysOf(s3Keys)}`);
    } else if (!given.has('AWS_S3_BUCKET') && !given.has('BACKUP_DIR')) {
      problem(base, item, 'a "bucket" (an S3-compatible bucket) or a "dir" (a directory)', s3Keys.length > 0 ? `neither (only ${keysOf(s3Keys)})` : 'neither');
    }
    entries.push(entry);
  });
  return entries;
}

// The file's key of a storage variable, for a problem about a value the entry did not give (a default).
// How hints name each storage variable for a destination of the file: its key there.
export function destinationSettingNames(name: string): Record<string, string> {
  const names: Record<string, string> = Object.fromEntries(Object.entries(DESTINATION_KEYS).map(([key, variable]) => [variable, `${key} of destination "${name}" in SENTINEL_CONFIG`]));
  names['AWS_S3_*'] = `the keys of destination "${name}" in SENTINEL_CONFIG`;
  return names;
}

export function destinationKey(variable: string): string | undefined {
  return Object.entries(DESTINATION_KEYS).find(([, v]) => v === variable)?.[0];
}
