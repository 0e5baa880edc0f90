import type { Server } from 'node:http';
import type Koa from 'koa';
import { shortMessageOf, StartupError } from '../errors.ts';

// Starts listening; a port that cannot be bound is a StartupError naming PORT and what to do.
export async function listenHttp(app: Koa, port: number, host: string): Promise<Server> {
  return await new Promise<Server>((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', (error: NodeJS.ErrnoException) => {
      server.close();
      reject(toStartupError(error, port, host));
    });
  });
}

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
