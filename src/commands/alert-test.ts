import { createNotifiers, messageContext } from '../alerts/create-alert-service.ts';
import { dispatchMessage, realSleep } from '../alerts/dispatcher.ts';
import { formatTestMessage } from '../alerts/format-message.ts';
import { createStore } from '../storage/create-store.ts';
import { defineCommand } from './command.ts';

// `backup-sentinel alert-test`: one test message through every configured channel, each result
// printed; exit 1 when any channel failed or none is configured.
export const alertTestCommand = defineCommand({
  name: 'alert-test',
  summary: 'send a test alert through every configured channel (Slack, e-mail, ALERT_URLS)',
  options: {},
  async run(_values, ctx) {
    const notifiers = createNotifiers(ctx.config.alerts);
    if (notifiers.length === 0) {
      ctx.stderr.write(
        'No alert channel is configured, so alerts go to the logs and metrics only.\n' +
          'Set SLACK_WEBHOOK_URL, SMTP_URL (or SMTP_HOST) with ALERT_EMAIL_TO, and/or ALERT_URLS, then run alert-test again.\n',
      );
      return 1;
    }
    // No storage I/O: the store only gives its description for the message footer.
    const context = messageContext(ctx.config, createStore(ctx.config));
    const message = formatTestMessage(context, new Date());
    ctx.stdout.write(`Sending "${message.subject}" through ${notifiers.length} channel${notifiers.length === 1 ? '' : 's'}...\n`);
    const results = await dispatchMessage(message, notifiers, {
      retry: { attempts: 2, baseDelayMs: 1_000, maxDelayMs: 5_000 },
      sleep: realSleep,
      signal: ctx.stopSignal,
      logger: ctx.logger.child({ component: 'alert-test' }),
    });
    for (const r of results) {
      if (r.outcome === 'sent') {
        ctx.stdout.write(`  ok      ${r.channel}: sent (${r.description})\n`);
        continue;
      }
      const why = r.outcome === 'rejected' ? 'refused, not retried' : r.outcome === 'cancelled' ? 'stopped before it was sent' : `failed after ${r.attempts} tries`;
      ctx.stdout.write(`  FAILED  ${r.channel}: ${why}: ${r.error?.shortMessage ?? 'unknown error'}\n`);
      if (r.error?.hint !== undefined) ctx.stdout.write(`          What to do: ${r.error.hint}\n`);
    }
    const failed = results.filter((r) => r.outcome !== 'sent').length;
    ctx.stdout.write(failed === 0 ? 'Every channel works.\n' : `${failed} of ${results.length} channels failed.\n`);
    return failed === 0 ? 0 : 1;
  },
});
