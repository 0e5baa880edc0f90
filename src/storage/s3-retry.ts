import { setTimeout as sleep } from 'node:timers/promises';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

// The SDK's retry contract, named through the client's own config type (its package is the SDK's).
type RetryStrategyV2 = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { refreshRetryTokenForRetry: unknown }>;
type RetryToken = Awaited<ReturnType<RetryStrategyV2['acquireInitialRetryToken']>>;
type RetryErrorInfo = Parameters<RetryStrategyV2['refreshRetryTokenForRetry']>[1];

// How long to wait before retry number `retry` (1 for the first retry): exponential backoff from
// baseMs, capped at maxMs, with "equal jitter" (between half and all of the capped step). Half the
// step is always waited, so a burst of 5xx answers is spread over seconds instead of milliseconds,
// and the random half keeps many parts (or replicas) from retrying in lockstep. `random` is in [0, 1).
export function retryDelayMs(retry: number, limits: { baseMs: number; maxMs: number }, random: number): number {
  const step = Math.min(limits.maxMs, limits.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(step / 2 + (step / 2) * random);
}

export interface RetryLimits {
  // Total attempts per request, including the first, when the provider answered (5xx, throttling).
  maxAttempts: number;
  // Total attempts when nothing answered (connection refused or reset, DNS, timeout): a wrong or dead
  // endpoint is reported within seconds, and a stalled connection does not cost maxAttempts socket timeouts.
  unansweredMaxAttempts: number;
  // First backoff step; a throttling answer (SlowDown, 429, 503) starts from throttleBaseMs instead.
  baseMs: number;
  throttleBaseMs: number;
  // No single wait is longer than this.
  maxMs: number;
}

class Token implements RetryToken {
  readonly #count: number;
  constructor(count: number) {
    this.#count = count;
  }
  getRetryCount(): number {
    return this.#count;
  }
  // The strategy waits itself (in refreshRetryTokenForRetry), so the middleware adds nothing.
  getRetryDelay(): number {
    return 0;
  }
}

// The SDK's retry contract with our backoff. The SDK's own standard mode (as of the locked version)
// starts at 50 ms: its 4 attempts of one request all fall within about 0.2 s, so a provider answering
// 500 to half the requests for a moment fails a long backup. The SDK classifies the error (errorType):
// timeouts, connection resets, 500/502/503/504 (TRANSIENT) and throttling are retried, client errors
// (403, 404, bad request) are not. A Retry-After header is honoured up to maxMs. Errors without an
// HTTP answer get fewer attempts (unansweredMaxAttempts).
// The wait ends early when the request's abort signal (`signalOf`, asked at the wait) aborts: the SDK
// gives up on an aborted request at once, and a timer left running for the rest of the back-off (up to
// maxMs) would keep a stopping process alive that long.
export class BackoffRetryStrategy implements RetryStrategyV2 {
  readonly #limits: RetryLimits;
  readonly #random: () => number;
  readonly #signalOf: () => AbortSignal | undefined;

  constructor(limits: RetryLimits, random: () => number = Math.random, signalOf: () => AbortSignal | undefined = () => undefined) {
    this.#limits = limits;
    this.#random = random;
    this.#signalOf = signalOf;
  }

  acquireInitialRetryToken(): Promise<RetryToken> {
    return Promise.resolve(new Token(0));
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retry = token.getRetryCount() + 1;
    const retryable = info.errorType === 'TRANSIENT' || info.errorType === 'THROTTLING';
    const answered = (info.error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode !== undefined;
    const attempts = answered ? this.#limits.maxAttempts : Math.min(this.#limits.maxAttempts, this.#limits.unansweredMaxAttempts);
    if (!retryable || retry >= attempts) throw new Error('No retry token available');
    const baseMs = info.errorType === 'THROTTLING' ? this.#limits.throttleBaseMs : this.#limits.baseMs;
    let delay = retryDelayMs(retry, { baseMs, maxMs: this.#limits.maxMs }, this.#random());
    if (info.retryAfterHint instanceof Date) {
      delay = Math.max(delay, Math.min(this.#limits.maxMs, info.retryAfterHint.getTime() - Date.now()));
    }
    const signal = this.#signalOf();
    // Aborted, the SDK rejects the request itself (with AbortError): the wait only has to end.
    await sleep(delay, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
    return new Token(retry);
  }

  recordSuccess(): void {}
}
