// Which heartbeat service a URL belongs to and the request that reports an event to it, following each
// service's own convention (docs/alerts.md, "Heartbeats"). Pure: no I/O.

export type HeartbeatEvent = 'start' | 'success' | 'fail';

export type HeartbeatService = 'healthchecks' | 'uptime-kuma' | 'betterstack' | 'cronitor';

export interface PingRequest {
  method: 'GET' | 'POST';
  url: string;
  // POST only: a short text the service keeps with the ping (healthchecks shows it in its log).
  body?: string;
}

// Uptime Kuma push monitors live at /api/push/<token>; Better Stack heartbeats at
// uptime.betterstack.com/api/v1/heartbeat/<token>; Cronitor at cronitor.link. Anything else is
// treated as healthchecks.io, whose ping API self-hosted instances (/ping/<uuid>) share.
export function heartbeatService(url: URL): HeartbeatService {
  if (/\/api\/push\/[^/]+\/?$/.test(url.pathname)) return 'uptime-kuma';
  if (url.hostname === 'uptime.betterstack.com' || url.hostname.endsWith('.betterstack.com') || /\/api\/v1\/heartbeat\/[^/]+\/?$/.test(url.pathname)) return 'betterstack';
  if (url.hostname === 'cronitor.link' || url.hostname.endsWith('.cronitor.link')) return 'cronitor';
  return 'healthchecks';
}

// The request for `event`, or undefined when the service has no such event (a start for Uptime Kuma
// and Better Stack, which only know up and down). `runId` pairs a start with its end where the
// service supports it (healthchecks `rid`, which must be a UUID; Cronitor `series`).
export function pingRequest(pingUrl: string, event: HeartbeatEvent, message: string, runId?: string): PingRequest | undefined {
  const url = new URL(pingUrl);
  switch (heartbeatService(url)) {
    case 'uptime-kuma':
      if (event === 'start') return undefined;
      url.searchParams.set('status', event === 'success' ? 'up' : 'down');
      url.searchParams.set('msg', cut(oneLine(message), 200));
      return { method: 'GET', url: url.href };
    case 'betterstack':
      if (event === 'start') return undefined;
      if (event === 'fail') url.pathname = `${url.pathname.replace(/\/+$/, '')}/fail`;
      return { method: 'GET', url: url.href };
    case 'cronitor':
      url.searchParams.set('state', event === 'start' ? 'run' : event === 'success' ? 'complete' : 'fail');
      url.searchParams.set('message', cut(oneLine(message), 2000));
      if (runId !== undefined) url.searchParams.set('series', runId);
      return { method: 'GET', url: url.href };
    case 'healthchecks':
      if (event !== 'success') url.pathname = `${url.pathname.replace(/\/+$/, '')}/${event}`;
      if (runId !== undefined) url.searchParams.set('rid', runId);
      return { method: 'POST', url: url.href, body: cut(message, 10_000) };
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
