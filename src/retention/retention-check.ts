// The monitor's "retention" finding, as a pure function of what the retention service saw, the
// backups in storage, and now: the lifecycle rule is missing, disabled or expires after other days
// than RETENTION_DAYS, or backups older than RETENTION_DAYS + RETENTION_MARGIN_DAYS are still there
// (with KEEP_* tiers: backups no tier has kept for RETENTION_MARGIN_DAYS are still there).
import type { RetentionSettings, RetentionTiers } from '../config/types.ts';
import { backupsOf } from '../core/backup-catalog.ts';
import type { Finding } from '../core/findings.ts';
import type { StoredObject } from '../storage/store.ts';
import type { RetentionStatus } from './retention-status.ts';
import { describeTiers, selectTierKeeps } from './tiers.ts';

const DAY_MS = 24 * 3600 * 1000;

export interface OverdueBackups {
  count: number;
  oldestKey: string | undefined;
  oldestAgeDays: number | undefined;
}

// Backups that retention should have removed by now. Lifecycle rules expire every object under the
// prefix by LastModified; a prune never removes other tools' objects nor the newest `minKept` of ours,
// so those are not overdue in prune mode.
export function findOverdueBackups(
  objects: readonly StoredObject[],
  prefix: string,
  settings: RetentionSettings,
  mode: 'lifecycle' | 'prune',
  now: Date,
): OverdueBackups {
  if (mode === 'prune' && settings.tiers !== undefined) return overdueByTiers(objects, prefix, settings, settings.tiers, now);
  const limit = now.getTime() - (settings.days + settings.marginDays) * DAY_MS;
  // Newest first, in the catalog's order (the same one a prune keeps its newest `minKept` by).
  let backups = backupsOf(objects, prefix)
    .reverse()
    .map((b) => {
      const modified = b.lastModified.getTime();
      return { key: b.key, ours: b.ours, ageTime: mode === 'lifecycle' ? modified : Math.max(b.time.getTime(), modified) };
    });
  if (mode === 'prune') {
    const kept = new Set(
      backups
        .filter((b) => b.ours)
        .slice(0, Math.max(1, settings.minKept))
        .map((b) => b.key),
    );
    backups = backups.filter((b) => b.ours && !kept.has(b.key));
  }
  const overdue = backups.filter((b) => b.ageTime < limit).sort((a, b) => a.ageTime - b.ageTime);
  const oldest = overdue[0];
  return {
    count: overdue.length,
    oldestKey: oldest?.key,
    oldestAgeDays: oldest === undefined ? undefined : Math.round(((now.getTime() - oldest.ageTime) / DAY_MS) * 10) / 10,
  };
}

// With tiers, age alone says nothing: a backup is overdue when a prune RETENTION_MARGIN_DAYS ago would
// already have deleted it (no tier kept it then, it was not younger than an explicit RETENTION_DAYS)
// and it is not one of the newest MIN_BACKUPS_KEPT now. Newer backups only ever take a tier's place,
// so what was due then is still due now.
function overdueByTiers(objects: readonly StoredObject[], prefix: string, settings: RetentionSettings, tiers: RetentionTiers, now: Date): OverdueBackups {
  const then = now.getTime() - settings.marginDays * DAY_MS;
  const ours = backupsOf(objects, prefix)
    .reverse()
    .filter((b) => b.ours);
  const newest = new Set(ours.slice(0, Math.max(1, settings.minKept)).map((b) => b.key));
  const existingThen = ours.filter((b) => b.time.getTime() <= then);
  const keptThen = selectTierKeeps(existingThen.map((b) => ({ key: b.key, time: b.time })), tiers);
  const withinFrom = tiers.keepWithinDays === undefined ? Infinity : then - tiers.keepWithinDays * DAY_MS;
  const overdue = existingThen
    .map((b) => ({ key: b.key, ageTime: Math.max(b.time.getTime(), b.lastModified.getTime()) }))
    .filter((b) => !keptThen.has(b.key) && !newest.has(b.key) && b.ageTime < withinFrom)
    .sort((a, b) => a.ageTime - b.ageTime);
  const oldest = overdue[0];
  return {
    count: overdue.length,
    oldestKey: oldest?.key,
    oldestAgeDays: oldest === undefined ? undefined : Math.round(((now.getTime() - oldest.ageTime) / DAY_MS) * 10) / 10,
  };
}

export interface RetentionCheckInput {
  status: RetentionStatus;
  settings: RetentionSettings;
  // Objects under the prefix, as last listed (undefined: not listed yet, so no overdue check).
  objects: readonly StoredObject[] | undefined;
  prefix: string;
  now: Date;
}

// At most one 'retention' finding (warn) that names every retention problem at once.
export function checkRetention(input: RetentionCheckInput): Finding[] {
  const { status, settings, objects, prefix, now } = input;
  if (status.mode === 'off' || settings.days <= 0) return [];
  const problems: string[] = [];
  const hints: string[] = [];
  const values: Record<string, number | string> = { mode: status.mode, retentionDays: settings.days };

  if (status.mode === 'lifecycle') {
    const evaluation = status.lifecycle;
    if (status.lifecycleProblem !== undefined) {
      problems.push(`the bucket's lifecycle rules could not be read or written (${status.lifecycleProblem.code})`);
      hints.push(status.lifecycleProblem.hint);
      values.lifecycleError = status.lifecycleProblem.code;
    } else if (evaluation !== undefined && evaluation.state !== 'ok') {
      problems.push(`lifecycle rule ${evaluation.state.replace('_', ' ')}: ${evaluation.detail}`);
      values.ruleState = evaluation.state;
      if (evaluation.effectiveDays !== undefined) values.ruleDays = evaluation.effectiveDays;
      if (evaluation.ruleId !== undefined) values.ruleId = evaluation.ruleId;
      if (evaluation.ruleId !== undefined && !evaluation.ours) {
        hints.push(`edit or remove the rule "${evaluation.ruleId}" in the bucket's settings, or set RETENTION_DAYS to match it`);
      } else if (!settings.manageLifecycle) {
        hints.push(
          `set MANAGE_LIFECYCLE=true to let backup-sentinel keep the rule, or add one in the bucket's settings: prefix "${prefix}", delete objects after ${settings.days} days`,
        );
      } else {
        hints.push('backup-sentinel could not put its rule: see the retention log lines');
      }
    }
  }

  if (status.mode === 'prune' && settings.tiers !== undefined && (status.tierRuleConflicts?.length ?? 0) > 0) {
    const conflicts = status.tierRuleConflicts ?? [];
    problems.push(`${conflicts.join('; ')}: a lifecycle rule only knows age and deletes backups the KEEP_* tiers keep`);
    values.conflictingRules = conflicts.length;
    hints.push(
      settings.manageLifecycle
        ? "remove the rule in the bucket's settings (backup-sentinel removes only its own rule, and could not: see the retention log lines)"
        : `remove the rule in the bucket's settings, or set MANAGE_LIFECYCLE=true to let backup-sentinel remove its own rule ("backup-sentinel:${prefix}")`,
    );
  }

  if (objects !== undefined) {
    const overdue = findOverdueBackups(objects, prefix, settings, status.mode, now);
    if (overdue.count > 0) {
      const by = status.mode === 'lifecycle' ? 'the lifecycle rule is not deleting them' : 'pruning is not deleting them';
      const what =
        status.mode === 'prune' && settings.tiers !== undefined
          ? `kept by no tier (${describeTiers(settings.tiers)}) and due for more than ${settings.marginDays} days`
          : `older than ${settings.days + settings.marginDays} days`;
      problems.push(`${overdue.count} backup${overdue.count === 1 ? '' : 's'} ${what} still in storage (oldest ${overdue.oldestAgeDays ?? '?'} days): ${by}`);
      values.overdueBackups = overdue.count;
      if (overdue.oldestAgeDays !== undefined) values.oldestOverdueAgeDays = overdue.oldestAgeDays;
      if (status.mode === 'prune' && status.lastPrune?.refusal !== undefined) {
        hints.push(`the last prune was refused: ${status.lastPrune.refusal}`);
      } else if (status.mode === 'prune') {
        hints.push('check the retention log lines for prune errors; `backup-sentinel prune --dry-run` shows what it would delete and why');
      } else {
        hints.push("check the rule's prefix and status in the bucket's settings; R2 and S3 remove expired objects within about a day");
      }
    }
  }

  if (problems.length === 0) return [];
  const finding: Finding = { check: 'retention', severity: 'warn', summary: problems.join('; '), values };
  if (hints.length > 0) finding.hint = hints.join('; ');
  return [finding];
}
