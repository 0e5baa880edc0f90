// Watches a backup for progress (bytes moving) and says when it has stalled. The decision is pure
// (judgeStall, time as an argument); watchForStall only samples it on a timer.

export const DEFAULT_STALL_TIMEOUT_MS = 5 * 60_000;

export type StallVerdict = 'moving' | 'slow' | 'stalled';

// 'slow' from half the timeout (worth a warning in the log), 'stalled' at the timeout.
export function judgeStall(lastProgressAt: number, now: number, timeoutMs: number): StallVerdict {
  const idle = now - lastProgressAt;
  if (idle >= timeoutMs) return 'stalled';
  if (idle >= timeoutMs / 2) return 'slow';
  return 'moving';
}

export interface StallWatchOptions {
  timeoutMs: number;
  // A number that grows while the backup makes progress (bytes read or stored).
  progress: () => number;
  // Told once when the backup has made no progress for half the timeout (again after it moved).
  onSlow: (idleMs: number) => void;
  // Told once when it has made no progress for the whole timeout; the watch then stops.
  onStall: (idleMs: number) => void;
  now?: () => number;
}

export interface StallWatch {
  stop(): void;
}

export function watchForStall(options: StallWatchOptions): StallWatch {
  const now = options.now ?? Date.now;
  let last = options.progress();
  let lastAt = now();
  let warned = false;
  // Sampling at a tenth of the timeout (at most every 5 s) keeps the overshoot small.
  const interval = Math.max(10, Math.min(5_000, options.timeoutMs / 10));
  const timer = setInterval(() => {
    const at = now();
    const current = options.progress();
    if (current !== last) {
      last = current;
      lastAt = at;
      warned = false;
      return;
    }
    const verdict = judgeStall(lastAt, at, options.timeoutMs);
    if (verdict === 'stalled') {
      clearInterval(timer);
      options.onStall(at - lastAt);
    } else if (verdict === 'slow' && !warned) {
      warned = true;
      options.onSlow(at - lastAt);
    }
  }, interval);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
