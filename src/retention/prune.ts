// Runs a prune against storage: lists our prefix, lets selectForPrune decide, deletes in batches
// (backups first, then the further pieces of split ones, then their manifests, so a failure half-way
// never leaves a backup without its manifest or a piece; a piece or manifest left behind is removed by
// the next prune).
import type { Location } from '../config/types.ts';
import { keyPrefix } from '../core/naming.ts';
import { evaluate, type MonitorPolicy } from '../monitor/checks.ts';
import type { Finding } from '../core/findings.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import type { BackupStore, StoredObject } from '../storage/store.ts';
import { selectForPrune, type PrunePlan, type PrunePolicy } from './select-for-prune.ts';

// Keys per store.delete call (S3 DeleteObjects takes up to 1000; smaller batches report progress).
export const PRUNE_BATCH = 500;

export interface PruneOptions {
  store: BackupStore;
  location: Location;
  policy: PrunePolicy;
  now: Date;
  // Findings known from elsewhere (the monitor's current ones: a failed backup run is only known there).
  findings?: readonly Finding[] | undefined;
  // When set, the monitor's own checks (stale, empty, size anomaly) are also run on this listing, so a
  // prune judges the newest backup exactly as the monitor does even where no monitor runs (CLI).
  monitorPolicy?: MonitorPolicy | undefined;
  dryRun?: boolean;
  // Called after each batch of deleted keys (metrics, logs).
  onDeleted?: (keys: readonly string[]) => void;
  // Aborting stops the listing or the delete batch in flight at once (the store's StorageError
  // Aborted); a batch whose answer had not come is not counted, and the next prune lists again.
  signal?: AbortSignal | undefined;
}

export interface PruneResult {
  plan: PrunePlan;
  // The listing the plan was made from, minus what was deleted.
  remaining: StoredObject[];
  deleted: string[];
  deletedBackups: number;
  deletedManifests: number;
  bytesFreed: number;
  dryRun: boolean;
}

// Lists, decides, and (unless dry run or refused) deletes. Throws StorageError when listing or a
// delete fails; batches deleted before the failure were already reported through onDeleted.
export async function runPrune(options: PruneOptions): Promise<PruneResult> {
  const prefix = keyPrefix(options.location);
  const { signal } = options;
  const { objects, backups } = await new BackupCatalog(options.store, prefix).list(signal ? { signal } : {});
  const findings = [...(options.findings ?? [])];
  if (options.monitorPolicy !== undefined) {
    findings.push(...evaluate({ backups, where: options.store.description }, options.monitorPolicy, options.now));
  }
  const plan = selectForPrune({ objects, prefix, policy: options.policy, now: options.now, findings });
  const dryRun = options.dryRun ?? false;
  const result: PruneResult = { plan, remaining: objects, deleted: [], deletedBackups: 0, deletedManifests: 0, bytesFreed: 0, dryRun };
  if (dryRun || plan.refusal !== undefined || plan.toDelete.length === 0) return result;
  const ordered = (['backup', 'piece', 'manifest'] as const).flatMap((kind) => plan.toDelete.filter((i) => i.kind === kind));
  for (let start = 0; start < ordered.length; start += PRUNE_BATCH) {
    const batch = ordered.slice(start, start + PRUNE_BATCH);
    const keys = batch.map((i) => i.key);
    await options.store.delete(keys, signal);
    result.deleted.push(...keys);
    for (const item of batch) {
      if (item.kind === 'backup') result.deletedBackups += 1;
      else if (item.kind === 'manifest') result.deletedManifests += 1;
      result.bytesFreed += item.size;
    }
    options.onDeleted?.(keys);
  }
  const gone = new Set(result.deleted);
  result.remaining = objects.filter((o) => !gone.has(o.key));
  return result;
}
