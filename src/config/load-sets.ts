import fs from 'node:fs';
import { keyPrefix } from '../core/naming.ts';
import type { ConfigProblem } from '../errors.ts';
import { destinationKey, destinationSettingNames, type DestinationEntry } from './destinations-file.ts';
import type { Env, EnvReader } from './parse.ts';
import { parseSetsFile, setSettingNames, type SetEntry } from './sets-file.ts';
import type { BackupSetConfig, Config, DestinationSettings, StorageSettings } from './types.ts';

// SENTINEL_CONFIG: each set of the file is the environment with the set's values laid over it, read by
// the same functions as the environment itself (so `sets[1].compression` is checked exactly like
// BACKUP_COMPRESSION). A problem about a value the set gave names its path in the file; a problem the
// environment alone already has is reported once, not once per set.

type ReadSet = (env: Env) => { config: Config; problems: readonly ConfigProblem[] };
type ReadStorage = (env: Env) => { storage: StorageSettings; problems: readonly ConfigProblem[] };

// What the file gives: its sets and its destinations (each undefined when the file has none).
export interface FileSettings {
  sets: BackupSetConfig[] | undefined;
  destinations: DestinationSettings[] | undefined;
}

const sameProblem = (p: ConfigProblem): string => `${p.variable}\u0000${p.expected}\u0000${p.given}`;

export function readSetsFile(r: EnvReader, env: Env, file: string, base: Config, readSet: ReadSet, readStorage: ReadStorage): FileSettings | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    r.problem('SENTINEL_CONFIG', 'the path of a readable YAML file listing the backup sets (docs/BACKUP_CONFIGURATION.md, "Backup sets from a YAML file"), or unset', `${JSON.stringify(file)} (${code})`);
    return undefined;
  }
  const parsed = parseSetsFile(text, env);
  const destinations = parsed.destinations === undefined ? undefined : readDestinations(parsed.problems, parsed.destinations, readStorage);
  if (parsed.hasSets === false) {
    // In the file's order: every problem of destinations[0], then of destinations[1], ...
    const index = (p: ConfigProblem): number => Number(/^destinations\[(\d+)\]/.exec(p.variable)?.[1] ?? -1);
    for (const p of parsed.problems.sort((a, b) => index(a) - index(b))) r.problem(p.variable, p.expected, p.given);
    return { sets: undefined, destinations };
  }
  // Settings that are one per service and cannot yet be one per set.
  if (base.backup?.globals === true) r.problem('BACKUP_GLOBALS', 'false (or unset) while SENTINEL_CONFIG is set: the roles and tablespaces are not backed up per set yet', '"true"');
  if (base.backup?.singleShot === true) r.problem('SINGLE_SHOT_MODE', 'false (or unset) while SENTINEL_CONFIG is set: each set runs on its own schedule (run `backup-sentinel serve`)', '"true"');
  const known = new Set(r.problems.map(sameProblem));
  const found: ConfigProblem[] = [...parsed.problems];
  const sets: BackupSetConfig[] = [];
  for (const entry of parsed.sets) {
    const overlay: Record<string, string> = { ...entry.values, SENTINEL_CONFIG: '' };
    // Without its own subfolder, a set lives in a folder named after it, under BUCKET_SUBFOLDER.
    if (!entry.hasSubfolder) overlay.BUCKET_SUBFOLDER = base.location.subfolder === '' ? entry.name : `${base.location.subfolder}/${entry.name}`;
    const { config, problems } = readSet({ ...env, ...overlay });
    for (const p of problems) {
      if (known.has(sameProblem(p))) continue;
      // The derived folder only repeats a problem of BUCKET_SUBFOLDER itself (reported above).
      if (p.variable === 'BUCKET_SUBFOLDER' && !entry.hasSubfolder) continue;
      const path = entry.paths[p.variable];
      found.push({ variable: path ?? `${p.variable} (with ${entry.path} "${entry.name}")`, expected: p.expected, given: p.given });
    }
    sets.push({
      name: entry.name,
      location: config.location,
      backup: config.backup,
      databases: config.databases,
      monitor: config.monitor,
      retention: config.retention,
      encryption: config.encryption,
      destinations: entry.destinations?.map((d) => d.name),
      backupHeartbeatUrl: config.alerts.backupHeartbeatUrl,
      settingNames: setSettingNames(entry),
    });
  }
  checkSeparate(found, sets, parsed.sets);
  checkSetDestinations(found, parsed.sets, (destinations ?? base.destinations)?.map((d) => d.name));
  // In the file's order: every problem of sets[0], then of sets[1], ...
  const index = (p: ConfigProblem): number => Number(/^sets\[(\d+)\]/.exec(p.variable)?.[1] ?? -1);
  for (const p of found.sort((a, b) => index(a) - index(b))) r.problem(p.variable, p.expected, p.given);
  return { sets, destinations };
}

// Each destination of the file is checked by the reader of the environment's storage, over the
// entry's values alone (the environment's AWS_S3_* and BACKUP_DIR are not mixed in); a problem names
// the entry's key and line.
function readDestinations(found: ConfigProblem[], entries: readonly DestinationEntry[], readStorage: ReadStorage): DestinationSettings[] {
  return entries.map((entry) => {
    const { storage, problems } = readStorage(entry.values);
    // A key the file already has a problem with (an unset ${VAR}) is not reported again as missing.
    const reported = new Set(found.filter((f) => f.variable.startsWith(`${entry.path}.`)).map((f) => f.variable.slice(entry.path.length + 1).split(/[ .[]/)[0]));
    for (const p of problems) {
      const key = destinationKey(p.variable);
      if (key !== undefined && reported.has(key)) continue;
      const variable = entry.paths[p.variable] ?? (key === undefined ? `${p.variable} (with ${entry.path} "${entry.name}")` : `${entry.path}.${key}${entry.at}`);
      // The readers word a problem in variables (`since AWS_ACCESS_KEY_ID is set`): say the file's keys.
      const inKeys = (text: string): string => text.replace(/\b(AWS_[A-Z0-9_]+|SUPPORT_OBJECT_LOCK|BACKUP_DIR)\b/g, (v) => destinationKey(v) ?? v);
      found.push({ variable, expected: inKeys(p.expected), given: inKeys(p.given) });
    }
    return { name: entry.name, storage, settingNames: destinationSettingNames(entry.name) };
  });
}

// A set's `destinations` name destinations that exist: the file's, else the environment's (s3 and dir).
function checkSetDestinations(found: ConfigProblem[], entries: readonly SetEntry[], known: readonly string[] | undefined): void {
  for (const entry of entries) {
    for (const d of entry.destinations ?? []) {
      if (known?.includes(d.name) === true) continue;
      found.push({
        variable: d.path,
        expected:
          known === undefined
            ? 'no "destinations" in a set while there is one storage: list the destinations at the top of the file (or set BACKUP_DIR beside AWS_S3_BUCKET for s3 and dir), or leave the set\'s "destinations" out'
            : `the name of a destination (${known.join(', ')}), or leave the set's "destinations" out to write to every one`,
        given: JSON.stringify(d.name),
      });
    }
  }
}

// Where a set's objects are: its key prefix, or with `databases` its whole folder (a folder per database).
export function setSpace(set: Pick<BackupSetConfig, 'location' | 'databases'>): string {
  if (set.databases === undefined) return keyPrefix(set.location);
  return set.location.subfolder === '' ? '' : `${set.location.subfolder}/`;
}

// Two sets must never see each other's backups: the monitor lists a prefix, so no set's objects may lie
// under another set's prefix (its alerts and retention would count them).
function checkSeparate(found: ConfigProblem[], sets: readonly BackupSetConfig[], entries: readonly SetEntry[]): void {
  sets.forEach((set, i) => {
    for (let j = 0; j < i; j++) {
      const other = sets[j] as BackupSetConfig;
      const [a, b] = [setSpace(set), setSpace(other)];
      // A name given twice is reported as such.
      if (set.name === other.name || (!a.startsWith(b) && !b.startsWith(a))) continue;
      const entry = entries[i] as SetEntry;
      const where = entry.paths.BUCKET_SUBFOLDER ?? entry.paths.BACKUP_FILE_PREFIX ?? `${entry.path}.name`;
      found.push({
        variable: where,
        expected: `a folder or prefix of its own: no set's objects may lie under another set's (each set watches, alerts on and prunes everything under its prefix); give one of them another subfolder or prefix`,
        given: `${JSON.stringify(a === '' ? '(the bucket root)' : a)} for ${entry.path} "${set.name}", overlapping ${JSON.stringify(b === '' ? '(the bucket root)' : b)} of ${(entries[j] as SetEntry).path} "${other.name}"`,
      });
    }
  });
}

// The whole configuration one set runs with: the service-wide settings, and the set's own.
export function configOfSet(config: Config, set: BackupSetConfig): Config {
  // The set's own destinations (its `destinations`), the first being its storage.
  const names = set.destinations;
  const destinations = names === undefined ? config.destinations : config.destinations?.filter((d) => names.includes(d.name));
  return {
    ...config,
    storage: destinations?.[0]?.storage ?? config.storage,
    destinations,
    location: set.location,
    backup: set.backup,
    databases: set.databases,
    monitor: set.monitor,
    retention: set.retention,
    // The identity (for verify and restore) stays service-wide.
    encryption: { ...set.encryption, identity: config.encryption.identity },
    alerts: { ...config.alerts, backupHeartbeatUrl: set.backupHeartbeatUrl },
    settingNames: set.settingNames,
    sets: undefined,
  };
}
