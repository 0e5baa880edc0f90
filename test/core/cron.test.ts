import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cron } from 'croner';
import { loadConfig } from '../../src/config/load-config.ts';
import { cronProblem, parseCron } from '../../src/core/cron.ts';

const FROM = new Date('2026-11-30T07:00:00Z'); // a Monday

function next(expression: string, count = 2, timezone = 'UTC', from = FROM): string[] {
  const times = parseCron({ expression, timezone });
  const out: string[] = [];
  let at = from;
  for (let i = 0; i < count; i++) {
    const time = times.nextAfter(at);
    if (time === undefined) break;
    out.push(time.toISOString());
    at = time;
  }
  return out;
}

describe('the cron engine', () => {
  it('accepts what the configuration accepted before, with the same times', () => {
    assert.deepEqual(next('0 3 * * *'), ['2026-12-01T03:00:00.000Z', '2026-12-02T03:00:00.000Z']);
    assert.deepEqual(next('*/15 * * * * *'), ['2026-11-30T07:00:15.000Z', '2026-11-30T07:00:30.000Z'], 'six fields: seconds first');
    assert.deepEqual(next('0 3 * * MON'), ['2026-12-07T03:00:00.000Z', '2026-12-14T03:00:00.000Z']);
    assert.deepEqual(next('0 3 ? * MON'), ['2026-12-07T03:00:00.000Z', '2026-12-14T03:00:00.000Z'], '"?" in a day field means any, not "today"');
    assert.deepEqual(next('0 3 1 * 1'), ['2026-12-01T03:00:00.000Z', '2026-12-07T03:00:00.000Z'], 'both day fields: either matches, as in Vixie cron');
    assert.deepEqual(next('5/10 * * * *'), ['2026-11-30T07:05:00.000Z', '2026-11-30T07:15:00.000Z']);
    assert.deepEqual(next('0 3 L * *'), ['2026-12-31T03:00:00.000Z', '2027-01-31T03:00:00.000Z']);
    assert.deepEqual(next('0 3 * * 5#2'), ['2026-12-11T03:00:00.000Z', '2027-01-08T03:00:00.000Z']);
    assert.deepEqual(next('0 12 * * 1-5/2'), ['2026-11-30T12:00:00.000Z', '2026-12-02T12:00:00.000Z']);
  });

  it('rejects what it cannot fire, saying why', () => {
    const problem = (expression: string, timezone = 'UTC') => cronProblem({ expression, timezone });
    assert.match(problem('H 3 * * *') ?? '', /^H \(a hashed, Jenkins-style value\) is not supported: pick a fixed value/);
    assert.match(problem('H/15 * * * *') ?? '', /Jenkins-style/);
    assert.equal(problem('@daily'), '5 or 6 fields, found 1');
    assert.equal(problem('0 0 3 * * * 2027'), '5 or 6 fields, found 7');
    assert.equal(problem('0 0 31 2 *'), 'it never fires (no such date)');
    assert.match(problem('61 * * * *') ?? '', /minute/);
    assert.equal(problem('0 3 * * *', 'Mars/Olympus'), 'time zone "Mars/Olympus": expected an IANA time zone like "UTC" or "Europe/Berlin"');
    assert.equal(problem('0 3 * * THU'), undefined, 'the H of THU is a day name');
  });

  it('computes UTC and its aliases as a fixed offset: the same instants as the zone rules give', () => {
    // croner's own zone path (Intl) for "UTC", against ours for each UTC zone name.
    for (const expression of ['0 3 * * *', '*/15 * * * * *', '0 3 * * MON', '0 3 1 * 1', '5/10 * * * *', '0 3 L * *', '0 3 * * 5#2', '0 12 * * 1-5/2', '15 2 29 2 *', '59 23 31 12 *']) {
      const zoneRules = new Cron(expression, { paused: true, timezone: 'UTC', mode: '5-or-6-parts', sloppyRanges: true });
      let at: Date | null = FROM;
      const expected: string[] = [];
      for (let i = 0; i < 100 && at !== null; i++) {
        at = zoneRules.nextRun(at);
        if (at !== null) expected.push(at.toISOString());
      }
      for (const zone of ['UTC', 'Etc/UTC', 'GMT']) assert.deepEqual(next(expression, 100, zone), expected, `${expression} in ${zone}`);
    }
  });

  it('loads a configuration in UTC (the default) and walks its schedules without Intl\'s time-zone data', () => {
    // Counts the Intl date formatters made (the first one loads the time-zone data, about 45 ms of CPU at
    // every command's start) and the zone conversions asked of any formatter, also of one croner made and
    // kept earlier in this process: walking a per-second schedule, as monitor_interval_seconds does, costs
    // about ten times the CPU through the zone rules (1-1.7 s at the first /metrics scrape of `serve`).
    const counted = (run: () => void): { made: number; converted: number } => {
      const original = Intl.DateTimeFormat;
      const formatToParts = Object.getOwnPropertyDescriptor(original.prototype, 'formatToParts') as PropertyDescriptor;
      const counts = { made: 0, converted: 0 };
      Intl.DateTimeFormat = new Proxy(original, {
        construct(target, args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
          counts.made++;
          return new target(...args);
        },
      });
      Object.defineProperty(original.prototype, 'formatToParts', {
        ...formatToParts,
        value(this: Intl.DateTimeFormat, date?: Date | number) {
          counts.converted++;
          return (formatToParts.value as Intl.DateTimeFormat['formatToParts']).call(this, date);
        },
      });
      try {
        run();
      } finally {
        Intl.DateTimeFormat = original;
        Object.defineProperty(original.prototype, 'formatToParts', formatToParts);
      }
      return counts;
    };
    const inUtc = counted(() => {
      const config = loadConfig({ BACKUP_DIR: '/tmp/x', BACKUP_DATABASE_URL: 'postgres://u@h/db', MONITOR_CRON: '*/2 * * * * *' });
      assert.equal(config.monitor.cron, '*/2 * * * * *');
      next('*/2 * * * * *', 1_000);
    });
    assert.deepEqual(inUtc, { made: 0, converted: 0 });
    // What the counting sees in a zone with rules.
    assert.ok(counted(() => next('*/2 * * * * *', 10, 'Europe/Berlin')).converted > 0);
  });

  it('reads times in the time zone, across daylight-saving changes without losing or doubling a run', () => {
    assert.deepEqual(next('0 3 * * *', 1, 'Europe/Berlin'), ['2026-12-01T02:00:00.000Z'], 'CET is UTC+1');
    assert.deepEqual(next('0 3 * * *', 1, 'America/New_York'), ['2026-11-30T08:00:00.000Z'], 'EST is UTC-5');
    // 2027-03-28 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that night and runs at 03:00,
    // when the clock jumps.
    assert.deepEqual(next('30 2 * * *', 3, 'Europe/Berlin', new Date('2027-03-26T12:00:00Z')), [
      '2027-03-27T01:30:00.000Z',
      '2027-03-28T01:00:00.000Z',
      '2027-03-29T00:30:00.000Z',
    ]);
    // 2027-10-31 03:00 CEST falls back to 02:00 CET: 02:30 comes twice and runs once.
    assert.deepEqual(next('30 2 * * *', 3, 'Europe/Berlin', new Date('2027-10-30T12:00:00Z')), [
      '2027-10-31T00:30:00.000Z',
      '2027-11-01T01:30:00.000Z',
      '2027-11-02T01:30:00.000Z',
    ]);
  });
});
