import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Location } from '../config/types.ts';
import { formatTimestamp, RESERVED_FOLDER } from '../core/naming.ts';
import type { BackupStore } from '../storage/store.ts';
import type { DrillResult } from './drill.ts';
import { verifyVerdict, type VerifyResult } from './verify.ts';

// A receipt per verification and drill, kept beside the backups in `[subfolder/].backup-sentinel/receipts/`:
// evidence, read from the storage itself, that the backups were checked and restored (audits ask for it).
// The newest RECEIPTS_KEPT stay; older ones are removed when a new one is written.

const RECEIPT_VERSION = 1;
const RECEIPTS_KEPT = 400;

export interface Receipt {
  version: typeof RECEIPT_VERSION;
  kind: 'verify' | 'drill';
  // ok: readable (verify) or restored (drill); failed; nothing: there was no backup to check.
  result: 'ok' | 'failed' | 'nothing';
  key: string | null;
  // The sha256 the stored bytes matched (verify, with a manifest).
  sha256: string | null;
  checkedAt: string;
  durationMs: number;
  tables: number;
  rows: number;
  problems: string[];
}

export function receiptsFolder(location: Pick<Location, 'subfolder'>): string {
  return `${location.subfolder ? `${location.subfolder}/` : ''}${RESERVED_FOLDER}receipts/`;
}

export function verifyReceipt(result: VerifyResult): Receipt {
  const verdict = verifyVerdict(result);
  return {
    version: RECEIPT_VERSION,
    kind: 'verify',
    result: verdict === 'intact' ? 'ok' : verdict === 'nothing' ? 'nothing' : 'failed',
    key: result.key ?? null,
    sha256: result.sha256 ?? null,
    checkedAt: result.checkedAt.toISOString(),
    durationMs: result.durationMs,
    tables: result.tables.length,
    rows: result.rows,
    problems: result.problems.map((p) => p.message),
  };
}

export function drillReceipt(result: DrillResult): Receipt {
  return {
    version: RECEIPT_VERSION,
    kind: 'drill',
    result: result.noBackup ? 'nothing' : result.ok ? 'ok' : 'failed',
    key: result.key ?? null,
    sha256: null,
    checkedAt: result.checkedAt.toISOString(),
    durationMs: result.durationMs,
    tables: result.tables,
    rows: result.rows,
    problems: result.problems,
  };
}

// Keys sort by time: `<folder>YYYY-MM-DD_HH-MM-SS.mmm-<kind>-<random>.json` (two checks within one
// millisecond, e.g. by two commands, still get a receipt each).
function receiptKey(folder: string, receipt: Receipt): string {
  const at = new Date(receipt.checkedAt);
  return `${folder}${formatTimestamp(at)}.${String(at.getUTCMilliseconds()).padStart(3, '0')}-${receipt.kind}-${randomBytes(3).toString('hex')}.json`;
}

export async function writeReceipt(store: BackupStore, folder: string, receipt: Receipt): Promise<string> {
  const key = receiptKey(folder, receipt);
  await store.put(key, Readable.from([Buffer.from(`${JSON.stringify(receipt, null, 2)}\n`)]), { contentType: 'application/json' });
  const keys = (await store.list(folder)).map((o) => o.key).filter((k) => k.endsWith('.json')).sort();
  const old = keys.slice(0, Math.max(0, keys.length - RECEIPTS_KEPT));
  if (old.length > 0) await store.delete(old);
  return key;
}

// The newest `limit` receipts, newest first; one that cannot be read or parsed is left out.
export async function readReceipts(store: BackupStore, folder: string, limit: number): Promise<Receipt[]> {
  const keys = (await store.list(folder)).map((o) => o.key).filter((k) => k.endsWith('.json')).sort().reverse().slice(0, limit);
  const receipts = await Promise.all(
    keys.map(async (key) => {
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Receipt;
        return parsed.version === RECEIPT_VERSION ? parsed : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return receipts.filter((r): r is Receipt => r !== undefined);
}
