import schedule from 'node-schedule';

// A cron schedule evaluated in UTC. The callback's failures are the caller's to catch: the service
// wraps every run so that nothing thrown here can crash the process.
export interface CronSchedule {
  nextRunAt(): Date | undefined;
  cancel(): void;
}

export function scheduleCron(cron: string, onTick: () => void): CronSchedule {
  const job = schedule.scheduleJob({ rule: cron, tz: 'Etc/UTC' }, () => onTick());
  if (job === null) throw new Error(`cron expression "${cron}" never fires`);
  return {
    nextRunAt() {
      const next = job.nextInvocation() as unknown as { toDate?: () => Date } | Date | null;
      if (next === null || next === undefined) return undefined;
      return next instanceof Date ? next : (next.toDate?.() ?? new Date(String(next)));
    },
    cancel() {
      job.cancel();
    },
  };
}
