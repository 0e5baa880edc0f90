// Pure decision of which objects a prune deletes, and whether pruning may run at all now.
// Safety first: only objects in our own naming (and their manifests), never the newest `minKept`
// of ours, and nothing at all while the newest backup looks bad (a broken backup job must not eat the
// good backups). With KEEP_* tiers, what no tier keeps goes instead of what is older than
// RETENTION_DAYS (tiers.ts). Time is an argument.
import { MANIFEST_SUFFIX, manifestKey, parseBackupKey } from '../core/naming.ts';
import { backupsOf, pieceOf, type BackupObject } from '../core/backup-catalog.ts';
import type { CheckName, Finding } from '../core/findings.ts';
import type { StoredObject } from '../storage/store.ts';
import { printableKey } from '../util/printable-key.ts';
import type { RetentionTiers } from '../config/types.ts';
import { describeTiers, selectTierKeeps, type TierKeep } from './tiers.ts';

const DAY_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;
// With tiers (where age alone keeps nothing) a manifest without its backup goes only after a day, so
// one written just before its backup is never taken for a leftover.
const ORPHAN_MANIFEST_MIN_AGE_MS = DAY_MS;

// Monitor findings that mean "the newest backup is not known to be good": pruning waits for them to clear.
const PRUNE_BLOCKING_CHECKS: readonly CheckName[] = ['stale', 'empty', 'backup_failed', 'size_anomaly', 'verify_failed', 'storage_unreachable'];

export interface PrunePolicy {
  // RETENTION_DAYS (> 0; 0 means retention is off and nothing is ever selected).
  days: number;
  // KEEP_DAILY/WEEKLY/MONTHLY/YEARLY: when set, the tiers (and RETENTION_DAYS only if set explicitly)
  // decide what is kept instead of RETENTION_DAYS alone.
  tiers?: RetentionTiers | undefined;
  // MIN_BACKUPS_KEPT: the newest this many of our backups are never deleted.
  minKept: number;
  // The monitor's limits, so a prune judges the newest backup even when no monitor ran (CLI).
  maxAgeHours: number;
  emptyMaxBytes: number;
}

export interface PruneInput {
  // The listing under our key prefix (backups, manifests, anything else found there).
  objects: readonly StoredObject[];
  // keyPrefix(location): what the listing was made with.
  prefix: string;
  policy: PrunePolicy;
  now: Date;
  // The monitor's current findings, when it has any (a backup job failure is only known there).
  findings?: readonly Finding[] | undefined;
}

export interface PruneItem {
  key: string;
  // One object each: a backup stored in several objects is its first ('backup', that object's size)
  // plus a 'piece' per further object.
  kind: 'backup' | 'piece' | 'manifest';
  size: number;
  ageDays: number;
  // Why it goes, for people: "42.0 days old (RETENTION_DAYS=30)".
  reason: string;
}

interface KeptItem {
  key: string;
  ageDays: number;
  reason: string;
  // With tiers: the tiers that keep it and the period it is the newest backup of.
  tiers?: TierKeep[];
}

export interface PrunePlan {
  // Why nothing may be deleted now; undefined when the prune may go ahead.
  refusal: string | undefined;
  // What to delete: empty when refused. Backups first, then their further pieces, then their manifests.
  toDelete: PruneItem[];
  // What would have been deleted had the prune not been refused (for dry runs and logs).
  held: PruneItem[];
  // Objects old enough to go that stay, and why (newest N, not our naming); with tiers every backup
  // that stays, and why (the tiers that keep it, younger than RETENTION_DAYS, newest N).
  kept: KeptItem[];
  // Objects older than this (by the later of name time and LastModified) are due; with tiers, what
  // RETENTION_DAYS keeps when set explicitly (else now: age alone keeps nothing).
  cutoff: Date;
  backupCount: number;
}

interface Backup {
  object: BackupObject;
  ours: boolean;
  // The backup's time as the catalog sees it: the name's time, else LastModified.
  time: number;
  // Age basis for deletion: the later of name time and LastModified, so a backup copied back in
  // (new LastModified) or with a name from the future is never deleted early.
  ageTime: number;
}

function ageDays(now: Date, time: number): number {
  return Math.round(((now.getTime() - time) / DAY_MS) * 10) / 10;
}

// Decides what a prune deletes now.
export function selectForPrune(input: PruneInput): PrunePlan {
  const { objects, prefix, policy, now } = input;
  const tiers = policy.tiers;
  const withinDays = tiers === undefined ? policy.days : (tiers.keepWithinDays ?? 0);
  const cutoff = new Date(now.getTime() - withinDays * DAY_MS);
  // Newest first, in the catalog's order.
  const backups: Backup[] = backupsOf(objects, prefix)
    .reverse()
    .map((object) => ({ object, ours: object.ours, time: object.time.getTime(), ageTime: Math.max(object.time.getTime(), object.lastModified.getTime()) }));
  const plan: PrunePlan = { refusal: undefined, toDelete: [], held: [], kept: [], cutoff, backupCount: backups.length };
  if (policy.days <= 0) return { ...plan, refusal: 'retention is off (RETENTION_DAYS=0)' };

  const minKept = Math.max(1, Math.floor(policy.minKept));
  const newestOurs = new Set(backups.filter((b) => b.ours).slice(0, minKept).map((b) => b.object.key));
  // With tiers they decide; without, age does (the loop below).
  const due: PruneItem[] = tiers === undefined ? [] : selectByTiers(backups, tiers, { cutoff, minKept, newestOurs, now, kept: plan.kept });
  for (const b of tiers === undefined ? backups : []) {
    if (b.ageTime >= cutoff.getTime()) continue;
    const age = ageDays(now, b.ageTime);
    if (!b.ours) {
      plan.kept.push({ key: b.object.key, ageDays: age, reason: 'not in backup-sentinel naming: never deleted by a prune' });
    } else if (newestOurs.has(b.object.key)) {
      plan.kept.push({ key: b.object.key, ageDays: age, reason: `one of the newest ${minKept} backups (MIN_BACKUPS_KEPT)` });
    } else {
      due.push({ key: b.object.key, kind: 'backup', size: firstObjectSize(b.object), ageDays: age, reason: `${age} days old, older than ${policy.days} days (RETENTION_DAYS)` });
    }
  }
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const byBackup = new Map(backups.map((b) => [b.object.key, b.object]));
  const pieces: PruneItem[] = [];
  for (const item of due) {
    for (const piece of byBackup.get(item.key)?.pieces ?? []) {
      pieces.push({ key: piece.key, kind: 'piece', size: piece.size, ageDays: item.ageDays, reason: `piece of ${printableKey(item.key)}` });
    }
  }
  // Pieces whose first object is gone (a prune that failed between the two): old enough, no upload
  // can still be writing them.
  for (const o of objects) {
    const piece = pieceOf(o.key, prefix);
    if (piece === undefined || byKey.has(piece.backupKey)) continue;
    const time = parseBackupKey(piece.backupKey, prefix).time;
    if (time === undefined) continue;
    const ageTime = Math.max(time.getTime(), o.lastModified.getTime());
    if (ageTime >= Math.min(cutoff.getTime(), now.getTime() - ORPHAN_MANIFEST_MIN_AGE_MS)) continue;
    pieces.push({ key: o.key, kind: 'piece', size: o.size, ageDays: ageDays(now, ageTime), reason: 'piece of a backup that is already gone' });
  }
  const manifests: PruneItem[] = [];
  for (const item of due) {
    const manifest = byKey.get(manifestKey(item.key));
    if (manifest) manifests.push({ key: manifest.key, kind: 'manifest', size: manifest.size, ageDays: item.ageDays, reason: `manifest of ${printableKey(item.key)}` });
  }
  // Manifests whose backup is already gone (e.g. deleted by hand, or a crash between the two deletes).
  for (const o of objects) {
    if (!o.key.endsWith(MANIFEST_SUFFIX)) continue;
    const backupKey = o.key.slice(0, -MANIFEST_SUFFIX.length);
    if (byKey.has(backupKey) || !backupKey.startsWith(prefix)) continue;
    const parsed = parseBackupKey(backupKey, prefix);
    if (!parsed.ours || parsed.time === undefined) continue;
    const ageTime = Math.max(parsed.time.getTime(), o.lastModified.getTime());
    if (ageTime >= Math.min(cutoff.getTime(), now.getTime() - ORPHAN_MANIFEST_MIN_AGE_MS)) continue;
    manifests.push({ key: o.key, kind: 'manifest', size: o.size, ageDays: ageDays(now, ageTime), reason: 'manifest of a backup that is already gone' });
  }
  const all = [...due, ...pieces, ...manifests];

  const refusal = refuse(backups, input);
  if (refusal !== undefined) return { ...plan, refusal, held: all };
  return { ...plan, toDelete: all };
}

// With tiers: every backup of ours that no tier, RETENTION_DAYS (when set) or MIN_BACKUPS_KEPT keeps
// is due; every backup that stays is recorded in `kept` with all its reasons.
function selectByTiers(
  backups: readonly Backup[],
  tiers: RetentionTiers,
  ctx: { cutoff: Date; minKept: number; newestOurs: ReadonlySet<string>; now: Date; kept: KeptItem[] },
): PruneItem[] {
  const keeps = selectTierKeeps(
    backups.filter((b) => b.ours).map((b) => ({ key: b.object.key, time: b.object.time })),
    tiers,
  );
  const due: PruneItem[] = [];
  for (const b of backups) {
    const age = ageDays(ctx.now, b.ageTime);
    if (!b.ours) {
      ctx.kept.push({ key: b.object.key, ageDays: age, reason: 'not in backup-sentinel naming: never deleted by a prune' });
      continue;
    }
    const tierKeeps = keeps.get(b.object.key) ?? [];
    const reasons = tierKeeps.map((k) => `${k.tier} ${k.period}`);
    if (tiers.keepWithinDays !== undefined && b.ageTime >= ctx.cutoff.getTime()) reasons.push(`younger than ${tiers.keepWithinDays} days (RETENTION_DAYS)`);
    if (ctx.newestOurs.has(b.object.key)) reasons.push(`one of the newest ${ctx.minKept} backups (MIN_BACKUPS_KEPT)`);
    if (reasons.length > 0) {
      ctx.kept.push({ key: b.object.key, ageDays: age, reason: reasons.join(', '), tiers: tierKeeps });
    } else {
      due.push({ key: b.object.key, kind: 'backup', size: firstObjectSize(b.object), ageDays: age, reason: `${age} days old, kept by no tier (${describeTiers(tiers)})` });
    }
  }
  return due;
}

// The size of a backup's first object (its size is the sum over its pieces).
function firstObjectSize(backup: BackupObject): number {
  return (backup.pieces ?? []).reduce((size, piece) => size - piece.size, backup.size);
}

// Why the newest backup is not known to be good, or undefined when it is.
function refuse(backups: readonly Backup[], input: PruneInput): string | undefined {
  const { policy, now } = input;
  const blocking = (input.findings ?? []).filter((f) => PRUNE_BLOCKING_CHECKS.includes(f.check));
  if (blocking.length > 0) {
    return `the newest backup is not known to be good: ${blocking.map((f) => `${f.check} (${f.summary})`).join('; ')}; pruning waits until it is`;
  }
  const newest = backups[0];
  if (newest === undefined) return 'there are no backups under the prefix';
  const ageHours = (now.getTime() - newest.time) / HOUR_MS;
  if (ageHours > policy.maxAgeHours) {
    return `the newest backup ${printableKey(newest.object.key)} is ${ageHours.toFixed(1)} h old (limit ${policy.maxAgeHours} h, MAX_BACKUP_AGE_HOURS): pruning waits for a fresh backup`;
  }
  if (newest.object.size <= policy.emptyMaxBytes) {
    return `the newest backup ${printableKey(newest.object.key)} is ${newest.object.size} bytes (EMPTY_BACKUP_MAX_BYTES ${policy.emptyMaxBytes}): it looks empty, so pruning waits for a good backup`;
  }
  return undefined;
}
