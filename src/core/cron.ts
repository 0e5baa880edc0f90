import { Cron } from 'croner';
import { SentinelError } from '../errors.ts';

// The one cron engine: the configuration validates every schedule with it and ScheduledTask fires
// with it, so a schedule that passes validation is one that runs. It is croner, used as a parser
// only (ScheduledTask owns the timers, so it can log late runs and take an injected clock).
//
// Accepted: 5 fields (minute first) or 6 (seconds first), names (MON, JAN), ranges, lists, steps,
// L and # — what the configuration accepted before. Not accepted: Jenkins-style H, nicknames
// (@daily), 7 fields; and an expression that never fires (31 February).

export const DEFAULT_CRON_TIMEZONE = 'UTC';

export interface CronSpec {
  expression: string;
  // An IANA time zone the expression is read in (CRON_TZ); UTC by default.
  timezone: string;
}

// A parsed expression that fires at least once: next times after a given instant.
export interface CronTimes {
  readonly spec: CronSpec;
  // The first time strictly after `after`; undefined when it never fires again.
  nextAfter(after: Date): Date | undefined;
}

// A schedule the engine cannot fire; the message says why.
export class CronSpecError extends SentinelError {}

// The zones checked so far: an Intl.DateTimeFormat costs about a millisecond, and the configuration
// and every schedule ask again for the same few zones.
const knownZones = new Map<string, string | undefined>();

// undefined when `timezone` is an IANA zone this runtime knows, else why not.
export function timezoneProblem(timezone: string): string | undefined {
  // Every runtime knows UTC (the default) and its aliases: asking Intl would load its time-zone data,
  // about 45 ms of CPU at the start of every command.
  if (UTC_ZONES.has(timezone)) return undefined;
  if (knownZones.has(timezone)) return knownZones.get(timezone);
  let problem: string | undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    problem = 'an IANA time zone like "UTC" or "Europe/Berlin"';
  }
  knownZones.set(timezone, problem);
  return problem;
}

// Zones that are UTC all year (UTC is the default). croner converts every candidate time through Intl
// for a named zone, about ten to twenty times the work of a fixed offset (walking a per-second
// schedule's 12,000 times for monitor_interval_seconds: 0.17 s instead of 1.7 s): these get offset 0,
// which fires at the same instants. Any other zone keeps its rules (DST).
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu', 'Etc/GMT', 'GMT', 'Etc/Greenwich', 'Greenwich', 'Etc/GMT0', 'GMT0', 'Etc/GMT+0', 'GMT+0', 'Etc/GMT-0', 'GMT-0']);
function zoneOption(timezone: string): { timezone: string } | { utcOffset: number } {
  return UTC_ZONES.has(timezone) ? { utcOffset: 0 } : { timezone };
}

// Quartz-style "?" means "any" in a day field; croner reads it as "the current value", so it is
// normalised to "*" here, keeping the meaning the previous parser gave it.
function normalise(expression: string): string {
  return expression
    .trim()
    .split(/\s+/)
    .map((field) => (field === '?' ? '*' : field))
    .join(' ');
}

// Parses and checks that the expression fires at least once; throws CronSpecError saying why not.
export function parseCron(spec: CronSpec): CronTimes {
  const fields = spec.expression.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) throw new CronSpecError(`5 or 6 fields, found ${fields.length}`);
  if (fields.some((field) => /H/i.test(field.replace(/(MON|THU|MAR|JAN|FEB|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|TUE|WED|FRI|SAT)/gi, '')))) {
    throw new CronSpecError('H (a hashed, Jenkins-style value) is not supported: pick a fixed value, e.g. "17 3 * * *"');
  }
  const zone = timezoneProblem(spec.timezone);
  if (zone !== undefined) throw new CronSpecError(`time zone ${JSON.stringify(spec.timezone)}: expected ${zone}`);
  let cron: Cron;
  try {
    // paused: never started; this object only computes times. sloppyRanges keeps "5/10" working.
    cron = new Cron(normalise(spec.expression), { paused: true, ...zoneOption(spec.timezone), mode: '5-or-6-parts', sloppyRanges: true });
  } catch (error) {
    throw new CronSpecError((error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, ''));
  }
  const times: CronTimes = {
    spec,
    nextAfter(after) {
      return cron.nextRun(after) ?? undefined;
    },
  };
  if (times.nextAfter(new Date()) === undefined) throw new CronSpecError('it never fires (no such date)');
  return times;
}

// Why the engine cannot fire this expression, or undefined when it can.
export function cronProblem(spec: CronSpec): string | undefined {
  try {
    parseCron(spec);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

// Daily at the given time of day (UTC, read with timezone 'UTC'): for services that run at start and
// then every 24 hours after.
export function dailyAt(time: Date): string {
  return `${time.getUTCSeconds()} ${time.getUTCMinutes()} ${time.getUTCHours()} * * *`;
}
