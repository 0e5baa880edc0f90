import { AlertDeliveryError } from '../errors.ts';
import { RetryLaterError, scrubSecrets, urlSecretParts } from './notifier.ts';

// The one HTTP exchange every webhook-style channel (Discord, Teams, Telegram, ntfy, the generic
// webhook) makes, and how its answer maps onto the dispatcher's transient/permanent errors. Each
// channel adapter only builds its request and says what to do when it is refused.

export interface ChannelRequest {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface ChannelHints {
  // The channel's name in messages: "Discord", "Telegram" ...
  service: string;
  // What to do when the credential is refused (401/403/404/410).
  revoked: string;
  // What to do when another 4xx refuses the request (default: it is a bug of ours).
  refused?: string;
  // Extra values that must never appear in an error (tokens); the URL itself is always scrubbed.
  secrets?: readonly string[];
}

// POSTs one request and throws an AlertDeliveryError unless the answer is 2xx. Errors name the
// description (a host, never the URL) and a short reason from the server, scrubbed of secrets.
export async function postToChannel(request: ChannelRequest, description: string, hints: ChannelHints, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let status: number;
  let body: string;
  let retryAfter: string | null;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.any([signal, timeout]),
      redirect: 'error',
    });
    status = response.status;
    retryAfter = response.headers.get('retry-after');
    body = await response.text();
  } catch (error) {
    // fetch's own errors can carry the URL; only a code of ours goes out.
    if (signal.aborted) throw new AlertDeliveryError(`${hints.service} delivery stopped: the service is shutting down; it is sent after the restart`, false);
    if (timeout.aborted) {
      throw new AlertDeliveryError(`${description} did not answer within ${timeoutMs / 1000} s`, false, { hint: `${hints.service} may be slow or unreachable from here; it will be retried` });
    }
    throw new AlertDeliveryError(`${description} unreachable (${networkCode(error)})`, false, {
      hint: `check that this host can reach ${hints.service} (DNS, firewall, proxy); it will be retried`,
    });
  }
  if (status >= 200 && status < 300) return;
  const reason = serverReason(scrubSecrets(body, [request.url, ...(hints.secrets ?? []), ...urlSecretParts(request.url)]));
  const what = `${description} answered HTTP ${status}${reason === '' ? '' : ` "${reason}"`}`;
  if (status === 429) throw new RetryLaterError(`${what} (rate limited)`, retryAfterMs(retryAfter, body) ?? 30_000);
  if (status >= 500 || status === 408) throw new AlertDeliveryError(what, false, { hint: `${hints.service} had a problem on its side; it will be retried` });
  if (status === 401 || status === 403 || status === 404 || status === 410) throw new AlertDeliveryError(what, true, { hint: hints.revoked });
  throw new AlertDeliveryError(what, true, {
    hint: hints.refused ?? `${hints.service} refused the message itself; please report this with the log line (it is a backup-sentinel bug), alerts still go to the other channels and the logs`,
  });
}

// Retry-After in seconds, or the `retry_after` of a Discord or Telegram JSON answer.
function retryAfterMs(header: string | null, body: string): number | undefined {
  const fromHeader = Number(header);
  if (header !== null && Number.isFinite(fromHeader) && fromHeader > 0) return fromHeader * 1000;
  const json = parseObject(body);
  const parameters = json?.parameters;
  const value = json?.retry_after ?? (typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>).retry_after : undefined);
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
}

// A short reason the server gave in JSON (Telegram `description`, Discord and ntfy `message`/`error`);
// anything else (an HTML page from a proxy) is not shown, it could echo the request.
function serverReason(body: string): string {
  const json = parseObject(body);
  const text = json?.description ?? json?.message ?? json?.error;
  if (typeof text !== 'string') return '';
  const flat = text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length <= 160 ? flat : `${flat.slice(0, 159)}…`;
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// A system error code (ECONNREFUSED, ENOTFOUND ...) from fetch's error chain, never its message.
export function networkCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
    current = current.cause;
  }
  return 'network error';
}
