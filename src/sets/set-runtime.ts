import type { BackupService } from '../backup/backup-service.ts';
import { parseDatabaseUrl } from '../backup/connection.ts';
import type { BackupResult } from '../backup/result.ts';
import { configOfSet, setSpace } from '../config/load-sets.ts';
import type { Config, Location } from '../config/types.ts';
import { databaseLocation, isSetBackupKey, keyPrefix } from '../core/naming.ts';
import type { BackupSetsRunner } from './run-sets.ts';

// SENTINEL_CONFIG at run time: each set of the file with its own configuration (configOfSet), its own
// backup service on its own schedule, and with `databases` a runner whose databases are the sets
// `<name>/<database>`. The monitors, retention and verification stay one service each over every set
// (main.ts); this module tells them, for each set name, where its backups are and with which settings.

export interface FileSet {
  name: string;
  // The set's whole effective configuration (service-wide settings plus the set's own).
  config: Config;
  // undefined when the set only monitors (no database URL).
  backupService: BackupService | undefined;
  // With `databases`: the runner over them.
  runner: BackupSetsRunner | undefined;
}

// What main.ts builds for one set (its own wiring helpers, so this module does not import main.ts).
export interface FileSetBuilders {
  setsRunner(config: Config, setName: (database: string) => string): BackupSetsRunner | undefined;
  backupService(name: string, config: Config, runner: BackupSetsRunner | undefined, gate: Gate): BackupService | undefined;
}

type Gate = (run: () => Promise<BackupResult>) => Promise<BackupResult>;

// Runs of sets that share a server wait for each other: at most `limit` at once per server (BACKUP_CONCURRENCY).
export function serverGates(limit: number): (server: string) => Gate {
  const queues = new Map<string, { active: number; waiting: (() => void)[] }>();
  return (server) => async (run) => {
    let queue = queues.get(server);
    if (queue === undefined) queues.set(server, (queue = { active: 0, waiting: [] }));
    const q = queue;
    if (q.active >= limit) await new Promise<void>((resolve) => q.waiting.push(resolve));
    else q.active++;
    try {
      return await run();
    } finally {
      // The slot passes straight to the next waiter (active stays), or is freed.
      const next = q.waiting.shift();
      if (next === undefined) q.active--;
      else next();
    }
  };
}

// The server a set backs up from (host:port), whose runs share one queue.
function serverOf(config: Config): string {
  if (config.backup === undefined) return '';
  const target = parseDatabaseUrl(config.backup.databaseUrl);
  return `${target.host}:${target.port}`;
}

export class FileSets {
  readonly list: readonly FileSet[];

  constructor(config: Config, builders: FileSetBuilders) {
    const gateOf = serverGates(config.backup?.concurrency ?? 1);
    this.list = (config.sets ?? []).map((set) => {
      const own = configOfSet(config, set);
      const runner = own.databases === undefined ? undefined : builders.setsRunner(own, (database) => `${set.name}/${database}`);
      return { name: set.name, config: own, runner, backupService: builders.backupService(set.name, own, runner, gateOf(serverOf(own))) };
    });
  }

  // The sets known without asking a server: each set of the file, or its listed databases.
  configured(): string[] {
    return this.list.flatMap((s) => {
      const selection = s.config.databases;
      if (selection === undefined) return [s.name];
      // A set that only monitors has no runner: its listed databases are its sets.
      return s.runner?.knownSets() ?? (selection.kind === 'names' ? selection.names.map((db) => `${s.name}/${db}`) : []);
    });
  }

  // `*` in a set: the databases on its server now.
  async resolve(): Promise<string[]> {
    const names = await Promise.all(this.list.map(async (s) => (s.runner === undefined || s.config.databases?.kind !== 'all' ? [] : (await s.runner.resolve()).map((db) => `${s.name}/${db}`))));
    return names.flat();
  }

  // A set's configuration (its own folder) and the database drills compare with.
  of(set: string): { fileSet: FileSet; config: Config; database: string | undefined } | undefined {
    const whole = this.list.find((s) => s.name === set && s.config.databases === undefined);
    if (whole !== undefined) return { fileSet: whole, config: whole.config, database: undefined };
    const slash = set.indexOf('/');
    const parent = this.list.find((s) => s.name === set.slice(0, slash) && s.config.databases !== undefined);
    if (parent === undefined || slash < 0) return undefined;
    const database = set.slice(slash + 1);
    return { fileSet: parent, config: { ...parent.config, location: databaseLocation(parent.config.location, database) }, database };
  }

  location(set: string): Location | undefined {
    return this.of(set)?.config.location;
  }

  services(): BackupService[] {
    return this.list.flatMap((s) => (s.backupService === undefined ? [] : [s.backupService]));
  }

  // Whether an (incomplete) upload's key is one of our backups in some set.
  ownsKey(key: string): boolean {
    return this.list.some((s) => (s.config.databases === undefined ? key.startsWith(keyPrefix(s.config.location)) : isSetBackupKey(s.config.location, key)));
  }

  // The longest prefix every set's objects share: what the upload sweep lists.
  commonPrefix(): string {
    const spaces = this.list.map((s) => setSpace({ location: s.config.location, databases: s.config.databases }));
    let prefix = spaces[0] ?? '';
    for (const space of spaces) while (!space.startsWith(prefix)) prefix = prefix.slice(0, -1);
    return prefix;
  }
}
