// A value that must never be printed: logs, errors, JSON and util.inspect all show "***".
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  // The only way to read the value; call it at the last moment, at the adapter that needs it.
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret(***)';
  }
}

// Replaces the password of a URL with "***" so the rest can be shown to people.
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '***';
  }
}
