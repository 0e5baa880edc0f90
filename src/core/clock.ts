// The time source of scheduled work, injected so tests can move time without waiting for it.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
