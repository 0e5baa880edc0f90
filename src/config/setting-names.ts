import { SentinelError } from '../errors.ts';

// A destination or a backup set listed in SENTINEL_CONFIG has no AWS_S3_*, BACKUP_DIR or
// BACKUP_DATABASE_URL of its own, yet hints are written for the environment's variables ("check
// AWS_S3_ENDPOINT", "check the host and port in BACKUP_DATABASE_URL"). For those they name the keys in
// the file instead ("check endpoint of destination "r2" in SENTINEL_CONFIG", "... in databaseUrl of set
// "app" in SENTINEL_CONFIG"), so nobody goes looking for a variable that is not set.

// The environment's variable -> what to say instead (only the variables the file gave).
export type SettingNames = Readonly<Record<string, string>>;

const VARIABLE = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;

export function nameSettings(text: string, names: SettingNames | undefined): string;
export function nameSettings(text: string | undefined, names: SettingNames | undefined): string | undefined;
export function nameSettings(text: string | undefined, names: SettingNames | undefined): string | undefined {
  if (text === undefined || names === undefined) return text;
  // "AWS_S3_* or BACKUP_DIR" and the like: the destination's keys as a whole.
  return text.replace(/\bAWS_S3_\*/g, names['AWS_S3_*'] ?? 'AWS_S3_*').replace(VARIABLE, (v) => names[v] ?? v);
}

// An error's hint naming the file's keys. Changed in place: its class, code, details and stack stay what
// they are.
export function nameErrorSettings(error: unknown, names: SettingNames | undefined): void {
  if (names === undefined || !(error instanceof SentinelError) || error.hint === undefined) return;
  const hint = nameSettings(error.hint, names);
  if (hint === error.hint) return;
  error.message = error.message.replace(`What to do: ${error.hint}`, `What to do: ${hint}`);
  Object.defineProperty(error, 'hint', { value: hint });
}

const NAMES = Symbol('settingNames');

// How the hints of a store's settings are worded: undefined for the environment's own variables.
export function settingNamesOf(store: object): SettingNames | undefined {
  return (store as { [NAMES]?: SettingNames })[NAMES];
}

// The store, with the hints of the errors its methods throw (or reject with) in the file's keys.
export function withSettingNames<S extends object>(store: S, names: SettingNames | undefined): S {
  if (names === undefined) return store;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === NAMES) return names;
      // Read on the store itself: its getters and methods use private fields, which a proxy lacks.
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      return function (this: unknown, ...args: unknown[]): unknown {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(this === receiver ? target : this, args);
        } catch (error) {
          nameErrorSettings(error, names);
          throw error;
        }
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          nameErrorSettings(error, names);
          throw error;
        });
      };
    },
  });
}
