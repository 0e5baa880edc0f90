import type { Finding } from '../core/findings.ts';
import type { AlertMessage } from './format-message.ts';
import type { ChannelName } from './notifier.ts';

// Delivery state per channel, pure: which messages a channel still owes people (another channel took
// them while this one was down, or shutdown cut the send off) and whether the channel refuses
// everything (a revoked webhook, a refused SMTP login). Stored with the alert state, so a restart
// neither forgets nor repeats a message for any channel.

export interface PendingMessage {
  // ISO time the message was first due on this channel.
  queuedAt: string;
  message: AlertMessage;
}

// The channel answered with a permanent error; cleared by the next message it takes.
export interface ChannelRefusal {
  since: string;
  // The channel's description, e.g. "Slack webhook on hooks.slack.com" (never a secret).
  description: string;
  error: string;
  hint?: string;
}

export interface ChannelState {
  pending: PendingMessage[];
  refused?: ChannelRefusal;
}

export type ChannelStates = Partial<Record<ChannelName, ChannelState>>;

// A channel down for weeks must not grow the state without bound; the newest messages are kept, and
// the newest one always lists everything still firing.
export const MAX_PENDING_PER_CHANNEL = 20;

// The channels that have state, in a stable order (slack and email first, as before ALERT_URLS).
function channelsIn(states: ChannelStates): ChannelName[] {
  const rank = (c: string): string => (c === 'slack' ? '0' : c === 'email' ? '1' : `2${c}`);
  return Object.keys(states).sort((a, b) => rank(a).localeCompare(rank(b)));
}

export function pendingOf(states: ChannelStates, channel: ChannelName): PendingMessage[] {
  return states[channel]?.pending ?? [];
}

// The states after `message` became due on `channel` without being sent there. An older reminder is
// dropped: the new message lists everything still firing anyway.
export function withQueued(states: ChannelStates, channel: ChannelName, message: AlertMessage, now: Date): ChannelStates {
  const current = states[channel] ?? { pending: [] };
  const pending = [...current.pending.filter((p) => p.message.kind !== 'reminder'), { queuedAt: now.toISOString(), message }];
  return { ...states, [channel]: { ...current, pending: pending.slice(-MAX_PENDING_PER_CHANNEL) } };
}

// The states after `channel` took its oldest `count` pending messages (or a new one): it works, so a
// refusal is over.
export function withSent(states: ChannelStates, channel: ChannelName, count: number): ChannelStates {
  const current = states[channel];
  if (current === undefined) return states;
  return normalise({ ...states, [channel]: { pending: current.pending.slice(count) } });
}

// The states after `channel` refused a message permanently; the first refusal's time is kept.
export function withRefused(states: ChannelStates, channel: ChannelName, refusal: ChannelRefusal): ChannelStates {
  const current = states[channel] ?? { pending: [] };
  const since = current.refused?.since ?? refusal.since;
  const refused: ChannelRefusal = { ...refusal, since };
  return { ...states, [channel]: { ...current, refused } };
}

// Only the configured channels: a channel removed from the configuration owes nothing any more.
export function onlyChannels(states: ChannelStates, configured: readonly ChannelName[]): ChannelStates {
  const kept: ChannelStates = {};
  for (const channel of configured) {
    const state = states[channel];
    if (state !== undefined) kept[channel] = state;
  }
  return normalise(kept);
}

// One `alert_channel` finding per channel that refuses messages, so a revoked webhook shows in
// /health, metrics and the other channels.
export function channelFindings(states: ChannelStates): Finding[] {
  const findings: Finding[] = [];
  for (const channel of channelsIn(states)) {
    const state = states[channel];
    if (state?.refused === undefined) continue;
    const { refused } = state;
    const finding: Finding = {
      check: 'alert_channel',
      severity: 'warn',
      summary: `${channel} refuses alerts: ${refused.error}`,
      values: { channel, refusedSince: refused.since, undeliveredMessages: state.pending.length },
    };
    finding.hint = `${refused.hint ?? 'fix the channel settings'}; the ${state.pending.length === 1 ? 'message' : `${state.pending.length} messages`} it missed ${state.pending.length === 1 ? 'is' : 'are'} sent once it accepts messages again (tried at every check)`;
    findings.push(finding);
  }
  return findings;
}

// What of the channel states must survive a restart, as a comparable string.
export function channelStatesKey(states: ChannelStates): string {
  return JSON.stringify(
    channelsIn(states).map((c) => [c, states[c]?.pending.map((p) => [p.queuedAt, p.message.subject]) ?? [], states[c]?.refused?.since ?? null]),
  );
}

function normalise(states: ChannelStates): ChannelStates {
  const result: ChannelStates = {};
  for (const channel of channelsIn(states)) {
    const state = states[channel];
    if (state !== undefined && (state.pending.length > 0 || state.refused !== undefined)) result[channel] = state;
  }
  return result;
}
