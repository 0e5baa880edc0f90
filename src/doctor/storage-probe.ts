import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { RESERVED_FOLDER } from '../core/naming.ts';
import { shortMessageOf, StorageError } from '../errors.ts';
import { createLifecycleStore } from '../retention/lifecycle.ts';
import type { Config } from '../config/types.ts';
import type { BackupStore } from '../storage/store.ts';
import type { DoctorCheck } from './checklist.ts';

// The storage check of `doctor` (and of `serve` at start): it writes, reads back and deletes a small
// probe object, because a listing alone passes with a read-only token while every upload fails.

// `[subfolder/].backup-sentinel/doctor-probe-<time>-<random>.txt`: in the service's own folder (never
// mistaken for a backup), unique per run so two replicas probing at once do not delete each other's.
function probeKey(subfolder: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return `${subfolder ? `${subfolder}/` : ''}${RESERVED_FOLDER}doctor-probe-${stamp}-${randomBytes(4).toString('hex')}.txt`;
}

const WRITE_HINT =
  'the credentials cannot write to this storage: give the bucket token write access (R2: Object Read & Write on this bucket; AWS: s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on the bucket), or for BACKUP_DIR make the directory writable by this user';

function storageHint(error: unknown, step: 'write' | 'read' | 'delete'): string {
  const code = error instanceof StorageError ? error.code : undefined;
  if (code === 'AccessDenied') {
    if (step === 'write') return WRITE_HINT;
    return `the credentials may write but not ${step} objects: allow ${step === 'read' ? 's3:GetObject (R2: Object Read & Write)' : 's3:DeleteObject (R2: Object Read & Write; retention and the leader lease delete objects too)'}`;
  }
  if (error instanceof StorageError && error.hint !== undefined) return error.hint;
  return 'check AWS_S3_ENDPOINT, AWS_S3_BUCKET and the credentials (or BACKUP_DIR), and that the storage is reachable from here';
}

// Failures of the whole storage, not of one folder: another folder of it would fail the same way.
const STORAGE_WIDE: ReadonlySet<string> = new Set(['Network', 'NoSuchBucket', 'InvalidCredentials']);

const PROBE_NAME = 'storage: write, read back, delete';

// Writes, reads back and deletes one small object; never throws. `signal` stops the upload (a shutdown
// must not wait for a storage that does not answer). `onStorageDown`: told when the write failed for the
// whole storage (unreachable, no such bucket, credentials refused), so other folders need no probe.
export async function probeStorage(store: BackupStore, subfolder: string, now: Date, signal?: AbortSignal, onStorageDown?: (failed: DoctorCheck) => void): Promise<DoctorCheck> {
  const name = PROBE_NAME;
  const key = probeKey(subfolder, now);
  const body = Buffer.from(`backup-sentinel doctor probe ${now.toISOString()} ${randomBytes(8).toString('hex')}\n`);
  try {
    await store.put(key, Readable.from([body]), { contentType: 'text/plain', sizeHint: body.length, ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    const check: DoctorCheck = { name, status: 'fail', summary: `cannot write a probe object to ${store.description}: ${shortMessageOf(error)}`, hint: storageHint(error, 'write') };
    if (error instanceof StorageError && STORAGE_WIDE.has(error.code)) onStorageDown?.(check);
    return check;
  }
  let problem: DoctorCheck | undefined;
  try {
    const read = await buffer(await store.get(key));
    if (!read.equals(body)) problem = { name, status: 'fail', summary: `the probe object read back from ${store.description} differs from what was written (${read.length} bytes instead of ${body.length})`, hint: 'something between this service and the storage changes objects (a proxy, a misconfigured gateway): check AWS_S3_ENDPOINT' };
  } catch (error) {
    problem = { name, status: 'fail', summary: `wrote a probe object to ${store.description} but cannot read it back: ${shortMessageOf(error)}`, hint: storageHint(error, 'read') };
  }
  try {
    await store.delete([key]);
  } catch (error) {
    return problem ?? { name, status: 'fail', summary: `wrote and read a probe object in ${store.description} but cannot delete it (${key}): ${shortMessageOf(error)}`, hint: storageHint(error, 'delete') };
  }
  return problem ?? { name, status: 'ok', summary: `${store.description}: wrote, read back and deleted ${key}` };
}

// With MANAGE_LIFECYCLE=true on S3: can the credentials read the bucket's lifecycle rules? (Writing is
// not tried: it would change the bucket.)
export async function checkLifecycleAccess(config: Pick<Config, 'storage' | 'retention'>): Promise<DoctorCheck | undefined> {
  if (!config.retention.manageLifecycle || config.storage.kind !== 's3' || config.retention.days === 0) return undefined;
  const name = 'storage: lifecycle rules (MANAGE_LIFECYCLE=true)';
  try {
    const rules = await createLifecycleStore(config.storage).read();
    return { name, status: 'ok', summary: `can read the bucket's lifecycle rules (${rules.rules.length} rule${rules.rules.length === 1 ? '' : 's'})` };
  } catch (error) {
    return {
      name,
      status: 'fail',
      summary: `cannot read the bucket's lifecycle rules: ${shortMessageOf(error)}`,
      hint: 'MANAGE_LIFECYCLE=true needs a token allowed to read and write bucket lifecycle rules (R2: Admin Read & Write; AWS: s3:GetLifecycleConfiguration and s3:PutLifecycleConfiguration), or set MANAGE_LIFECYCLE=false and add the rule yourself (docs/retention.md)',
    };
  }
}
