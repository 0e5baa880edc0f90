import { UsageError } from '../commands/command.ts';
import { RestoreError, shortMessageOf, StorageError } from '../errors.ts';
import type { Config } from '../config/types.ts';
import type { Destination } from './destination.ts';

// The `--destination NAME` option of the commands that read one copy (restore, verify).
export const DESTINATION_OPTION = {
  type: 'string',
  valueName: 'NAME',
  description: 'with several destinations (AWS_S3_BUCKET and BACKUP_DIR, or the destinations of SENTINEL_CONFIG): the one to read from, by name (s3 or dir, or a name in the file; default: the first that answers)',
} as const;

// The destination a command reads from: the one named, or the first whose `probe` answers (a storage that
// cannot be reached is skipped, and `note` says so); the probe's result comes along. Errors other than
// an unreachable storage (a missing backup, a damaged manifest) are not skipped: they are the answer.
export async function pickDestination<T, D extends Destination = Destination>(
  destinations: readonly D[],
  name: string | undefined,
  probe: (destination: D) => Promise<T>,
  note: (line: string) => void,
  // What `destinations` are, for the refusal of a name not among them (a set may write to some only).
  listed = 'the configured destinations',
): Promise<{ destination: D; value: T }> {
  if (name !== undefined) {
    const named = destinations.find((d) => d.name === name);
    if (named === undefined) {
      throw new UsageError(`--destination expects one of ${destinations.map((d) => d.name).join(', ')} (${listed}); got "${name}"`);
    }
    return { destination: named, value: await probe(named) };
  }
  const unreachable: string[] = [];
  for (const [i, destination] of destinations.entries()) {
    try {
      const value = await probe(destination);
      return { destination, value };
    } catch (error) {
      if (!(error instanceof StorageError) || destinations.length === 1) throw error;
      const why = shortMessageOf(error);
      unreachable.push(`"${destination.name}" (${destination.store.description}): ${why}`);
      const next = destinations[i + 1];
      note(`Destination "${destination.name}" (${destination.store.description}) cannot be read: ${why}${next === undefined ? '' : `; using "${next.name}" (${next.store.description}) instead`}`);
    }
  }
  throw new RestoreError(`no destination could be read: ${unreachable.join('; ')}`, {
    hint: 'check that the storage of each destination (AWS_S3_* and BACKUP_DIR) is reachable, or name one with --destination',
  });
}

// How the refusal of a --destination names a set's destinations.
export function destinationsOfSetText(set: string | undefined, config: Pick<Config, 'sets'>): string | undefined {
  const name = set?.split('/')[0];
  return name !== undefined && config.sets?.find((s) => s.name === name)?.destinations !== undefined ? `the destinations set ${name} writes to` : undefined;
}
