// Polls `probe` until it gives a value (anything but undefined or false) and returns that value, failing
// after timeoutMs with what the test waited for (a function is called then, e.g. to add a log tail).
// Tests wait for a state (a file, a request seen, a lock held, a metric) this way, never for a fixed time. A probe that throws fails the wait at once, unless
// retryErrors says it may fail while the state is not there yet (e.g. a process still starting).
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string | (() => string),
  { timeoutMs = 10_000, intervalMs = 25, retryErrors = false }: { timeoutMs?: number; intervalMs?: number; retryErrors?: boolean } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = retryErrors ? await Promise.resolve().then(probe).catch(() => undefined) : await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
