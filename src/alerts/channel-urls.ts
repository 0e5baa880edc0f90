import { Secret } from '../config/secret.ts';

// ALERT_URLS: extra alert channels as a comma-separated list of URLs in the style of Apprise and
// shoutrrr (see docs/alerts.md). Pure: parsing only; each channel's adapter does the sending.

type ChannelKind = 'discord' | 'telegram' | 'ntfy' | 'teams' | 'webhook';

interface TargetBase {
  // Unique among the configured channels: "discord", "discord-2" ... (keys the delivery state).
  channel: string;
  // For logs and people, without secrets: "Discord webhook 1234567890".
  description: string;
}

export interface DiscordTarget extends TargetBase {
  kind: 'discord';
  webhookId: string;
  token: Secret;
}

export interface TelegramTarget extends TargetBase {
  kind: 'telegram';
  botToken: Secret;
  chatId: string;
}

export interface NtfyTarget extends TargetBase {
  kind: 'ntfy';
  // https://ntfy.sh/<topic>: the topic is the secret of a public server (anyone who knows it reads it).
  url: Secret;
  // Basic user:password or an access token (tk_...).
  auth: { user: string; password: Secret } | { token: Secret } | undefined;
}

// Teams workflow and the generic webhook: the URL (path and query) is the credential.
export interface UrlTarget extends TargetBase {
  kind: 'teams' | 'webhook';
  url: Secret;
}

export type ChannelTarget = DiscordTarget | TelegramTarget | NtfyTarget | UrlTarget;

export interface ChannelUrlProblem {
  // What may be shown of the entry: its position and scheme, never a token.
  entry: string;
  expected: string;
}

const EXPECTED: Record<string, string> = {
  discord: 'discord://<webhook id>/<webhook token> (the two last parts of https://discord.com/api/webhooks/<id>/<token>)',
  tgram: 'tgram://<bot token>/<chat id> (bot token like 123456:ABC-DEF..., chat id a number or @channel)',
  ntfy: 'ntfy://[user:password@]host[:port]/topic (http), ntfys://... (https) or ntfy://topic (https://ntfy.sh)',
  teams: 'teams+https://<the workflow URL Teams shows for "Post to a channel when a webhook request is received">',
  webhook: 'webhook+https://host/path (or webhook+http:// for a receiver on a private network)',
};

const KNOWN = 'one of discord://, tgram://, ntfy://, ntfys://, teams+https://, webhook+https://, webhook+http://';

// Parses ALERT_URLS; every malformed entry is a problem that names it by position and scheme only.
export function parseChannelUrls(value: string | undefined): { targets: ChannelTarget[]; problems: ChannelUrlProblem[] } {
  const targets: ChannelTarget[] = [];
  const problems: ChannelUrlProblem[] = [];
  if (value === undefined) return { targets, problems };
  const entries = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
  const counts = new Map<ChannelKind, number>();
  entries.forEach((entry, index) => {
    const parsed = parseEntry(entry);
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry)?.[1]?.toLowerCase();
    if ('expected' in parsed) {
      const shown = scheme !== undefined && /^(discord|tgram|ntfys?|teams\+https?|webhook\+https?)$/.test(scheme) ? `"${scheme}://…"` : 'it';
      problems.push({ entry: `entry ${index + 1} of ${entries.length}, ${shown} (the rest is not shown: it holds a token)`, expected: parsed.expected });
      return;
    }
    const count = (counts.get(parsed.kind) ?? 0) + 1;
    counts.set(parsed.kind, count);
    const channel = count === 1 ? parsed.kind : `${parsed.kind}-${count}`;
    targets.push({ ...parsed, channel });
  });
  return { targets, problems };
}

type Parsed = Omit<DiscordTarget, 'channel'> | Omit<TelegramTarget, 'channel'> | Omit<NtfyTarget, 'channel'> | Omit<UrlTarget, 'channel'>;

function parseEntry(entry: string): Parsed | { expected: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry)?.[1]?.toLowerCase();
  const rest = scheme === undefined ? '' : entry.slice(scheme.length + 3);
  switch (scheme) {
    case 'discord': {
      const match = /^(\d{5,25})\/([A-Za-z0-9_-]{10,200})\/?$/.exec(rest);
      if (match === null) return { expected: EXPECTED.discord ?? '' };
      const [, webhookId = '', token = ''] = match;
      return { kind: 'discord', webhookId, token: new Secret(token), description: `Discord webhook ${webhookId}` };
    }
    case 'tgram': {
      const match = /^(\d{3,20}:[A-Za-z0-9_-]{20,100})\/(-?\d{1,20}|@[A-Za-z0-9_]{4,64})\/?$/.exec(rest);
      if (match === null) return { expected: EXPECTED.tgram ?? '' };
      const [, botToken = '', chatId = ''] = match;
      return { kind: 'telegram', botToken: new Secret(botToken), chatId, description: `Telegram chat ${chatId}` };
    }
    case 'ntfy':
    case 'ntfys':
      return parseNtfy(scheme, rest);
    case 'teams+https': {
      const url = httpUrl(`https://${rest}`);
      if (url === undefined || url.pathname.length <= 1) return { expected: EXPECTED.teams ?? '' };
      return { kind: 'teams', url: new Secret(url.href), description: `Teams workflow on ${url.host}` };
    }
    case 'webhook+https':
    case 'webhook+http': {
      const protocol = scheme.slice('webhook+'.length);
      const url = httpUrl(`${protocol}://${rest}`);
      if (url === undefined) return { expected: EXPECTED.webhook ?? '' };
      return { kind: 'webhook', url: new Secret(url.href), description: `webhook on ${url.host}` };
    }
    case 'teams+http':
      return { expected: `${EXPECTED.teams ?? ''}: Teams workflow URLs are https only` };
    default:
      return { expected: `${KNOWN}, comma-separated` };
  }
}

function parseNtfy(scheme: 'ntfy' | 'ntfys', rest: string): Parsed | { expected: string } {
  const expected = { expected: EXPECTED.ntfy ?? '' };
  const match = /^(?:([^@/?#]*)@)?([^/?#@]+)(?:\/([A-Za-z0-9_-]{1,64}))?\/?$/.exec(rest);
  if (match === null) return expected;
  const [, userinfo, hostPart = '', topicPart] = match;
  // ntfy://topic alone is a topic on the public server, as in Apprise.
  const cloud = topicPart === undefined;
  const topic = cloud ? hostPart : topicPart;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(topic)) return expected;
  const base = cloud ? 'https://ntfy.sh' : `${scheme === 'ntfys' ? 'https' : 'http'}://${hostPart}`;
  const url = httpUrl(`${base}/${topic}`);
  if (url === undefined) return expected;
  let auth: NtfyTarget['auth'];
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const decoded = (text: string): string | undefined => {
      try {
        return decodeURIComponent(text);
      } catch {
        return undefined;
      }
    };
    if (colon === -1) {
      const token = decoded(userinfo);
      if (token === undefined || !token.startsWith('tk_')) return { expected: `${EXPECTED.ntfy ?? ''}; before the "@" either user:password or an access token tk_...` };
      auth = { token: new Secret(token) };
    } else {
      const user = decoded(userinfo.slice(0, colon));
      const password = decoded(userinfo.slice(colon + 1));
      if (user === undefined || password === undefined || user === '') return expected;
      auth = { user, password: new Secret(password) };
    }
  }
  return { kind: 'ntfy', url: new Secret(url.href), auth, description: `ntfy topic on ${url.host}` };
}

// A URL with an http(s) scheme, a host and no user info (credentials go elsewhere), or undefined.
function httpUrl(text: string): URL | undefined {
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return undefined;
  try {
    const url = new URL(text);
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
    return url;
  } catch {
    return undefined;
  }
}
