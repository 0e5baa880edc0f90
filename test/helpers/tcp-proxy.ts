import net from 'node:net';

export interface TcpProxy {
  port: number;
  // http://127.0.0.1:<port>, for pointing an S3 client through the proxy.
  endpoint: string;
  // Bytes forwarded client → target and target → client.
  bytesUp: number;
  bytesDown: number;
  // Connections accepted so far, and those open now.
  connectionsAccepted: number;
  readonly openConnections: number;
  // Destroys every open connection (both sides); later connections work again.
  cut(): void;
  // Destroys open connections and every new one at once, until restore() (the endpoint is down).
  down(): void;
  // Stops forwarding bytes on open and new connections (a black hole that keeps sockets open).
  stall(): void;
  // Ends down() and stall().
  restore(): void;
  // Cuts all open connections once bytesUp has grown by this many bytes from now.
  cutAfterUpBytes(bytes: number): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

// A TCP proxy on a free 127.0.0.1 port in front of targetPort, for fault tests (connections cut,
// endpoint down, stalled transfers).
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let isDown = false;
  let isStalled = false;
  let cutAt: number | undefined;

  const destroyAll = (): void => {
    for (const pair of pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    pairs.clear();
  };

  const forward = (from: net.Socket, to: net.Socket, count: (n: number) => void): void => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!isStalled) from.resume();
    });
    from.on('end', () => to.end());
  };

  const proxy: TcpProxy = {
    port: 0,
    endpoint: '',
    bytesUp: 0,
    bytesDown: 0,
    connectionsAccepted: 0,
    get openConnections() {
      return pairs.size;
    },
    cut: destroyAll,
    down() {
      isDown = true;
      destroyAll();
    },
    stall() {
      isStalled = true;
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream.pause();
      }
    },
    restore() {
      isDown = false;
      isStalled = false;
      for (const pair of pairs) {
        pair.client.resume();
        pair.upstream.resume();
      }
    },
    cutAfterUpBytes(bytes) {
      cutAt = proxy.bytesUp + bytes;
    },
    async close() {
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = net.createServer((client) => {
    proxy.connectionsAccepted += 1;
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    forward(client, upstream, (n) => {
      proxy.bytesUp += n;
      if (cutAt !== undefined && proxy.bytesUp >= cutAt) {
        cutAt = undefined;
        setImmediate(destroyAll);
      }
    });
    forward(upstream, client, (n) => {
      proxy.bytesDown += n;
    });
    if (isStalled) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('tcp proxy: no address');
  proxy.port = address.port;
  proxy.endpoint = `http://127.0.0.1:${address.port}`;
  return proxy;
}
