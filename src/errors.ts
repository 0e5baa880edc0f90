// Typed errors, one class per failure domain. `shortMessage` is one line for alerts and metrics;
// `message` may be longer (e.g. with pg_dump's stderr tail) for logs; `hint` says what to do next.

export interface SentinelErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: string;
}

export class SentinelError extends Error {
  readonly shortMessage: string;
  readonly hint: string | undefined;

  constructor(shortMessage: string, options: SentinelErrorOptions = {}) {
    const parts = [shortMessage];
    if (options.details) parts.push(options.details);
    if (options.hint) parts.push(`What to do: ${options.hint}`);
    super(parts.join('\n'), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.shortMessage = shortMessage;
    this.hint = options.hint;
  }
}

export interface ConfigProblem {
  variable: string;
  expected: string;
  given: string;
}

// Every configuration problem at once, each naming the variable, what was expected and what was given.
export class ConfigError extends SentinelError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.variable}: expected ${p.expected}, got ${p.given}`);
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, {
      details: lines.join('\n'),
      hint: problems.some((p) => /^(?:sets|destinations)\[/.test(p.variable))
        ? 'fix the environment variables and the SENTINEL_CONFIG file entries above and start again; docs/BACKUP_CONFIGURATION.md lists every variable and the file\'s keys'
        : 'fix the environment variables above and start again; docs/BACKUP_CONFIGURATION.md lists every variable',
    });
    this.problems = problems;
  }
}

export type BackupStage = 'config' | 'version-check' | 'dump' | 'compress' | 'encrypt' | 'upload' | 'lock';

// A multipart upload that a failed backup started and could not abort: its parts stay stored (and
// billed) until an abort succeeds (the daily sweep retries it) or a lifecycle rule removes them.
export interface LeftoverUpload {
  key: string;
  uploadId: string;
  // The destination it was left in, where the run wrote to one of several (its sweep aborts it).
  destination?: string;
}

export class BackupError extends SentinelError {
  readonly stage: BackupStage;
  // Set when the failed run left the parts of a multipart upload behind.
  leftoverUpload?: LeftoverUpload;

  constructor(stage: BackupStage, shortMessage: string, options: SentinelErrorOptions = {}) {
    super(shortMessage, options);
    this.stage = stage;
  }
}

// What kind of storage failure happened, so the monitor can give a precise finding and hint.
export type StorageErrorCode =
  | 'AccessDenied'
  | 'NoSuchBucket'
  | 'NoSuchKey'
  | 'InvalidCredentials'
  | 'Network'
  | 'NotImplemented'
  | 'Aborted'
  | 'Unknown';

export class StorageError extends SentinelError {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, shortMessage: string, options: SentinelErrorOptions = {}) {
    super(shortMessage, options);
    this.code = code;
  }
}

export class RestoreError extends SentinelError {}

export class AlertDeliveryError extends SentinelError {
  readonly permanent: boolean;

  constructor(shortMessage: string, permanent: boolean, options: SentinelErrorOptions = {}) {
    super(shortMessage, options);
    this.permanent = permanent;
  }
}

// The short one-line text of any thrown value, for alerts and logs.
export function shortMessageOf(error: unknown): string {
  if (error instanceof SentinelError) return error.shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

// The error to log under `err` (pino's serializer prints type, message, stack and own properties).
// pino also appends every cause's message, and a third-party error (or its cause) may carry a secret
// in its text or properties (a URL with a token, a connection string): so our errors are logged
// without their cause (their own message is written to be safe), and any other error as its first
// line and stack frames only, like shortMessageOf.
export function errForLog(error: unknown): Error {
  if (error instanceof SentinelError) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as SentinelError, error);
    Object.defineProperty(copy, 'message', { value: error.message, enumerable: false });
    Object.defineProperty(copy, 'stack', { value: error.stack, enumerable: false });
    return copy;
  }
  const message = shortMessageOf(error);
  const safe = new Error(message);
  safe.name = error instanceof Error ? error.name : 'Error';
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').filter((line) => line.startsWith('    at ')) : [];
  safe.stack = [`${safe.name}: ${message}`, ...frames].join('\n');
  return safe;
}

// A part of `serve` could not start (e.g. the HTTP port is taken); what had started is stopped again
// and the process exits non-zero with this message.
export class StartupError extends SentinelError {}
