import type { Readable } from 'node:stream';
import { waitFor } from './wait-for.ts';

// The port a spawned `serve` bound when started with PORT=0, read from its "HTTP server listening on
// host:port" log line (LOG_LEVEL info or lower). The OS picks a free port at bind time, so no other
// process can take it between the test choosing it and the service binding it, as with freePort().
export async function listeningPort(child: { all?: Readable | null }, timeoutMs = 30_000): Promise<number> {
  let text = '';
  child.all?.on('data', (chunk: Buffer | string) => (text += chunk.toString()));
  return await waitFor(() => Number(/HTTP server listening on \S*:(\d+) \(/.exec(text)?.[1] ?? 0) || undefined, 'the "HTTP server listening" log line', {
    timeoutMs,
  });
}
