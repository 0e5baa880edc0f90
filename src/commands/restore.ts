import { parseArgs } from 'node:util';
import { keyPrefix } from '../backup/naming.ts';
import { Secret } from '../config/secret.ts';
import { BackupCatalog } from '../core/backup-catalog.ts';
import { RestoreError, SentinelError } from '../errors.ts';
import { decryptFactoryOf } from '../restore/build-verify-service.ts';
import { findPgTools } from '../restore/pg-tools.ts';
import { restoreBackup, type RestoreProgress } from '../restore/restore.ts';
import { parseTargetUrl } from '../restore/target.ts';
import { createStore } from '../storage/create-store.ts';
import { formatBytes, formatDuration } from '../util/format.ts';
import type { Command } from './command.ts';
import { printableKey } from '../util/printable-key.ts';

const USAGE = 'restore [--key KEY | --latest] --target-url URL [--clean] [--create] [--jobs N] [--no-owner]';

// `backup-sentinel restore`: streams one backup into a database. Exit codes: 0 restored, 1 failed
// (nothing committed, except a failed --jobs restore, which says so), 64 bad arguments.
export const restoreCommand: Command = {
  name: 'restore',
  usage: USAGE,
  summary: 'restore a backup into a database (sha256-checked, all-or-nothing)',
  async run(args, ctx) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: {
          key: { type: 'string' },
          latest: { type: 'boolean' },
          'target-url': { type: 'string' },
          clean: { type: 'boolean' },
          create: { type: 'boolean' },
          jobs: { type: 'string' },
          'no-owner': { type: 'boolean' },
        },
      }));
    } catch (error) {
      ctx.stderr.write(`${(error as Error).message}\nUsage: backup-sentinel ${USAGE}\n`);
      return 64;
    }
    const usage = (problem: string) => {
      ctx.stderr.write(`${problem}\nUsage: backup-sentinel ${USAGE}\n`);
      return 64;
    };
    if (values.key !== undefined && values.latest) return usage('Give --key KEY or --latest, not both.');
    const url = values['target-url'] ?? ctx.config.verify.restoreTargetUrl?.reveal();
    if (url === undefined || url.trim() === '') {
      return usage('--target-url is required: the database to restore into, e.g. --target-url postgres://user@host:5432/newdb (password from PGPASSWORD or ~/.pgpass, or set RESTORE_TARGET_URL instead so it does not show in ps).');
    }
    const jobs = values.jobs === undefined ? 1 : Number(values.jobs);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) return usage(`--jobs expects a whole number from 1 to 64, got ${JSON.stringify(values.jobs)}.`);
    const { config } = ctx;
    try {
      const target = parseTargetUrl(new Secret(url.trim()), values['target-url'] !== undefined ? '--target-url' : 'RESTORE_TARGET_URL', process.env.PGPASSWORD);
      if (values['target-url'] !== undefined && /^[^:]+:\/\/[^/@]*:[^/@]*@/.test(url)) {
        ctx.stderr.write('Note: the password in --target-url is visible to other users in `ps` while this runs; prefer PGPASSWORD, ~/.pgpass or RESTORE_TARGET_URL.\n');
      }
      const store = createStore(config);
      const prefix = keyPrefix(config.location);
      let key = values.key;
      if (key === undefined) {
        key = (await new BackupCatalog(store, prefix).newest())?.key;
        if (key === undefined) {
          throw new RestoreError(`no backups under "${prefix}" in ${store.description}`, { hint: 'check AWS_S3_BUCKET / BACKUP_DIR, BUCKET_SUBFOLDER and BACKUP_FILE_PREFIX; `backup-sentinel list` shows what is there' });
        }
        ctx.stderr.write(`Newest backup: ${printableKey(key)}\n`);
      }
      const controller = new AbortController();
      const onStop = () => controller.abort();
      ctx.stopSignal.addEventListener('abort', onStop, { once: true });
      try {
        const summary = await restoreBackup({
          store,
          key,
          prefix,
          target,
          clean: values.clean === true,
          create: values.create === true,
          jobs,
          noOwner: values['no-owner'] === true,
          decrypt: decryptFactoryOf(config),
          tools: findPgTools(config.backup?.pgDumpPath),
          logger: ctx.logger,
          onProgress: (p) => ctx.stderr.write(`${describeProgress(key ?? '', p)}\n`),
          signal: controller.signal,
        });
        // The format is known only once the backup was read (manifest, name, or its first bytes).
        if (jobs > 1 && summary.format !== 'custom') ctx.stderr.write(`--jobs only applies to custom-format archives; ${summary.key} is ${summary.format}: restored in one stream.\n`);
        ctx.stdout.write(
          `Restored ${printableKey(summary.key)} into ${summary.target}\n` +
            `  ${summary.tables} tables, ${summary.rowsEstimated ? 'about ' : ''}${summary.rows} rows, ${formatBytes(summary.storedBytes)} read in ${formatDuration(summary.durationMs)}\n` +
            `  ${summary.sha256Checked ? `sha256 verified (${summary.sha256})` : `sha256 NOT verified: the backup has no manifest (its sha256 is ${summary.sha256})`}\n`,
        );
        return 0;
      } finally {
        ctx.stopSignal.removeEventListener('abort', onStop);
      }
    } catch (error) {
      ctx.stderr.write(`Restore failed: ${error instanceof SentinelError ? error.message : error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  },
};

function describeProgress(key: string, p: RestoreProgress): string {
  const of = p.totalBytes === undefined ? '' : ` of ${formatBytes(p.totalBytes)}`;
  const percent = p.percent === undefined ? '' : ` (${p.percent.toFixed(p.percent >= 10 ? 0 : 1)}%)`;
  return `restoring ${printableKey(key)}: ${formatBytes(p.bytes)}${of}${percent}, ${formatDuration(p.elapsedMs)} elapsed`;
}
