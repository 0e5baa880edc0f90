import { databaseLocation } from '../core/naming.ts';
import { configOfSet } from '../config/load-sets.ts';
import type { Config, Location } from '../config/types.ts';
import { UsageError } from './command.ts';

// The `--set NAME` option of the commands that work on one backup set's folder (list, verify, prune).
export const SET_OPTION = { type: 'string', valueName: 'NAME', description: 'with BACKUP_DATABASES: the database (backup set) to work on; with SENTINEL_CONFIG: the set\'s name (<name>/<database> with databases)' } as const;

// Where the command looks: the set's folder with --set; without it the one database's location, or a
// usage error naming the sets when BACKUP_DATABASES is used.
// With SENTINEL_CONFIG, --set names a set of the file (configForCommand).
export function locationForCommand(config: Config, set: string | undefined, command: string): Location {
  if (config.sets !== undefined) return configForCommand(config, set, command).location;
  if (set !== undefined) return databaseLocation(config.location, set);
  if (config.databases === undefined) return config.location;
  const known = config.databases.kind === 'names' ? `: one of ${config.databases.names.join(', ')}` : '';
  throw new UsageError(`with BACKUP_DATABASES, ${command} needs --set NAME, the database whose backups to use${known}`);
}

// SENTINEL_CONFIG: the whole configuration of the set --set names (its folder, database, retention and
// thresholds); otherwise the configuration itself (locationForCommand then finds the folder).
export function configForCommand(config: Config, set: string | undefined, command: string): Config {
  if (config.sets !== undefined) {
    const names = config.sets.map((s) => (s.databases === undefined ? s.name : `${s.name}/<database>`)).join(', ');
    if (set === undefined) throw new UsageError(`with SENTINEL_CONFIG, ${command} needs --set NAME, the set whose backups to use: one of ${names}`);
    const slash = set.indexOf('/');
    const own = config.sets.find((s) => s.name === (slash < 0 ? set : set.slice(0, slash)));
    if (own === undefined || (slash < 0) !== (own.databases === undefined) || set.length === slash + 1) {
      throw new UsageError(`--set ${JSON.stringify(set)} is no set of SENTINEL_CONFIG: give one of ${names}`);
    }
    const whole = configOfSet(config, own);
    return slash < 0 ? whole : { ...whole, location: databaseLocation(whole.location, set.slice(slash + 1)) };
  }
  return config;
}
