// Polls `probe` until it gives a value (anything but undefined or false) and returns that value, failing
// after timeoutMs with what the test waited for. Tests wait for a state (a file, a request seen, a lock
// held, a metric) this way, never for a fixed time. A probe that throws fails the wait at once: a probe
// that may fail while the state is not there yet (e.g. a server not listening yet) catches that itself.
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  { timeoutMs = 10_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
