import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { AlertService } from '../../src/alerts/alert-service.ts';
import type { RetryPolicy } from '../../src/alerts/dispatcher.ts';
import type { Notifier } from '../../src/alerts/notifier.ts';
import { BackupStoreAlertState } from '../../src/alerts/state-store.ts';
import type { Logger } from '../../src/logger.ts';
import type { CheckName, Finding, Severity } from '../../src/core/findings.ts';
import type { BackupStore } from '../../src/storage/store.ts';
import { AlertDeliveryError } from '../../src/errors.ts';

// The checks one monitor run speaks for.
export { MONITOR_CHECKS } from '../../src/monitor/checks.ts';

const T0 = new Date('2026-11-27T03:00:00Z');
export const at = (hours: number): Date => new Date(T0.getTime() + hours * 3_600_000);

export function finding(check: CheckName, severity: Severity = 'fail', summary = `${check} problem`): Finding {
  return { check, severity, summary, values: { ageHours: 27, limitHours: 25 }, hint: `fix the ${check}` };
}

export const staleFinding: Finding = {
  check: 'stale',
  severity: 'fail',
  summary: 'no new backup for 27 h',
  values: { ageHours: 27, limitHours: 25 },
  hint: 'look at the backup job',
};

export interface ServiceFixture {
  service: AlertService;
  registry: Registry;
  // Waits the dispatcher asked for (the injected sleep returns at once).
  sleeps: number[];
}

export function makeService(options: {
  store: BackupStore;
  subfolder?: string;
  notifiers: Notifier[];
  logger: Logger;
  retry?: Partial<RetryPolicy>;
  registry?: Registry;
}): ServiceFixture {
  const registry = options.registry ?? new Registry();
  const sleeps: number[] = [];
  const service = new AlertService({
    context: { name: 'vlvt-backups', where: `${options.store.description}/backup-`, runbookUrl: 'https://example.test/RUNBOOK.md' },
    repeatHours: 24,
    notifiers: options.notifiers,
    stateStore: new BackupStoreAlertState(options.store, options.subfolder ?? ''),
    logger: options.logger,
    registry,
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { service, registry, sleeps };
}

// backup_sentinel_notifications_total as { "slack sent": 2, ... } (zero series left out).
export async function notificationCounts(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('backup_sentinel_notifications_total');
  if (metric === undefined) return {};
  const data = await metric.get();
  const counts: Record<string, number> = {};
  for (const v of data.values) if (v.value > 0) counts[`${String(v.labels.channel)} ${String(v.labels.result)}`] = v.value;
  return counts;
}

// The AlertDeliveryError a send rejects with (fails the test when it resolves or throws something else).
export async function rejection(promise: Promise<unknown>): Promise<AlertDeliveryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AlertDeliveryError, `expected AlertDeliveryError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the delivery to fail');
}
