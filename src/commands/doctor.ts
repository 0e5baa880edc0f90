import { doctorExitCode, formatChecklist } from '../doctor/checklist.ts';
import { runDoctor } from '../doctor/run-doctor.ts';
import { createDestinations } from '../destinations/destination.ts';
import { defineCommand } from './command.ts';

// `backup-sentinel doctor`: checks configuration, database, storage and alert channels and prints a
// checklist with what to do for each failure; exit 0 when nothing failed, 1 otherwise. With backup sets
// and several destinations, each set's database(s) and each destination (in each set's folder).
export const doctorCommand = defineCommand({
  name: 'doctor',
  usage: '[--send]',
  summary: 'check configuration, database, storage and alert channels, with what to do for each failure (exit 0 all pass, 1 otherwise)',
  options: { send: { type: 'boolean', description: 'deliver a test message through each alert channel (else they are only listed)' } },
  async run(values, ctx) {
    const destinations = createDestinations(ctx.config, {}, ctx.logger);
    ctx.stdout.write('backup-sentinel doctor\n\n');
    const checks = await runDoctor({ config: ctx.config, destinations, logger: ctx.logger.child({ component: 'doctor' }), send: values.send === true, signal: ctx.stopSignal, now: () => new Date() });
    ctx.stdout.write(formatChecklist(checks));
    return doctorExitCode(checks);
  },
});
