import { keyPrefix } from '../core/naming.ts';
import { decryptFactoryOf } from '../restore/build-verify-service.ts';
import { runDrill } from '../restore/drill.ts';
import { findPgTools } from '../restore/pg-tools.ts';
import { parseTargetUrl } from '../restore/target.ts';
import { drillReceipt, readReceipts, receiptsFolder, verifyReceipt, writeReceipt, type Receipt } from '../restore/receipts.ts';
import { verifyBackup } from '../restore/verify.ts';
import type { BackupStore } from '../storage/store.ts';
import type { Writable } from 'node:stream';
import { createDestinations } from '../destinations/destination.ts';
import { setDestinationsAmong } from '../destinations/set-destinations.ts';
import { DESTINATION_OPTION, destinationsOfSetText, pickDestination } from '../destinations/pick-destination.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import { defineCommand, UsageError } from './command.ts';
import { configForCommand, locationForCommand, SET_OPTION } from './set-option.ts';
import { printableKey } from '../util/printable-key.ts';

// `backup-sentinel verify`: checks one backup now (default: the newest); --drill also restores it into
// a temporary database on VERIFY_RESTORE_URL. Exit codes: 0 no problem, 1 problems (each named), 64 bad arguments.
export const verifyCommand = defineCommand({
  name: 'verify',
  usage: '[--key KEY | --set NAME] [--destination NAME] [--drill] | --history',
  summary: 'check a backup: sha256, decompression, dump structure, vanished tables (--drill: restore it)',
  options: {
    key: { type: 'string', valueName: 'KEY', description: 'the backup to check, as `list` prints it (default: the newest)' },
    drill: { type: 'boolean', description: 'also restore it into a temporary database on VERIFY_RESTORE_URL' },
    history: { type: 'boolean', description: 'list the receipts the latest verifications and drills left in the storage, newest first' },
    set: SET_OPTION,
    destination: DESTINATION_OPTION,
  },
  async run(values, ctx) {
    // SENTINEL_CONFIG: the set's own database (drills) and encryption.
    const config = values.set === undefined ? ctx.config : configForCommand(ctx.config, values.set, 'verify');
    if (values.drill && config.verify.restoreUrl === undefined) {
      throw new UsageError('--drill needs VERIFY_RESTORE_URL: a PostgreSQL server where a temporary database may be created and dropped, e.g. postgres://user:password@scratch-host:5432/postgres');
    }
    const out = (line: string) => ctx.stdout.write(`${line}\n`);
    if (values.history && (values.key !== undefined || values.drill)) throw new UsageError('--history lists receipts; give it without --key and --drill.');
    // A --key names its backup wherever it is; the newest is looked for in the set's folder.
    const location = values.history
      ? locationForCommand(ctx.config, values.set, 'verify --history')
      : values.key !== undefined && values.set === undefined
        ? config.location
        : locationForCommand(ctx.config, values.set, 'verify (without --key)');
    const prefix = keyPrefix(location);
    // With several destinations: the one named, or the first whose listing answers (each keeps its own
    // receipts); with --set of SENTINEL_CONFIG, among the destinations that set writes to.
    const configured = createDestinations(ctx.config);
    const destinations = setDestinationsAmong(configured, ctx.config, values.set);
    let store: BackupStore;
    let from: string;
    try {
      const picked = (await pickDestination(destinations, values.destination, async (d) => await d.store.list(values.history ? receiptsFolder(location) : prefix), (line) => ctx.stderr.write(`${line}\n`), destinationsOfSetText(values.set, ctx.config))).destination;
      store = picked.store;
      from = picked.name;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      ctx.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    if (configured.length > 1) ctx.stderr.write(`Reading from destination "${from}" (${store.description})\n`);
    if (values.history) return await printHistory(store, receiptsFolder(location), out);
    const receipts = receiptsFolder(location);
    const tools = findPgTools(config.backup?.pgDumpPath);
    let decrypt;
    try {
      decrypt = decryptFactoryOf(config);
    } catch (error) {
      ctx.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const result = await verifyBackup({ store, prefix, key: values.key, tools, decrypt, logger: ctx.logger });
    if (result.ok) {
      out(
        `OK ${printableKey(result.key ?? '')}: ${result.sha256Checked ? 'sha256 and size match' : 'no manifest to check its sha256 against (not written by backup-sentinel)'}, ${formatBytes(result.storedBytes)} read (${formatBytes(result.scriptBytes)} of SQL), ` +
          `${result.tables.length} tables, ${result.rows} rows, complete dump; ` +
          `${result.comparedWith ? `no table missing compared with ${printableKey(result.comparedWith)}` : 'no previous backup to compare tables with'} (${formatDuration(result.durationMs)})`,
      );
    } else {
      ctx.stderr.write(`FAILED${result.key ? ` ${printableKey(result.key)}` : ''}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}\n`);
      for (const p of result.problems) ctx.stderr.write(`  - [${p.kind}] ${p.message}${p.hint ? `\n    What to do: ${p.hint}` : ''}\n`);
    }
    await keepReceipt(store, receipts, verifyReceipt(result), ctx.stderr);
    let drillOk = true;
    if (values.drill && config.verify.restoreUrl !== undefined) {
      const drill = await runDrill({
        store,
        prefix,
        key: result.key,
        scratch: parseTargetUrl(config.verify.restoreUrl, 'VERIFY_RESTORE_URL'),
        source: config.backup ? parseTargetUrl(config.backup.databaseUrl, 'BACKUP_DATABASE_URL') : undefined,
        tools,
        decrypt,
        logger: ctx.logger,
        signal: ctx.stopSignal,
      });
      drillOk = drill.ok;
      await keepReceipt(store, receipts, drillReceipt(drill), ctx.stderr);
      if (drill.ok) {
        out(`DRILL OK ${printableKey(drill.key ?? '')}: restored in ${formatDuration(drill.restoreMs ?? 0)}, ${drill.tables} tables, ${drill.rows} rows${drill.comparedWithSource ? ', row counts match the source within tolerance' : ''}; temporary database dropped`);
      } else {
        ctx.stderr.write(`DRILL FAILED${drill.key ? ` ${printableKey(drill.key)}` : ''}:\n${drill.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      }
    }
    return result.ok && drillOk ? 0 : 1;
  },
});

// A receipt that cannot be written is said, not fatal: the check itself stands.
async function keepReceipt(store: BackupStore, folder: string, receipt: Receipt, stderr: Writable): Promise<void> {
  try {
    await writeReceipt(store, folder, receipt);
  } catch (error) {
    stderr.write(`Note: the ${receipt.kind} receipt could not be written to ${store.description}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
  }
}

const HISTORY_SHOWN = 30;

async function printHistory(store: BackupStore, folder: string, out: (line: string) => void): Promise<number> {
  const receipts = await readReceipts(store, folder, HISTORY_SHOWN);
  if (receipts.length === 0) {
    out(`No receipts under ${folder} in ${store.description} yet: each verification and drill (scheduled, or \`verify\`) leaves one.`);
    return 0;
  }
  for (const r of receipts) {
    const what = r.result === 'nothing' ? 'no backup to check' : `${r.tables} tables, ${r.rows} rows${r.sha256 ? `, sha256 ${r.sha256.slice(0, 12)}…` : ''}`;
    out(`${r.checkedAt.slice(0, 19).replace('T', ' ')}  ${r.kind.padEnd(6)}  ${r.result.padEnd(7)}  ${printableKey(r.key ?? '-')}  ${what}  (${formatDuration(r.durationMs)})`);
    for (const problem of r.problems) out(`    - ${problem}`);
  }
  return 0;
}
