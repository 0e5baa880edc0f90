// What the retention service last saw and did; read by the retention check, metrics and /status.
import type { RetentionTiers } from '../config/types.ts';
import type { LifecycleEvaluation } from './lifecycle-rules.ts';
import { describeTiers } from './tiers.ts';

export type EffectiveMode = 'off' | 'lifecycle' | 'prune';

export interface LifecycleProblem {
  // StorageError code, e.g. AccessDenied, NotImplemented, Network.
  code: string;
  message: string;
  hint: string;
}

interface PruneSummary {
  at: Date;
  dryRun: boolean;
  deletedBackups: number;
  deletedManifests: number;
  bytesFreed: number;
  // Why the prune deleted nothing although backups were due; undefined when it went ahead.
  refusal: string | undefined;
}

export interface RetentionStatus {
  mode: EffectiveMode;
  // Why this mode, for people: "RETENTION_MODE=prune", "the endpoint answered NotImplemented to lifecycle calls".
  modeReason: string;
  // Lifecycle mode: what the rules in the bucket do for our prefix (after our put, when we manage them).
  lifecycle: LifecycleEvaluation | undefined;
  // Lifecycle mode: reading or writing the rules failed.
  lifecycleProblem: LifecycleProblem | undefined;
  lastPrune: PruneSummary | undefined;
  // Prune mode with KEEP_* tiers on S3: enabled lifecycle rules that expire our prefix, and so would
  // delete backups the tiers keep (one line each); undefined when the rules could not be read.
  tierRuleConflicts?: string[] | undefined;
  // When the last run finished, and whether it did what it should.
  lastRunAt: Date | undefined;
  lastRunOk: boolean | undefined;
}

export function initialStatus(mode: EffectiveMode, modeReason: string): RetentionStatus {
  return { mode, modeReason, lifecycle: undefined, lifecycleProblem: undefined, lastPrune: undefined, lastRunAt: undefined, lastRunOk: undefined };
}

// The mode to start in, from the settings and the kind of storage. Lifecycle mode may still fall back
// to prune at run time when the endpoint answers NotImplemented (only when RETENTION_MODE is unset).
export function resolveMode(
  settings: { days: number; mode: 'lifecycle' | 'prune' | undefined; tiers?: RetentionTiers | undefined },
  storageKind: 's3' | 'dir',
): { mode: EffectiveMode; reason: string } {
  if (settings.days <= 0) return { mode: 'off', reason: 'RETENTION_DAYS=0 turns retention off' };
  // A lifecycle rule only knows age: it cannot keep "the newest backup of each month".
  if (settings.tiers !== undefined) return { mode: 'prune', reason: `${describeTiers(settings.tiers)}: lifecycle rules only know age, so backups the tiers do not keep are pruned` };
  if (storageKind === 'dir') return { mode: 'prune', reason: 'directory storage has no lifecycle rules, so old backups are pruned' };
  if (settings.mode === 'prune') return { mode: 'prune', reason: 'RETENTION_MODE=prune' };
  if (settings.mode === 'lifecycle') return { mode: 'lifecycle', reason: 'RETENTION_MODE=lifecycle' };
  return { mode: 'lifecycle', reason: 'the default for S3 storage (prune if the endpoint has no lifecycle rules)' };
}
