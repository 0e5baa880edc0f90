import type { Server } from 'node:http';
import type Koa from 'koa';
import { shortMessageOf, StartupError } from '../errors.ts';

// Where the HTTP server listens when neither HOST nor the caller names an address: "::" accepts IPv6
// and (dual-stack, Linux' default) IPv4 connections, so a private network that resolves service names
// to IPv6 only (Railway's *.railway.internal in environments created before October 2025) reaches
// /metrics as well as an IPv4 one; a host without IPv6 falls back to 0.0.0.0.
const DUAL_STACK_HOST = '::';
const IPV4_ANY_HOST = '0.0.0.0';

// Errors that mean "this host has no IPv6", not "the port is taken".
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

export interface Listening {
  server: Server;
  host: string;
  port: number;
}

export async function listenHttp(app: Koa, port: number, host: string | undefined): Promise<Listening> {
  if (host !== undefined) {
    return await listenOn(app, port, host).catch((error: unknown) => {
      throw toStartupError(error as NodeJS.ErrnoException, port, host);
    });
  }
  try {
    return await listenOn(app, port, DUAL_STACK_HOST);
  } catch (error) {
    if (!NO_IPV6.has((error as NodeJS.ErrnoException).code ?? '')) throw toStartupError(error as NodeJS.ErrnoException, port, DUAL_STACK_HOST);
    return await listenOn(app, port, IPV4_ANY_HOST).catch((ipv4Error: unknown) => {
      throw toStartupError(ipv4Error as NodeJS.ErrnoException, port, IPV4_ANY_HOST);
    });
  }
}

async function listenOn(app: Koa, port: number, host: string): Promise<Listening> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  const address = server.address();
  return { server, host, port: typeof address === 'object' && address !== null ? address.port : port };
}

// A port that cannot be bound is a StartupError naming PORT and what to do.
function toStartupError(error: NodeJS.ErrnoException, port: number, host: string): StartupError {
  if (error.code === 'EADDRINUSE') {
    return new StartupError(`backup-sentinel could not start: PORT ${port} is already in use on ${host}`, {
      cause: error,
      hint: 'stop the other process listening there (often a second copy of this service) or set PORT to a free port',
    });
  }
  if (error.code === 'EACCES') {
    return new StartupError(`backup-sentinel could not start: PORT ${port} on ${host} needs privileges this process does not have`, {
      cause: error,
      hint: 'set PORT to a port above 1023',
    });
  }
  return new StartupError(`backup-sentinel could not start: the HTTP server on PORT ${port} (${host}) failed: ${shortMessageOf(error)}`, {
    cause: error,
    hint: 'check PORT and that the host address exists on this machine',
  });
}
