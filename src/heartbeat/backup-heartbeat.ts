import type { Registry } from 'prom-client';
import type { Secret } from '../config/secret.ts';
import type { Logger } from '../logger.ts';
import { Heartbeat } from './heartbeat.ts';
import type { PingReport } from './ping-message.ts';

// BACKUP_HEARTBEAT_URL times backup runs: a start ping, then the end ping. Several backup sets may ping one
// URL (sets of SENTINEL_CONFIG on their own schedules, or one after the other in `backup`): a set's
// success must then not pass for all of them, or a set that fails every night is hidden by one that
// succeeds after it. So the end ping is the failure form while the last run of any set on the URL failed,
// and says which. With one set this is exactly its own result.
export class BackupHeartbeat {
  readonly #heartbeat: Heartbeat;
  // set -> its last run's failure report (sets whose last run succeeded are not here).
  readonly #failing = new Map<string, string>();

  constructor(heartbeat: Heartbeat) {
    this.#heartbeat = heartbeat;
  }

  async start(message: string, pingId: string): Promise<void> {
    await this.#heartbeat.ping('start', message, pingId);
  }

  async end(set: string, report: PingReport, pingId: string): Promise<void> {
    if (report.event === 'fail') this.#failing.set(set, report.message);
    else this.#failing.delete(set);
    const others = [...this.#failing].filter(([name]) => name !== set).map(([, message]) => message);
    if (report.event === 'success' && others.length > 0) {
      await this.#heartbeat.ping('fail', [report.message, `still failing (${others.length === 1 ? 'its last run' : 'their last runs'}):`, ...others].join('\n'), pingId);
      return;
    }
    await this.#heartbeat.ping(report.event, report.message, pingId);
  }
}

// One BackupHeartbeat per URL among the backup services of one process, so sets sharing a URL share its
// memory of which set failed.
export class BackupHeartbeats {
  readonly #byUrl = new Map<string, BackupHeartbeat>();
  readonly #logger: Logger;
  readonly #registry: Registry | undefined;

  constructor(logger: Logger, registry?: Registry) {
    this.#logger = logger;
    this.#registry = registry;
  }

  for(url: Secret): BackupHeartbeat {
    const key = url.reveal();
    let heartbeat = this.#byUrl.get(key);
    if (heartbeat === undefined) {
      heartbeat = new BackupHeartbeat(new Heartbeat({ name: 'backup', url, logger: this.#logger, registry: this.#registry }));
      this.#byUrl.set(key, heartbeat);
    }
    return heartbeat;
  }
}
