// `npm run demo`: the newcomer's tour of backup-sentinel. Starts a throwaway PostgreSQL cluster with
// sample data and an in-process S3 server (or, with --dir, local storage in .demo/backups), runs the
// service with one backup at start, then prints the URLs, the stored backups, the health verdict and
// what an alert would say. Ctrl-C (at any point, start-up included) stops the service, the S3 server and
// the cluster and removes their temp dirs. `--help` lists the flags.
//
// The flags are read before the demo's code is loaded (scripts/demo-run.ts: the service, the S3 server,
// the cluster helpers), so `--help` and a wrong flag answer at once.
import { DEMO_HELP, parseDemoArgs } from './demo-args.ts';

const parsed = parseDemoArgs(process.argv.slice(2));
if ('error' in parsed) {
  process.stderr.write(`${parsed.error}\n\n${DEMO_HELP}`);
  process.exit(64);
}
if (parsed.options.help) {
  process.stdout.write(DEMO_HELP);
  process.exit(0);
}
const { runDemo } = await import('./demo-run.ts');
await runDemo(parsed.options);
