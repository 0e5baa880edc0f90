import { waitFor } from './wait-for.ts';

// For tests of a stop during a storage outage whose requests hang: the SDK waits out each attempt's
// socket timeout (OUTAGE_ATTEMPT_TIMEOUT_MS, given to the store under test) and tries again. Calls stop()
// and says which came first: stop() resolving, or the client's next attempt (`retried`). Nothing depends
// on how fast the machine is: without the abort signal stop() resolves only after that attempt.
export const OUTAGE_ATTEMPT_TIMEOUT_MS = 5_000;

export async function stopOrRetry(service: { stop(): Promise<void> }, retried: () => boolean): Promise<'stopped' | 'retried'> {
  let stopped = false;
  const stopping = service.stop().then(() => {
    stopped = true;
  });
  const first = await waitFor(() => (stopped ? 'stopped' : retried() ? 'retried' : undefined), 'stop() to resolve or the SDK to try again', { timeoutMs: 10 * OUTAGE_ATTEMPT_TIMEOUT_MS });
  // Without the fix stop() still resolves, once the retries are over: not left running past the test.
  await stopping;
  return first;
}
