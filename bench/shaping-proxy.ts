import net from 'node:net';
import type { AddressInfo } from 'node:net';

// A TCP proxy that makes loopback look like a network: every byte is delayed by `oneWayDelayMs` in
// each direction (so a request and its response take 2 × that longer: the added round trip) and each
// connection carries at most `bytesPerSecond` in each direction (a token-free delay line: a chunk
// leaves at max(its arrival + delay, the moment the previous chunk finished leaving) and occupies the
// link for size / bandwidth). TCP's own window is not modelled: the proxy buffers up to
// MAX_QUEUED_BYTES per direction, then pauses the sender (backpressure), which is at least the
// bandwidth-delay product at the rates the benchmark uses (50 MB/s × 15 ms = 0.75 MB).

export interface ShapingProxy {
  port: number;
  endpoint: string;
  close(): Promise<void>;
}

export interface Shape {
  oneWayDelayMs: number;
  bytesPerSecond: number;
}

const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

function shapeDirection(from: net.Socket, to: net.Socket, shape: Shape): void {
  const queue: { chunk: Buffer; at: number }[] = [];
  let queued = 0;
  let linkFreeAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const pump = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.at ?? Infinity) <= now) {
      const item = queue.shift() as { chunk: Buffer; at: number };
      queued -= item.chunk.length;
      to.write(item.chunk);
    }
    if (queued < MAX_QUEUED_BYTES && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(pump, Math.max(0, (queue[0]?.at ?? now) - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    const now = performance.now();
    const start = Math.max(now + shape.oneWayDelayMs, linkFreeAt);
    linkFreeAt = start + (chunk.length / shape.bytesPerSecond) * 1000;
    // The chunk has fully arrived when its last byte has crossed the link.
    queue.push({ chunk, at: linkFreeAt });
    queued += chunk.length;
    if (queued >= MAX_QUEUED_BYTES) from.pause();
    timer ??= setTimeout(pump, Math.max(0, (queue[0]?.at ?? now) - now));
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && timer === undefined) to.end();
  });
}

export async function startShapingProxy(target: { host: string; port: number }, shape: Shape): Promise<ShapingProxy> {
  const sockets = new Set<net.Socket>();
  // Half-open: an end in one direction is passed on after that direction's delayed bytes.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ port: target.port, host: target.host, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    shapeDirection(client, upstream, shape);
    shapeDirection(upstream, client, shape);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
