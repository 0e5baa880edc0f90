import { databaseLocation } from '../core/naming.ts';
import type { Config, Location } from '../config/types.ts';
import { UsageError } from './command.ts';

// The `--set NAME` option of the commands that work on one backup set's folder (list, verify, prune).
export const SET_OPTION = { type: 'string', valueName: 'NAME', description: 'with BACKUP_DATABASES: the database (backup set) to work on' } as const;

// Where the command looks: the set's folder with --set; without it the one database's location, or a
// usage error naming the sets when BACKUP_DATABASES is used.
export function locationForCommand(config: Config, set: string | undefined, command: string): Location {
  if (set !== undefined) return databaseLocation(config.location, set);
  if (config.databases === undefined) return config.location;
  const known = config.databases.kind === 'names' ? `: one of ${config.databases.names.join(', ')}` : '';
  throw new UsageError(`with BACKUP_DATABASES, ${command} needs --set NAME, the database whose backups to use${known}`);
}
