// Builds (or just checks) the cached benchmark database: `tsx bench/build-db.ts`.
import path from 'node:path';
import { startBenchCluster } from './pg-cache.ts';

const cluster = await startBenchCluster(path.resolve(import.meta.dirname, '..', '.bench-cache'), (l) => console.log(l));
console.log(await cluster.psql("SELECT pg_size_pretty(pg_database_size('bench')), (SELECT count(*) FROM events)", 'bench'));
await cluster.stop();
