import { cronProblem, timezoneProblem } from '../core/cron.ts';
import type { ConfigProblem } from '../errors.ts';
import { Secret } from './secret.ts';

export type Env = Readonly<Record<string, string | undefined>>;

// Reads typed values from the environment, collecting every problem instead of stopping at the first.
export class EnvReader {
  readonly problems: ConfigProblem[] = [];
  readonly #env: Env;

  constructor(env: Env) {
    this.#env = env;
  }

  // The trimmed value, or undefined when unset or blank.
  raw(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  problem(variable: string, expected: string, given: string): void {
    this.problems.push({ variable, expected, given });
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  secret(name: string): Secret | undefined {
    const value = this.raw(name);
    return value === undefined ? undefined : new Secret(value);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off'].includes(lower)) return false;
    this.problem(name, 'true or false', JSON.stringify(value));
    return fallback;
  }

  number(name: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    const kind = opts.integer ? 'a whole number' : 'a number';
    const range =
      opts.min !== undefined && opts.max !== undefined
        ? ` from ${opts.min} to ${opts.max}`
        : opts.min !== undefined
          ? ` of at least ${opts.min}`
          : '';
    if (
      !Number.isFinite(parsed) ||
      (opts.integer && !Number.isInteger(parsed)) ||
      (opts.min !== undefined && parsed < opts.min) ||
      (opts.max !== undefined && parsed > opts.max)
    ) {
      this.problem(name, `${kind}${range}`, JSON.stringify(value));
      return fallback;
    }
    return parsed;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: undefined): T | undefined;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase() as T;
    if (allowed.includes(lower)) return lower;
    this.problem(name, `one of ${allowed.join(', ')}`, JSON.stringify(value));
    return fallback;
  }

  // An IANA time zone name (CRON_TZ); a problem when this runtime does not know it.
  timezone(name: string, fallback: string): string {
    const value = this.string(name, fallback);
    const expected = timezoneProblem(value);
    if (expected === undefined) return value;
    this.problem(name, expected, JSON.stringify(value));
    return fallback;
  }

  // A 5- or 6-field cron expression read in `timezone`, checked by the same engine that fires it:
  // one it cannot fire is a problem at start, never a schedule that silently does not run.
  cron(name: string, fallback: string, timezone: string): string {
    const value = this.string(name, fallback);
    const error = cronProblem({ expression: value, timezone });
    if (error !== undefined) this.problem(name, `a cron expression like "0 3 * * *" (${error})`, JSON.stringify(value));
    return value;
  }
}
