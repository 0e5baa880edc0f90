import { Readable } from 'node:stream';
import { RESERVED_FOLDER } from '../core/naming.ts';
import { StorageError } from '../errors.ts';
import { ALL_CHECKS, unitOf, type CheckName } from '../core/findings.ts';
import type { BackupStore } from '../storage/store.ts';
import { type ChannelRefusal, type ChannelState, type ChannelStates, type PendingMessage } from './channel-state.ts';
import type { AlertMessage } from './format-message.ts';
import { alertKey, type ActiveAlert, type AlertState, type ResolvedAlert } from './policy.ts';

// The alert state as stored: the policy's state plus per-channel delivery state and a revision that
// grows with every save (the newest copy wins when a local copy and the stored one differ). Files
// written before channels and revision existed load with none pending and revision 0.
export interface PersistedAlertState extends AlertState {
  channels: ChannelStates;
  revision: number;
  // When it was written (ISO); breaks a tie of revisions.
  savedAt?: string;
  // Only in the local copy: whether the storage took the same save. Absent in copies written before.
  inStorage?: boolean;
}

// `stale`: one of the copies behind this state is older or missing, so save at the next run even
// when nothing changes.
export type LoadedState =
  | { kind: 'loaded'; state: PersistedAlertState; stale?: boolean }
  // `setAside`: why a local copy was not used (see MirroredAlertState.load).
  | { kind: 'missing'; setAside?: string }
  | { kind: 'corrupt'; reason: string };

// Where the alert state lives across restarts. load() throws StorageError when the storage cannot be read.
export interface AlertStateStore {
  // For logs and docs: "s3://bucket/db/.backup-sentinel/alert-state.json".
  readonly location: string;
  load(): Promise<LoadedState>;
  save(state: PersistedAlertState): Promise<void>;
}

// JSON text of a state, with the time it was written (the state's own savedAt when set, so that every
// copy of one save carries the same time).
export function serializeAlertState(state: PersistedAlertState, now: Date): string {
  return `${JSON.stringify({ ...state, savedAt: state.savedAt ?? now.toISOString() }, null, 2)}\n`;
}

const ALERT_STATE_FILE = 'alert-state.json';
const MAX_STATE_BYTES = 1024 * 1024;

// `[subfolder/].backup-sentinel/alert-state.json`: beside the backups, so it survives redeploys on
// platforms with ephemeral disks, and never mistaken for a backup (naming.isAuxiliaryKey).
export function alertStateKey(subfolder: string): string {
  return `${subfolder ? `${subfolder}/` : ''}${RESERVED_FOLDER}${ALERT_STATE_FILE}`;
}

// "s3://bucket/key at https://endpoint" from a store description "s3://bucket at https://endpoint".
export function describeKeyIn(storeDescription: string, key: string): string {
  const [head = '', ...rest] = storeDescription.split(' at ');
  return `${head.replace(/\/+$/, '')}/${key}${rest.length > 0 ? ` at ${rest.join(' at ')}` : ''}`;
}

// The alert state as a small JSON object in the backup storage itself (S3 bucket or directory).
export class BackupStoreAlertState implements AlertStateStore {
  readonly location: string;
  readonly #store: BackupStore;
  readonly #key: string;

  constructor(store: BackupStore, subfolder: string) {
    this.#store = store;
    this.#key = alertStateKey(subfolder);
    this.location = describeKeyIn(store.description, this.#key);
  }

  async load(): Promise<LoadedState> {
    let stream: Readable;
    try {
      stream = await this.#store.get(this.#key);
    } catch (error) {
      if (error instanceof StorageError && error.code === 'NoSuchKey') return { kind: 'missing' };
      throw error;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buffer.length;
      if (size > MAX_STATE_BYTES) {
        stream.destroy();
        return { kind: 'corrupt', reason: `larger than ${MAX_STATE_BYTES} bytes` };
      }
      chunks.push(buffer);
    }
    return parseAlertState(Buffer.concat(chunks).toString('utf8'));
  }

  async save(state: PersistedAlertState): Promise<void> {
    const body = Buffer.from(serializeAlertState(state, new Date()));
    await this.#store.put(this.#key, Readable.from([body]), { contentType: 'application/json', sizeHint: body.length });
  }
}

// Reads stored JSON into an alert state; entries of checks this version does not know are dropped, and
// so are malformed pending messages (losing one costs a late message, not the state).
export function parseAlertState(text: string): LoadedState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'corrupt', reason: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!isObject(value) || value.version !== 1) return { kind: 'corrupt', reason: 'no "version": 1' };
  if (!isObject(value.firing) || !Array.isArray(value.resolved)) return { kind: 'corrupt', reason: '"firing" or "resolved" missing' };
  const firing: AlertState['firing'] = {};
  for (const [key, alert] of Object.entries(value.firing)) {
    // The key is the check, or `<check>:<set>` for a backup set (alertKey).
    const colon = key.indexOf(':');
    const check = colon === -1 ? key : key.slice(0, colon);
    if (!isKnownCheck(check)) continue;
    if (!isActiveAlert(alert, check) || alertKey(check, colon === -1 ? undefined : key.slice(colon + 1)) !== alertKey(check, unitOf(alert))) {
      return { kind: 'corrupt', reason: `firing.${key} is malformed` };
    }
    firing[key] = alert;
  }
  const resolved: ResolvedAlert[] = [];
  for (const entry of value.resolved as unknown[]) {
    if (isObject(entry) && typeof entry.check === 'string' && !isKnownCheck(entry.check)) continue;
    if (!isResolvedAlert(entry)) return { kind: 'corrupt', reason: 'an entry of "resolved" is malformed' };
    resolved.push(entry);
  }
  const revision = typeof value.revision === 'number' && Number.isFinite(value.revision) ? value.revision : 0;
  const state: PersistedAlertState = { version: 1, firing, resolved, channels: parseChannels(value.channels), revision };
  if (isTime(value.savedAt)) state.savedAt = value.savedAt;
  if (typeof value.inStorage === 'boolean') state.inStorage = value.inStorage;
  return { kind: 'loaded', state };
}

function parseChannels(value: unknown): ChannelStates {
  const channels: ChannelStates = {};
  if (!isObject(value)) return channels;
  for (const [channel, entry] of Object.entries(value)) {
    // Channel keys are ours ("slack", "discord-2"); anything else is not a channel we know.
    if (!/^[a-z][a-z0-9-]{0,40}$/.test(channel) || !isObject(entry)) continue;
    const pending = Array.isArray(entry.pending) ? entry.pending.filter(isPendingMessage) : [];
    const state: ChannelState = { pending };
    if (isRefusal(entry.refused)) state.refused = entry.refused;
    if (state.pending.length > 0 || state.refused !== undefined) channels[channel] = state;
  }
  return channels;
}

function isPendingMessage(value: unknown): value is PendingMessage {
  return isObject(value) && isTime(value.queuedAt) && isMessage(value.message);
}

function isMessage(value: unknown): value is AlertMessage {
  return (
    isObject(value) &&
    typeof value.kind === 'string' &&
    typeof value.tone === 'string' &&
    typeof value.subject === 'string' &&
    typeof value.footer === 'string' &&
    Array.isArray(value.sections) &&
    value.sections.every((section) => isObject(section) && typeof section.heading === 'string' && Array.isArray(section.entries))
  );
}

function isRefusal(value: unknown): value is ChannelRefusal {
  return (
    isObject(value) &&
    isTime(value.since) &&
    typeof value.description === 'string' &&
    typeof value.error === 'string' &&
    (value.hint === undefined || typeof value.hint === 'string')
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isKnownCheck(check: string): check is CheckName {
  return (ALL_CHECKS as readonly string[]).includes(check);
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

function isSeverity(value: unknown): boolean {
  return value === 'warn' || value === 'fail';
}

function isValues(value: unknown): boolean {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string' || typeof v === 'number');
}

function isActiveAlert(value: unknown, check: CheckName): value is ActiveAlert {
  return (
    isObject(value) &&
    value.check === check &&
    isSeverity(value.severity) &&
    typeof value.summary === 'string' &&
    isValues(value.values) &&
    (value.hint === undefined || typeof value.hint === 'string') &&
    isTime(value.startedAt) &&
    isTime(value.lastSeenAt) &&
    (value.notifiedAt === undefined || isTime(value.notifiedAt)) &&
    (value.notifiedSeverity === undefined || isSeverity(value.notifiedSeverity))
  );
}

function isResolvedAlert(value: unknown): value is ResolvedAlert {
  return (
    isObject(value) &&
    typeof value.check === 'string' &&
    isKnownCheck(value.check) &&
    isSeverity(value.severity) &&
    typeof value.summary === 'string' &&
    isValues(value.values) &&
    isTime(value.startedAt) &&
    isTime(value.endedAt) &&
    isTime(value.notifiedAt)
  );
}
