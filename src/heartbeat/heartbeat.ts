import { Counter, type Registry } from 'prom-client';
import type { Secret } from '../config/secret.ts';
import { METRIC_PREFIX } from '../core/metrics.ts';
import { networkCode } from '../alerts/http-delivery.ts';
import type { Logger } from '../logger.ts';
import { heartbeatService, pingRequest, type HeartbeatEvent } from './ping-request.ts';

// Which heartbeat: "monitor" (HEARTBEAT_URL, after every check) or "backup" (BACKUP_HEARTBEAT_URL).
type HeartbeatName = 'monitor' | 'backup';

export interface HeartbeatOptions {
  name: HeartbeatName;
  url: Secret;
  logger: Logger;
  registry?: Registry | undefined;
  timeoutMs?: number;
}

// backup_sentinel_heartbeat_pings_total{heartbeat,result}: sent or failed.
function pingCounter(registry: Registry): Counter<'heartbeat' | 'result'> {
  const name = `${METRIC_PREFIX}heartbeat_pings_total`;
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name,
    help: 'Heartbeat pings by heartbeat (monitor: HEARTBEAT_URL, backup: BACKUP_HEARTBEAT_URL) and result (sent, failed)',
    labelNames: ['heartbeat', 'result'] as const,
    registers: [registry],
  });
}

// Pings one heartbeat URL. A ping that fails is logged and counted, never thrown: the heartbeat
// service notices the missing ping by itself, which is the point of a dead man's switch.
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #log: Logger;
  readonly #counter: Counter<'heartbeat' | 'result'> | undefined;
  // For logs: the service and host, never the URL (it is the credential).
  readonly description: string;

  constructor(options: HeartbeatOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'heartbeat', heartbeat: options.name });
    const url = new URL(options.url.reveal());
    this.description = `${heartbeatService(url)} heartbeat on ${url.host}`;
    this.#counter = options.registry === undefined ? undefined : pingCounter(options.registry);
    for (const result of ['sent', 'failed']) this.#counter?.inc({ heartbeat: options.name, result }, 0);
  }

  // Resolves with what went wrong, for people (undefined when the ping was taken or not sent at all).
  async ping(event: HeartbeatEvent, message: string, runId?: string): Promise<string | undefined> {
    const request = pingRequest(this.#options.url.reveal(), event, message, runId);
    if (request === undefined) return undefined;
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    let problem: string | undefined;
    try {
      const response = await fetch(request.url, {
        method: request.method,
        ...(request.body === undefined ? {} : { body: request.body, headers: { 'content-type': 'text/plain; charset=utf-8' } }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'follow',
      });
      await response.arrayBuffer();
      if (!response.ok) problem = `answered HTTP ${response.status}`;
    } catch (error) {
      problem = error instanceof Error && error.name === 'TimeoutError' ? `did not answer within ${timeoutMs / 1000} s` : `unreachable (${networkCode(error)})`;
    }
    if (problem === undefined) {
      this.#counter?.inc({ heartbeat: this.#options.name, result: 'sent' });
      this.#log.debug({ event }, `heartbeat ${event} sent to ${this.description}`);
      return undefined;
    }
    this.#counter?.inc({ heartbeat: this.#options.name, result: 'failed' });
    this.#log.warn(
      { event, hint: 'check the URL and that this host can reach the heartbeat service; the next ping is tried as usual, and the service alerts by itself if pings stay missing' },
      `heartbeat ${event} ping to ${this.description} failed: ${problem}`,
    );
    return problem;
  }
}
