import { BackupCatalog, compareBackups, type BackupObject, type CatalogListing } from '../core/backup-catalog.ts';
import { parsePieceKey } from '../core/naming.ts';
import type { BackupStore } from '../storage/store.ts';

// What the monitor knows about the backups in storage, kept up to date cheaply.
//
// Keys sort chronologically, so after one full listing each check lists only the keys after the last
// one seen (S3 StartAfter): one request when nothing or fewer than 1,000 objects are new, whatever the
// bucket holds. Only a bounded window of recent backups is kept (for the size median and /status) plus
// counters. The cost: an incremental listing does not see deletions, nor an object written under a key
// that sorts before the last one (an overwritten fixed name, or another tool's naming interleaving with
// ours). So a full listing is repeated every `fullListingIntervalMs` (default daily), and at every check
// while the prefix holds no more than `fullListingMaxObjects` (default 1,000: one S3 page, as cheap as an
// incremental listing).

export interface InventorySnapshot {
  // Backups under the prefix (manifests and other auxiliary objects not counted).
  count: number;
  totalBytes: number;
  newest: BackupObject | undefined;
  oldest: BackupObject | undefined;
  // The most recent backups, oldest first, at most `windowSize`.
  recent: readonly BackupObject[];
  // When the last successful listing finished, and the last full one.
  listedAt: Date | undefined;
  fullListingAt: Date | undefined;
}

export interface InventoryOptions {
  store: BackupStore;
  // keyPrefix(location): folder + file prefix.
  prefix: string;
  // Recent backups to keep: at least SIZE_WINDOW + 1.
  windowSize: number;
  fullListingIntervalMs?: number;
  fullListingMaxObjects?: number;
}

export interface RefreshResult {
  mode: 'full' | 'incremental';
  // Objects the storage returned in this listing.
  listed: number;
}

const DAY_MS = 86_400_000;

// Keeps the recent-backup window and counters for one prefix; refresh() is the only I/O.
export class BackupInventory {
  private readonly options: Required<InventoryOptions>;
  private readonly catalog: BackupCatalog;
  private count = 0;
  private totalBytes = 0;
  private objectCount = 0;
  private newest: BackupObject | undefined;
  private oldest: BackupObject | undefined;
  private recent: BackupObject[] = [];
  private lastKey: string | undefined;
  private listedAt: Date | undefined;
  private fullListingAt: Date | undefined;
  // A split backup's first object is completed after its other pieces and sorts before them, so an
  // incremental listing started after a piece would never see it: list fully while pieces wait for it.
  // Only pieces newer than the newest whole backup can still be waiting: older ones were left by a failed
  // run (one backup of a prefix runs at a time), are removed by retention, and must not make every check
  // list the whole prefix until then.
  private piecesWithoutBackup = false;

  constructor(options: InventoryOptions) {
    this.options = {
      fullListingIntervalMs: DAY_MS,
      fullListingMaxObjects: 1000,
      ...options,
      windowSize: Math.max(1, options.windowSize),
    };
    this.catalog = new BackupCatalog(options.store, options.prefix);
  }

  // Whether the next refresh at `now` lists everything.
  needsFullListing(now: Date): boolean {
    if (this.fullListingAt === undefined || this.lastKey === undefined || this.piecesWithoutBackup) return true;
    if (this.objectCount <= this.options.fullListingMaxObjects) return true;
    return now.getTime() - this.fullListingAt.getTime() >= this.options.fullListingIntervalMs;
  }

  // Lists the storage (fully or from the last key) and updates the state; throws the store's
  // StorageError and leaves the state untouched on failure (signal aborted: StorageError Aborted).
  async refresh(now: Date, signal?: AbortSignal): Promise<RefreshResult> {
    const stop = signal === undefined ? {} : { signal };
    if (this.needsFullListing(now)) {
      const listing = await this.catalog.list(stop);
      this.reset();
      this.add(listing);
      this.fullListingAt = now;
      this.listedAt = now;
      return { mode: 'full', listed: listing.objects.length };
    }
    const listing = await this.catalog.list(this.lastKey === undefined ? stop : { ...stop, startAfter: this.lastKey });
    this.add(listing);
    this.listedAt = now;
    return { mode: 'incremental', listed: listing.objects.length };
  }

  snapshot(): InventorySnapshot {
    return {
      count: this.count,
      totalBytes: this.totalBytes,
      newest: this.newest,
      oldest: this.oldest,
      recent: [...this.recent],
      listedAt: this.listedAt,
      fullListingAt: this.fullListingAt,
    };
  }

  private reset(): void {
    this.count = 0;
    this.totalBytes = 0;
    this.objectCount = 0;
    this.newest = undefined;
    this.oldest = undefined;
    this.recent = [];
    this.lastKey = undefined;
    this.piecesWithoutBackup = false;
  }

  private add({ objects, backups: added, orphanPieces }: CatalogListing): void {
    // The store returns keys in S3 order (UTF-8 bytes, ascending): the last one is where to start next.
    const last = objects.at(-1);
    if (last !== undefined) this.lastKey = last.key;
    this.objectCount += objects.length;
    for (const backup of added) {
      this.count += 1;
      this.totalBytes += backup.size;
      if (this.newest === undefined || compareBackups(backup, this.newest) > 0) this.newest = backup;
      if (this.oldest === undefined || compareBackups(backup, this.oldest) < 0) this.oldest = backup;
    }
    const newestKey = this.newest?.key;
    if (orphanPieces.some((piece) => newestKey === undefined || (parsePieceKey(piece.key)?.backupKey ?? piece.key) > newestKey)) this.piecesWithoutBackup = true;
    if (added.length === 0) return;
    // Only the tail can enter the window (the catalog gives what is new oldest first): keep its last
    // windowSize, merge.
    const merged = [...this.recent, ...added.slice(-this.options.windowSize)].sort(compareBackups);
    this.recent = merged.slice(-this.options.windowSize);
  }
}
