import type { Registry } from 'prom-client';
import type { CheckName, Finding } from '../core/findings.ts';
import type { LeftoverUpload } from '../errors.ts';
import { checkIncompleteUploads } from './upload-sweep.ts';
import { registerUploadSweepMetrics } from './upload-sweep-metrics.ts';
import type { UploadSweeper, UploadSweepState } from './upload-sweeper.ts';

// The sweep of incomplete multipart uploads in every destination that has them (each bucket its own
// sweeper: an upload id means something only to its own bucket), seen by the service as one: one set of
// metrics summed over the buckets (the series of one bucket stay as they were), one incomplete_uploads
// finding naming every place that holds some, and a failed run's leftover told to the sweeper of the
// destination it was left in.
export class UploadSweepers {
  readonly #sweepers: ReadonlyMap<string, UploadSweeper>;
  readonly #wheres: ReadonlyMap<string, string>;

  // `sweepers`: by destination name, in the configuration's order; made without a registry.
  constructor(sweepers: readonly { destination: string; sweeper: UploadSweeper; where: string }[], registry?: Registry) {
    this.#sweepers = new Map(sweepers.map((s) => [s.destination, s.sweeper]));
    this.#wheres = new Map(sweepers.map((s) => [s.destination, s.where]));
    if (registry !== undefined) registerUploadSweepMetrics(registry, () => this.state());
  }

  start(): void {
    for (const s of this.#sweepers.values()) s.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#sweepers.values()].map((s) => s.stop()));
  }

  // Told after every sweep of any destination.
  onSweep(listener: () => void | Promise<void>): void {
    for (const s of this.#sweepers.values()) s.onSweep(listener);
  }

  // The upload a failed run left in `destination` (a destination without multipart uploads has none).
  noteLeftover(upload: LeftoverUpload, destination: string): void {
    this.#sweepers.get(destination)?.noteLeftover(upload);
  }

  hasLeftovers(): boolean {
    return [...this.#sweepers.values()].some((s) => s.hasLeftovers());
  }

  async sweep(): Promise<void> {
    await Promise.all([...this.#sweepers.values()].map((s) => s.sweep()));
  }

  // Summed over the destinations; swept last when the one swept longest ago was (undefined until each has been).
  state(): UploadSweepState {
    const states = [...this.#sweepers.values()].map((s) => s.state());
    const at = states.map((s) => s.lastSweepAt);
    const counts = states.map((s) => s.incomplete);
    return {
      lastSweepAt: at.includes(undefined) ? undefined : new Date(Math.min(...at.map((d) => (d as Date).getTime()))),
      incomplete: counts.every((c) => c === undefined) ? undefined : counts.reduce<number>((sum, c) => sum + (c ?? 0), 0),
      unremoved: states.flatMap((s) => s.unremoved),
      abortedTotal: states.reduce((sum, s) => sum + s.abortedTotal, 0),
      lastError: states.find((s) => s.lastError !== undefined)?.lastError,
    };
  }

  checks(): readonly CheckName[] {
    return [...this.#sweepers.values()].some((s) => s.checks().length > 0) ? ['incomplete_uploads'] : [];
  }

  // One finding for all: where each holds uploads that should be gone.
  findings(): Finding[] {
    const holding = [...this.#sweepers.entries()].filter(([, s]) => s.state().unremoved.length > 0).map(([name]) => this.#wheres.get(name) ?? name);
    const state = this.state();
    return checkIncompleteUploads(state.unremoved, holding.join(' and '), state.lastError);
  }
}
