import type { ClientConfig } from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';
import type { PgUrlParts } from './pg-url.ts';

// The node-pg settings for parts parsed by parsePgUrl: host, port, user, password and database as
// explicit fields (node-pg's own URL parsing decodes a database name differently from libpq), the
// other query parameters (sslmode, application_name, options, ...) through node-pg's parser so they
// mean what they meant when the whole URL was handed to it.
export function pgClientConfig(parts: PgUrlParts, password: string | undefined, extra: ClientConfig = {}): ClientConfig {
  const query = new URLSearchParams(parts.params.map(([k, v]): [string, string] => [k, v])).toString();
  const fromParams = toClientConfig(parse(`postgres://localhost/${query === '' ? '' : `?${query}`}`));
  return {
    ...fromParams,
    ...extra,
    host: parts.host,
    port: parts.port,
    user: parts.user,
    ...(password === undefined ? {} : { password }),
    database: parts.database,
  };
}
