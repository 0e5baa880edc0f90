// Daily/weekly/monthly/yearly retention tiers, with restic's `forget --keep-*` semantics: for each of
// the last N days (ISO weeks, months, years) that have a backup, the newest backup of that period is
// kept. Periods are calendar periods in the schedule's time zone (CRON_TZ), so "the backup of Monday"
// is the one people in that zone call Monday's. Pure: no I/O, no clock.

import type { RetentionTiers } from '../config/types.ts';

type TierName = 'daily' | 'weekly' | 'monthly' | 'yearly';

const TIER_NAMES: readonly TierName[] = ['daily', 'weekly', 'monthly', 'yearly'];

// The variable that sets each tier, for messages.
const TIER_VARIABLES: Record<TierName, string> = {
  daily: 'KEEP_DAILY',
  weekly: 'KEEP_WEEKLY',
  monthly: 'KEEP_MONTHLY',
  yearly: 'KEEP_YEARLY',
};

export interface TierCandidate {
  key: string;
  // The backup's time (the time in its name).
  time: Date;
}

export interface TierKeep {
  tier: TierName;
  // The period it is the newest backup of, e.g. "2026-06-30", "2026-W27", "2026-06", "2026".
  period: string;
}

// "KEEP_DAILY=7, KEEP_WEEKLY=4" for messages: the tiers that are set.
export function describeTiers(tiers: RetentionTiers): string {
  return TIER_NAMES.filter((t) => tiers[t] > 0)
    .map((t) => `${TIER_VARIABLES[t]}=${tiers[t]}`)
    .join(', ');
}

// For each candidate (given newest first) the tiers that keep it; candidates no tier keeps are absent.
export function selectTierKeeps(candidates: readonly TierCandidate[], tiers: RetentionTiers): Map<string, TierKeep[]> {
  const calendar = localCalendar(tiers.timeZone);
  const left: Record<TierName, number> = { daily: tiers.daily, weekly: tiers.weekly, monthly: tiers.monthly, yearly: tiers.yearly };
  const last: Partial<Record<TierName, string>> = {};
  const keeps = new Map<string, TierKeep[]>();
  for (const candidate of candidates) {
    const periods = calendar(candidate.time);
    for (const tier of TIER_NAMES) {
      const period = periods[tier];
      // Newest first: the first backup seen of a period is its newest; older ones of it are not kept.
      if (left[tier] <= 0 || last[tier] === period) continue;
      last[tier] = period;
      left[tier] -= 1;
      const list = keeps.get(candidate.key) ?? [];
      list.push({ tier, period });
      keeps.set(candidate.key, list);
    }
  }
  return keeps;
}

// The periods a moment falls in, in the zone's local calendar.
function localCalendar(timeZone: string): (time: Date) => Record<TierName, string> {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
  return (time) => {
    let year = 0;
    let month = 0;
    let day = 0;
    for (const part of format.formatToParts(time)) {
      if (part.type === 'year') year = Number(part.value);
      else if (part.type === 'month') month = Number(part.value);
      else if (part.type === 'day') day = Number(part.value);
    }
    const pad = (n: number) => String(n).padStart(2, '0');
    const week = isoWeek(year, month, day);
    return {
      daily: `${year}-${pad(month)}-${pad(day)}`,
      weekly: `${week.year}-W${pad(week.week)}`,
      monthly: `${year}-${pad(month)}`,
      yearly: String(year),
    };
  };
}

// ISO 8601 week of a calendar date: weeks start on Monday, week 1 holds the year's first Thursday.
function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides the week's year.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const firstDay = Date.UTC(weekYear, 0, 1);
  return { year: weekYear, week: Math.ceil(((date.getTime() - firstDay) / 86_400_000 + 1) / 7) };
}
