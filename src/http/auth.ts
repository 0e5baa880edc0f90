import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Middleware } from 'koa';
import type { HttpAuthSettings } from '../config/types.ts';

// Access to the HTTP endpoints: HTTP_AUTH_TOKEN (bearer) and/or HTTP_BASIC_AUTH (user:password).

const REALM = 'backup-sentinel';

// True when some credential is configured (else every endpoint is open).
export function isHttpAuthEnabled(auth: HttpAuthSettings | undefined): auth is HttpAuthSettings {
  return auth !== undefined && (auth.token !== undefined || auth.basic !== undefined);
}

// Compares the SHA-256 digests, not the strings: timingSafeEqual needs equal lengths, and comparing
// digests neither stops early at the first wrong byte nor tells the length of the secret.
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

// Whether an Authorization header carries a configured credential. Pure; the secrets are read here,
// at the last moment, and never leave this function.
function isAuthorized(header: string | undefined, auth: HttpAuthSettings): boolean {
  if (header === undefined) return false;
  const match = /^(\S+)\s+(.+)$/.exec(header.trim());
  if (match === null) return false;
  const scheme = (match[1] ?? '').toLowerCase();
  const value = (match[2] ?? '').trim();
  if (scheme === 'bearer' && auth.token !== undefined) return sameSecret(value, auth.token.reveal());
  if (scheme === 'basic' && auth.basic !== undefined) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return false;
    // Both halves are compared, whatever the first gave, so the time does not tell a right user name.
    const userOk = sameSecret(decoded.slice(0, colon), auth.basic.user.reveal());
    const passwordOk = sameSecret(decoded.slice(colon + 1), auth.basic.password.reveal());
    return userOk && passwordOk;
  }
  return false;
}

// The challenges of a 401: one per configured scheme (RFC 9110 §11.6.1, RFC 6750, RFC 7617).
function challenges(auth: HttpAuthSettings): string[] {
  return [
    ...(auth.token === undefined ? [] : [`Bearer realm="${REALM}"`]),
    ...(auth.basic === undefined ? [] : [`Basic realm="${REALM}", charset="UTF-8"`]),
  ];
}

// Koa middleware answering 401 (with WWW-Authenticate) to a request without a valid credential; a
// pass-through when no credential is configured.
export function requireHttpAuth(auth: HttpAuthSettings | undefined): Middleware {
  if (!isHttpAuthEnabled(auth)) {
    return async (_ctx, next) => {
      await next();
    };
  }
  const schemes = [auth.token === undefined ? undefined : 'a bearer token (HTTP_AUTH_TOKEN)', auth.basic === undefined ? undefined : 'basic auth (HTTP_BASIC_AUTH)'].filter((s) => s !== undefined);
  return async (ctx, next) => {
    if (isAuthorized(ctx.get('Authorization') || undefined, auth)) {
      await next();
      return;
    }
    ctx.status = 401;
    ctx.set('WWW-Authenticate', challenges(auth));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'unauthorized', message: `this endpoint needs ${schemes.join(' or ')} in the Authorization header` };
  };
}

// True for an address only this machine can reach (the warning about open endpoints is then moot).
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare.startsWith('::ffff:127.');
}
