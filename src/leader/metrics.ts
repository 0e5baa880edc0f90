import type { Registry } from 'prom-client';
import { registerStateGauge } from '../util/state-gauge.ts';
import type { Leadership } from './leader-lease.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';

// backup_sentinel_leader: 1 on the instance that sends alerts and runs retention and verification.
// sum(backup_sentinel_leader) should be 1: 0 means nobody alerts, 2 means two leaders.
export function registerLeaderMetrics(registry: Registry, leadership: Pick<Leadership, 'isLeader'>): void {
  registerStateGauge(
    registry,
    `${METRIC_PREFIX}leader`,
    'Whether this instance holds the leader lease (sends alerts, runs retention and verification): 1 or 0',
    () => (leadership.isLeader() ? 1 : 0),
  );
}
