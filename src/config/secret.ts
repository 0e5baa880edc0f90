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

// What may be shown of a URL that can hold a secret. Masks by what the text *could* contain, not by
// what a parser made of it: everything before the last "@" of the authority (user and password) is
// "***"; a path, query or fragment that holds an "@" (a password cut off by a "/", "?" or "#" in it)
// is left out; secret-looking parameters are "***"; text that is not scheme://host shows only a known
// scheme. showPath false leaves the path out too (a webhook URL's path is its secret).
export function maskUrl(text: string, options: { showPath?: boolean } = {}): string {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/i.exec(text);
  if (match === null || /[\s\u0000-\u001f\u007f]/.test(text)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1];
    return scheme !== undefined && SHOWN_SCHEMES.has(scheme.toLowerCase()) ? `${scheme.toLowerCase()}:… (the rest is not shown: it may hold a password)` : '… (not shown: it may hold a password)';
  }
  const [, scheme = '', authority = '', rest = ''] = match;
  const at = authority.lastIndexOf('@');
  const host = at === -1 ? authority : authority.slice(at + 1);
  // A "@" after the authority or a "#" means the authority may be cut short inside the password.
  if (rest.includes('@') || text.includes('#')) return `${SHOWN_SCHEMES.has(scheme.toLowerCase()) ? scheme : '…'}://… (the rest is not shown: it may hold a password)`;
  const shownHost = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._~%-]*)(:\d*)?$/i.test(host) ? host : '…';
  const shownScheme = SHOWN_SCHEMES.has(scheme.toLowerCase()) ? scheme : '…';
  let shownRest = '';
  if (options.showPath !== false) {
    const q = rest.indexOf('?');
    const query = q === -1 ? [] : rest.slice(q + 1).split('&');
    // A parameter without "=" may be a password cut off by a "?" in it.
    const shownQuery = query.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) return '…';
      const name = pair.slice(0, eq);
      return `${name}=${/pass|secret|token|key|auth|sig|credential/i.test(name) ? '***' : pair.slice(eq + 1)}`;
    });
    shownRest = `${q === -1 ? rest : rest.slice(0, q)}${shownQuery.length > 0 ? `?${shownQuery.join('&')}` : ''}`;
  } else if (rest !== '') {
    shownRest = '/…';
  }
  return `${shownScheme}://${at === -1 ? '' : '***@'}${shownHost}${shownRest}`;
}

const SHOWN_SCHEMES = new Set(['postgres', 'postgresql', 'mysql', 'mariadb', 'mongodb', 'redis', 'http', 'https', 'smtp', 'smtps']);

// Free text that may quote a connection string (e.g. BACKUP_OPTIONS): user info of any URL in it and
// the values of password-like keywords become "***".
export function maskSecretsInText(text: string): string {
  return text
    .replace(/(:\/\/?)[^\s/@'"]*@/g, '$1***@')
    .replace(/((?:pass\w*|secret\w*|token\w*)\s*=\s*)('[^']*'?|"[^"]*"?|[^\s&]*)/gi, '$1***');
}
