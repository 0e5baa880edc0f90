import { RESERVED_FOLDER } from '../core/naming.ts';

// The leader lease as stored, and the pure decisions about it. Time is an argument; no I/O here.

const LEASE_FILE = 'leader.json';

// `[subfolder/].backup-sentinel/leader.json`: beside the alert state, never mistaken for a backup.
export function leaseKey(subfolder: string): string {
  return `${subfolder ? `${subfolder}/` : ''}${RESERVED_FOLDER}${LEASE_FILE}`;
}

export interface LeaseRecord {
  // Which process holds it: host name, pid and a random part (unique per process start).
  holder: string;
  acquiredAt: string;
  renewedAt: string;
  // The holder's TTL; other instances wait this long without seeing a renewal before taking over.
  ttlSeconds: number;
  // renewedAt + ttlSeconds by the holder's clock (for people: /status shows it).
  expiresAt: string;
}

export function serializeLease(record: LeaseRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record)}\n`);
}

// undefined for anything that is not a lease this version wrote (it is then treated as expired once
// it has stayed unchanged for a whole TTL).
export function parseLease(body: Buffer): LeaseRecord | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<LeaseRecord>;
    if (typeof value.holder !== 'string' || typeof value.ttlSeconds !== 'number' || !(value.ttlSeconds > 0)) return undefined;
    if (typeof value.renewedAt !== 'string' || typeof value.expiresAt !== 'string' || typeof value.acquiredAt !== 'string') return undefined;
    return value as LeaseRecord;
  } catch {
    return undefined;
  }
}

export function leaseRecord(holder: string, acquiredAt: Date, now: Date, ttlMs: number): LeaseRecord {
  return {
    holder,
    acquiredAt: acquiredAt.toISOString(),
    renewedAt: now.toISOString(),
    ttlSeconds: ttlMs / 1000,
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
  };
}

// When to act, for a lease of ttlMs. The holder renews every quarter TTL and counts itself leader only
// until three quarters of a TTL after its last renewal *started*; another instance takes over only
// after seeing the same version for a whole TTL from when it *read* it (after that write). So a holder
// that cannot renew has stepped down a quarter TTL before anyone can take over, whatever the clocks
// of the two hosts say (only elapsed time on each host counts, never a comparison of their clocks).
export function leaseTimings(ttlMs: number): { tickMs: number; holdMs: number } {
  return { tickMs: Math.max(100, Math.floor(ttlMs / 4)), holdMs: Math.floor((ttlMs * 3) / 4) };
}

// The lease as this instance last read it: the version, its content (undefined when unreadable) and
// when this instance first saw that version.
export interface LeaseObservation {
  etag: string;
  record: LeaseRecord | undefined;
  firstSeenAt: Date;
}

export type LeaseStep =
  | { kind: 'create' }
  | { kind: 'renew'; etag: string }
  | { kind: 'take-over'; etag: string }
  | { kind: 'wait'; holder: string | undefined; until: Date };

// What an instance does next about the lease: create it when there is none, renew its own, take over
// one nobody renewed for its TTL, or wait.
export function decideLease(observed: LeaseObservation | undefined, me: string, now: Date, ttlMs: number): LeaseStep {
  if (observed === undefined) return { kind: 'create' };
  if (observed.record?.holder === me) return { kind: 'renew', etag: observed.etag };
  const theirTtlMs = observed.record === undefined ? ttlMs : observed.record.ttlSeconds * 1000;
  const until = new Date(observed.firstSeenAt.getTime() + theirTtlMs);
  if (now.getTime() >= until.getTime()) return { kind: 'take-over', etag: observed.etag };
  return { kind: 'wait', holder: observed.record?.holder, until };
}

// The observation after reading the lease again: a new version restarts the wait.
export function observe(previous: LeaseObservation | undefined, read: { etag: string; body: Buffer } | undefined, now: Date): LeaseObservation | undefined {
  if (read === undefined) return undefined;
  if (previous?.etag === read.etag) return previous;
  return { etag: read.etag, record: parseLease(read.body), firstSeenAt: now };
}
