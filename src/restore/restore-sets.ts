import { BackupCatalog } from '../core/backup-catalog.ts';
import { formatTimestamp, keyPrefix } from '../core/naming.ts';
import type { DatabaseSelection, Location } from '../config/types.ts';
import { shortMessageOf } from '../errors.ts';
import type { BackupStore } from '../storage/store.ts';
import { findNewestServerRun, restoreMember, type DatabaseRestoreOutcome, type RunMember, type ServerRestoreRequest } from './restore-server.ts';

// `restore --latest --all` with the sets of SENTINEL_CONFIG: each set's newest backup onto one server.
// Sets run on their own schedules (often on other servers), so there is no one run to restore: each
// set's newest backup is, and with `databases` the set's newest run (its databases share a timestamp).
// No globals: BACKUP_GLOBALS is not kept per set, so the roles must exist on the target already.

export interface SetToRestore {
  name: string;
  location: Location;
  // The set's `databases`: a folder per database under the set's folder.
  databases: DatabaseSelection | undefined;
  // Where the set's backups are read from (its first reachable destination), or why none could be read.
  source: { store: BackupStore } | { error: string };
}

interface SetRestoreOutcome extends DatabaseRestoreOutcome {
  // The set the database belongs to ("<set>/<database>" with `databases`).
  set: string;
}

export interface SetsRestoreSummary {
  databases: SetRestoreOutcome[];
  ok: boolean;
}

type SetsRestoreRequest = Omit<ServerRestoreRequest, 'location' | 'store'> & { sets: readonly SetToRestore[] };

// Restores every set in turn; one set's failure (nothing stored, storage unreachable, a refused
// restore) is in the summary and the others go on.
export async function restoreSets(request: SetsRestoreRequest): Promise<SetsRestoreSummary> {
  const summary: SetsRestoreSummary = { databases: [], ok: true };
  const taken = new Set<string>();
  const add = (outcome: SetRestoreOutcome) => {
    summary.databases.push(outcome);
    if (outcome.status === 'failed') summary.ok = false;
    request.onStep?.(`set ${outcome.set}: ${outcome.database}: ${outcome.status === 'restored' ? `${outcome.tables ?? 0} tables, ${outcome.rows ?? 0} rows` : `FAILED: ${outcome.error ?? ''}`}`);
  };
  for (const set of request.sets) {
    if ('error' in set.source) {
      add({ set: set.name, database: '-', key: undefined, status: 'failed', error: set.source.error });
      continue;
    }
    const { store } = set.source;
    let members: { set: string; member: RunMember }[];
    const missing: { set: string; database: string; error: string }[] = [];
    try {
      if (set.databases === undefined) {
        const newest = await new BackupCatalog(store, keyPrefix(set.location)).newest();
        if (newest === undefined) {
          add({ set: set.name, database: '-', key: undefined, status: 'failed', error: `no backups under "${keyPrefix(set.location)}" in ${store.description}` });
          continue;
        }
        members = [{ set: set.name, member: { folderName: undefined, location: set.location, key: newest.key } }];
      } else {
        const run = await findNewestServerRun(store, set.location);
        const wanted = selectedBy(set.databases);
        members = run.members.filter((m) => m.folderName !== undefined && wanted(m.folderName)).map((member) => ({ set: `${set.name}/${member.folderName ?? ''}`, member }));
        for (const m of run.missing) {
          if (wanted(m.name)) missing.push({ set: `${set.name}/${m.name}`, database: m.name, error: `no backup from the set's newest run (its newest is ${formatTimestamp(m.newest)})` });
        }
      }
    } catch (error) {
      add({ set: set.name, database: '-', key: undefined, status: 'failed', error: shortMessageOf(error) });
      continue;
    }
    for (const { set: name, member } of members) add({ set: name, ...(await restoreMember({ ...request, store }, member, new Map(), taken)) });
    for (const m of missing) add({ set: m.set, database: m.database, key: undefined, status: 'failed', error: m.error });
  }
  return summary;
}

// A database folder of a set with `databases` that the set (still) backs up: a folder of a database
// since removed from the list, or excluded, is not the set's to restore.
function selectedBy(selection: DatabaseSelection): (database: string) => boolean {
  return selection.kind === 'names' ? (d) => selection.names.includes(d) : (d) => !selection.exclude.includes(d);
}
