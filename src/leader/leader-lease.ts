import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { errForLog, shortMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ConditionalStore } from '../storage/store.ts';
import { decideLease, leaseRecord, leaseTimings, observe, serializeLease, type LeaseObservation } from './lease.ts';

type Role = 'leader' | 'standby';

// What /status shows about leadership.
export interface LeadershipStatus {
  role: Role;
  // 'off': LEADER_LEASE_SECONDS=0 (or storage without conditional writes): this instance always leads.
  lease: 'on' | 'off';
  instance: string;
  // Who holds the lease as last seen, and until when (the holder's expiresAt); null when unknown/none.
  holder: string | null;
  until: string | null;
  key?: string;
  ttlSeconds?: number;
  // The last failure to read or write the lease, while it lasts.
  problem?: string;
}

// Which instance sends alerts and runs retention, verification and drills. Listeners hear every change.
export interface Leadership {
  isLeader(): boolean;
  status(): LeadershipStatus;
  onChange(listener: (leader: boolean) => Promise<void> | void): void;
  start(): Promise<void>;
  // Stops renewing; a leader releases the lease so another instance takes over at once.
  stop(): Promise<void>;
}

export function newInstanceId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

// Without a lease every instance leads (one replica, or LEADER_LEASE_SECONDS=0).
export class SoleLeadership implements Leadership {
  readonly #instance: string;
  readonly #listeners: ((leader: boolean) => Promise<void> | void)[] = [];
  constructor(instance: string) {
    this.#instance = instance;
  }
  isLeader(): boolean {
    return true;
  }
  status(): LeadershipStatus {
    return { role: 'leader', lease: 'off', instance: this.#instance, holder: this.#instance, until: null };
  }
  onChange(listener: (leader: boolean) => Promise<void> | void): void {
    this.#listeners.push(listener);
  }
  async start(): Promise<void> {
    for (const listener of this.#listeners) await listener(true);
  }
  async stop(): Promise<void> {
    // Nothing to release.
  }
}

export interface LeaderLeaseOptions {
  store: ConditionalStore;
  key: string;
  // For logs: where the lease lives, e.g. "s3://bucket/.backup-sentinel/leader.json at ...".
  location: string;
  ttlMs: number;
  instance: string;
  logger: Logger;
  clock?: () => Date;
  // How long one storage call may take before it is aborted (see #bounded for the default). Tests of a
  // storage that stops answering set it lower, so they do not wait the default's 2 s floor per call.
  callLimitMs?: number;
}

// A lease in the backup storage, written with conditional requests: If-None-Match: * creates it,
// If-Match: <etag> renews it or takes over one nobody renewed for its TTL. See lease.ts for the timing.
export class LeaderLease implements Leadership {
  readonly #o: LeaderLeaseOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #timings: { tickMs: number; holdMs: number };
  readonly #listeners: ((leader: boolean) => Promise<void> | void)[] = [];
  #held: { etag: string; acquiredAt: Date; validUntil: number } | undefined;
  #observed: LeaseObservation | undefined;
  #problem: string | undefined;
  #lastWaitLogged: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #changes: Promise<void> = Promise.resolve();
  #stopped = false;
  // Aborted by stop(): a round's read of the lease in flight ends at once instead of at its bound (up to
  // 12 s of a shutdown spent waiting on a storage that does not answer). Writes are left to their bound:
  // one cut off may still land, and the lease it wrote could then not be released at once.
  readonly #stopping = new AbortController();
  #stoppingDone: Promise<void> | undefined;

  constructor(options: LeaderLeaseOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'leader' });
    this.#clock = options.clock ?? (() => new Date());
    this.#timings = leaseTimings(options.ttlMs);
  }

  // Time-based, so a holder that could not renew stops acting even before its next tick runs.
  isLeader(): boolean {
    return this.#held !== undefined && this.#clock().getTime() < this.#held.validUntil;
  }

  status(): LeadershipStatus {
    const leader = this.isLeader();
    const record = leader ? undefined : this.#observed?.record;
    const base: LeadershipStatus = {
      role: leader ? 'leader' : 'standby',
      lease: 'on',
      instance: this.#o.instance,
      holder: leader ? this.#o.instance : (record?.holder ?? null),
      until: leader && this.#held ? new Date(this.#held.validUntil).toISOString() : (record?.expiresAt ?? null),
      key: this.#o.key,
      ttlSeconds: this.#o.ttlMs / 1000,
    };
    if (this.#problem !== undefined) base.problem = this.#problem;
    return base;
  }

  onChange(listener: (leader: boolean) => Promise<void> | void): void {
    this.#listeners.push(listener);
  }

  // Tries once (so a single instance leads from its first check on), then every quarter TTL.
  async start(): Promise<void> {
    this.#log.info({ lease: this.#o.location, ttlSeconds: this.#o.ttlMs / 1000, instance: this.#o.instance }, 'leader election: one instance sends alerts and runs retention and verification');
    await this.tick();
    // A lease won at start is acted on (alert state loaded) before the caller goes on.
    await this.#changes;
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.tick(), this.#timings.tickMs);
    this.#timer.unref();
  }

  // Once: a second call (a stop requested during start-up, then the service's stop) waits for the same
  // release instead of returning while the first is still releasing.
  stop(): Promise<void> {
    this.#stoppingDone ??= this.#stop();
    return this.#stoppingDone;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#stopping.abort(new Error('the service is stopping'));
    await this.#ticking;
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      try {
        const released = await this.#bounded((signal) => this.#o.store.deleteConditional(this.#o.key, held.etag, signal));
        this.#log.info({ released }, released ? 'leader lease released: another instance can take over at once' : 'leader lease was no longer ours at shutdown');
      } catch (error) {
        this.#log.warn({ err: errForLog(error) }, `could not release the leader lease (${shortMessageOf(error)}): another instance takes over when it expires`);
      }
      this.#emit(false);
    }
    await this.#changes;
  }

  // One round: renew when holding, else read and create / take over when due. Never throws.
  tick(): Promise<void> {
    this.#ticking ??= this.#round()
      .catch((error: unknown) => this.#log.error({ err: errForLog(error) }, `leader lease round failed: ${shortMessageOf(error)}`))
      .finally(() => {
        this.#ticking = undefined;
      });
    return this.#ticking;
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    const started = this.#clock();
    if (this.#held !== undefined) {
      await this.#renew(this.#held, started);
      return;
    }
    let read;
    try {
      read = await this.#bounded((signal) => this.#o.store.readVersioned(this.#o.key, signal), { endsWithStop: true });
    } catch (error) {
      if (this.#stopped) return;
      this.#noteProblem(`could not read the leader lease: ${shortMessageOf(error)}`, error);
      return;
    }
    this.#observed = observe(this.#observed, read, started);
    const step = decideLease(this.#observed, this.#o.instance, started, this.#o.ttlMs);
    if (step.kind === 'wait') {
      if (this.#lastWaitLogged !== step.holder) {
        this.#lastWaitLogged = step.holder;
        this.#log.info({ holder: step.holder ?? 'unreadable lease', until: step.until.toISOString() }, `standby: the leader lease is held by ${step.holder ?? 'an unreadable record'}`);
      }
      this.#problem = undefined;
      return;
    }
    const condition = step.kind === 'create' ? { ifNoneMatch: '*' as const } : { ifMatch: step.etag };
    const acquiredAt = step.kind === 'renew' && this.#observed?.record ? new Date(this.#observed.record.acquiredAt) : started;
    let written;
    try {
      written = await this.#bounded((signal) =>
        this.#o.store.putConditional(this.#o.key, serializeLease(leaseRecord(this.#o.instance, acquiredAt, started, this.#o.ttlMs)), condition, signal),
      );
    } catch (error) {
      this.#noteProblem(`could not write the leader lease: ${shortMessageOf(error)}`, error);
      return;
    }
    this.#problem = undefined;
    // Another instance wrote first: read again at the next round.
    if (written === undefined) return;
    if (this.#stopped) {
      await this.#bounded((signal) => this.#o.store.deleteConditional(this.#o.key, written.etag, signal)).catch(() => undefined);
      return;
    }
    this.#held = { etag: written.etag, acquiredAt, validUntil: started.getTime() + this.#timings.holdMs };
    this.#observed = undefined;
    this.#lastWaitLogged = undefined;
    const previous = step.kind === 'take-over' ? this.#observedHolder(step) : undefined;
    this.#log.info({ how: step.kind, previous, ttlSeconds: this.#o.ttlMs / 1000 }, `this instance is now the leader (${step.kind === 'take-over' ? `took over a lease not renewed for its TTL${previous ? ` from ${previous}` : ''}` : 'lease acquired'})`);
    this.#emit(true);
  }

  #observedHolder(step: { etag: string }): string | undefined {
    return this.#observed?.etag === step.etag ? this.#observed.record?.holder : undefined;
  }

  async #renew(held: { etag: string; acquiredAt: Date; validUntil: number }, started: Date): Promise<void> {
    let written;
    try {
      written = await this.#bounded((signal) =>
        this.#o.store.putConditional(this.#o.key, serializeLease(leaseRecord(this.#o.instance, held.acquiredAt, started, this.#o.ttlMs)), { ifMatch: held.etag }, signal),
      );
    } catch (error) {
      this.#noteProblem(`could not renew the leader lease: ${shortMessageOf(error)}`, error);
      if (this.#clock().getTime() >= held.validUntil) this.#stepDown('the lease could not be renewed before it would expire, so another instance may take over');
      return;
    }
    if (this.#held !== held) return;
    if (written === undefined) {
      this.#stepDown('another instance holds the lease now');
      return;
    }
    this.#problem = undefined;
    this.#held = { ...held, etag: written.etag, validUntil: started.getTime() + this.#timings.holdMs };
  }

  // A storage call that hangs must not hold the rounds (or the process at exit) for the SDK's
  // minute-long socket timeout: it is aborted after most of a round (at least 2 s: a process's first S3
  // call loads the SDK). isLeader() is time-based, so this bounds only how soon a step-down stops
  // retention and verification. A write that still landed is harmless: its etag is not ours, so the
  // next renewal fails (412) and this instance steps down; a late create names us, and the next round
  // renews it.
  // endsWithStop: the call also ends when stop() begins (a read, which changes nothing).
  async #bounded<T>(call: (signal: AbortSignal) => Promise<T>, options: { endsWithStop?: boolean } = {}): Promise<T> {
    const limitMs = this.#o.callLimitMs ?? Math.max(2_000, Math.floor(this.#timings.tickMs * 0.8));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer from the storage within ${limitMs} ms`)), limitMs);
    const onStop = () => controller.abort(this.#stopping.signal.reason);
    if (options.endsWithStop === true) {
      if (this.#stopping.signal.aborted) onStop();
      else this.#stopping.signal.addEventListener('abort', onStop, { once: true });
    }
    const promise = call(controller.signal);
    const timeout = new Promise<never>((_resolve, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true });
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
      this.#stopping.signal.removeEventListener('abort', onStop);
      promise.catch(() => undefined);
      timeout.catch(() => undefined);
    }
  }

  #stepDown(reason: string): void {
    if (this.#held === undefined) return;
    this.#held = undefined;
    this.#log.warn({ reason }, `this instance is standby now: ${reason}; alerts, retention and verification stop here`);
    this.#emit(false);
  }

  #noteProblem(problem: string, error: unknown): void {
    if (this.#problem !== problem) this.#log.warn({ err: errForLog(error) }, problem);
    this.#problem = problem;
  }

  #emit(leader: boolean): void {
    for (const listener of this.#listeners) {
      this.#changes = this.#changes.then(
        () => listener(leader),
      ).catch((error: unknown) => this.#log.error({ err: errForLog(error) }, `a leadership listener failed: ${shortMessageOf(error)}`));
    }
  }
}
