import { describeDelivery, NO_CHANNEL_HINT, sendTestAlert } from '../alerts/send-test-alert.ts';
import { defineCommand } from './command.ts';

// `backup-sentinel alert-test`: one test message through every configured channel, each result
// printed; exit 1 when any channel failed or none is configured.
export const alertTestCommand = defineCommand({
  name: 'alert-test',
  summary: 'send a test alert through every configured channel (Slack, e-mail, ALERT_URLS)',
  options: {},
  async run(_values, ctx) {
    const run = await sendTestAlert(ctx.config, ctx.logger.child({ component: 'alert-test' }), ctx.stopSignal, (subject, channels) => {
      ctx.stdout.write(`Sending "${subject}" through ${channels} channel${channels === 1 ? '' : 's'}...\n`);
    });
    if (run === undefined) {
      ctx.stderr.write(`No alert channel is configured, so alerts go to the logs and metrics only.\n${NO_CHANNEL_HINT.charAt(0).toUpperCase()}${NO_CHANNEL_HINT.slice(1)}, then run alert-test again.\n`);
      return 1;
    }
    for (const r of run.results) {
      const { sent, text, hint } = describeDelivery(r);
      ctx.stdout.write(`  ${sent ? 'ok    ' : 'FAILED'}  ${r.channel}: ${text}\n`);
      if (hint !== undefined) ctx.stdout.write(`          What to do: ${hint}\n`);
    }
    const failed = run.results.filter((r) => r.outcome !== 'sent').length;
    ctx.stdout.write(failed === 0 ? 'Every channel works.\n' : `${failed} of ${run.results.length} channels failed.\n`);
    return failed === 0 ? 0 : 1;
  },
});
