import { runStartupChecks } from '../doctor/run-doctor.ts';
import { startSentinel } from '../main.ts';
import { runSingleBackup } from './backup.ts';
import { defineCommand } from './command.ts';

// `backup-sentinel serve` (the default): the backup schedule plus the HTTP server until SIGINT/SIGTERM.
// With SINGLE_SHOT_MODE it takes one backup and exits with its code instead.
export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'run the service: backups on BACKUP_CRON_SCHEDULE (in CRON_TZ, default UTC) and the HTTP server (default)',
  options: {},
  async run(_values, ctx) {
    if (ctx.config.backup?.singleShot) {
      ctx.logger.info('SINGLE_SHOT_MODE: taking one backup, then exiting');
      return await runSingleBackup(ctx);
    }
    const sentinel = await startSentinel({ config: ctx.config, logger: ctx.logger, signal: ctx.stopSignal });
    // doctor's storage probe and database reachability, logged; never fatal (see runStartupChecks).
    const startupChecks = runStartupChecks({ config: ctx.config, store: sentinel.store, logger: ctx.logger, signal: ctx.stopSignal });
    if (!ctx.stopSignal.aborted) {
      await new Promise<void>((resolve) => ctx.stopSignal.addEventListener('abort', () => resolve(), { once: true }));
    }
    await startupChecks;
    await sentinel.stop();
    return 0;
  },
});
