import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { shortMessageOf } from '../errors.ts';
import { parseAlertState, serializeAlertState, type AlertStateStore, type LoadedState, type PersistedAlertState } from './state-store.ts';

const MAX_STATE_BYTES = 1024 * 1024;

// The local copy of the alert state: one JSON file in STATE_DIR, named by the stored state's location
// so deployments (or tests) sharing a directory never read each other's state. It keeps what was sent
// when the storage holding the state is the thing that fails.
export class LocalFileAlertState implements AlertStateStore {
  readonly location: string;
  readonly #file: string;

  constructor(dir: string, storedLocation: string) {
    const id = createHash('sha256').update(storedLocation).digest('hex').slice(0, 16);
    this.#file = path.resolve(dir, `alert-state-${id}.json`);
    this.location = this.#file;
  }

  async load(): Promise<LoadedState> {
    let text: string;
    try {
      const handle = await fs.open(this.#file, 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_STATE_BYTES) return { kind: 'corrupt', reason: `larger than ${MAX_STATE_BYTES} bytes` };
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw error;
    }
    return parseAlertState(text);
  }

  // Written to a temporary file and renamed, so a crash mid-write leaves the previous copy whole.
  async save(state: PersistedAlertState): Promise<void> {
    await fs.mkdir(path.dirname(this.#file), { recursive: true });
    const temporary = `${this.#file}.${process.pid}.tmp`;
    await fs.writeFile(temporary, serializeAlertState(state, new Date()), { mode: 0o600 });
    await fs.rename(temporary, this.#file);
  }
}

// Only the local copy could not be written (STATE_DIR not writable): the stored copy is current.
export class LocalCopyError extends Error {
  constructor(location: string, cause: unknown) {
    super(`local copy ${location} could not be written (${shortMessageOf(cause)}): check that STATE_DIR is a writable directory`, { cause });
    this.name = 'LocalCopyError';
  }
}

// Which of two loaded copies is newer: the higher revision, then the later savedAt; `stored` on a tie.
function newerCopy(local: PersistedAlertState, stored: PersistedAlertState): 'local' | 'stored' {
  if (local.revision !== stored.revision) return local.revision > stored.revision ? 'local' : 'stored';
  return (local.savedAt ?? '') > (stored.savedAt ?? '') ? 'local' : 'stored';
}

// The stored state (in the backup storage) mirrored by a local copy. load() reconciles the two (the
// newest wins) and says when one is behind; save() writes both and throws when either failed, so the
// caller tries again at its next run. Only when neither copy can be read does load() throw.
// The local copy is named by the storage's address, which does not tell one storage from another
// later at the same address (a bucket emptied or recreated, a test server on a reused port). So the
// local copy records whether the storage took the same save: one it took stands in for the stored
// copy only while that cannot be read; when the storage answers that it has no state, the local copy
// is set aside (it would count alerts of that other storage as firing and already sent). One the
// storage never took (it failed at the time) is the only record of what was sent, and is used.
export class MirroredAlertState implements AlertStateStore {
  readonly location: string;
  readonly #local: AlertStateStore;
  readonly #stored: AlertStateStore;

  constructor(local: AlertStateStore, stored: AlertStateStore) {
    this.#local = local;
    this.#stored = stored;
    this.location = `${stored.location} (local copy ${local.location})`;
  }

  async load(): Promise<LoadedState> {
    const [local, stored] = await Promise.allSettled([this.#local.load(), this.#stored.load()]);
    const localState = local.status === 'fulfilled' && local.value.kind === 'loaded' ? local.value.state : undefined;
    if (stored.status === 'rejected') {
      if (localState === undefined) throw stored.reason;
      return { kind: 'loaded', state: localState, stale: true };
    }
    if (stored.value.kind === 'missing' && localState?.inStorage === true) {
      return {
        kind: 'missing',
        setAside: `the local copy ${this.#local.location} (revision ${localState.revision}, saved ${localState.savedAt ?? 'at an unknown time'}) was also stored, but the storage has no alert state now (emptied, recreated, or another storage at the same address)`,
      };
    }
    if (stored.value.kind !== 'loaded') {
      return localState === undefined ? stored.value : { kind: 'loaded', state: localState, stale: true };
    }
    const storedState = stored.value.state;
    if (localState === undefined) return { kind: 'loaded', state: storedState, stale: true };
    const newer = newerCopy(localState, storedState);
    const stale = localState.revision !== storedState.revision || localState.savedAt !== storedState.savedAt;
    return { kind: 'loaded', state: newer === 'local' ? localState : storedState, stale };
  }

  // The local copy at once (not after a storage that may take its retries and timeout to fail: it is
  // the record of what was sent), marked as not yet stored; marked stored once the storage took it.
  async save(state: PersistedAlertState): Promise<void> {
    const [local, stored] = await Promise.allSettled([this.#local.save({ ...state, inStorage: false }), this.#stored.save(state)]);
    if (stored.status === 'rejected') throw stored.reason;
    if (local.status === 'rejected') throw new LocalCopyError(this.#local.location, local.reason);
    try {
      await this.#local.save({ ...state, inStorage: true });
    } catch (error) {
      throw new LocalCopyError(this.#local.location, error);
    }
  }
}
