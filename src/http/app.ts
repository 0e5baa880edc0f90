import Router from '@koa/router';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import { buildHealthReport, type HealthState } from './health.ts';
import { renderStatusPage, type StatusPageModel } from './status-page.ts';
import { stringifyJsonSafely } from '../util/printable-key.ts';
import { errForLog } from '../errors.ts';
import type { HttpAuthSettings } from '../config/types.ts';
import { requireHttpAuth } from './auth.ts';


// /readyz: configuration loaded (the app exists) and, once a monitor is wired, storage reached once.
interface ReadyState {
  ready: boolean;
  // Why not ready, for people (e.g. "storage not reached yet: AccessDenied").
  reasons?: string[];
}

// Every provider returns current state from memory (no I/O per request) and is optional, so the
// app can be mounted before the monitor or the backup service exist.
export interface HttpAppOptions {
  // The service's own prom-client registry; without it /metrics answers 404.
  registry?: Registry;
  health?: () => HealthState;
  // JSON for people (/status): newest backups, next run, findings, thresholds...
  status?: () => Record<string, unknown>;
  ready?: () => ReadyState | boolean;
  // The status page at `/` for browsers; without it `/` lists the endpoints.
  page?: () => StatusPageModel;
  logger?: Logger;
  // serviceId in /health (SENTINEL_NAME); defaults to "backup-sentinel".
  name?: string;
  version?: string;
  // HTTP_AUTH_TOKEN / HTTP_BASIC_AUTH: /status, /metrics and / need them (the probes too with
  // HTTP_AUTH_HEALTH); without credentials every endpoint is open.
  auth?: HttpAuthSettings;
}

const HEALTH_JSON = 'application/health+json';

// Builds the koa app with /livez /readyz /health /status /metrics; it does not listen (callers do:
// `app.listen(port, '0.0.0.0')` in main, `app.listen(0, '127.0.0.1')` in tests).
export function createHttpApp(options: HttpAppOptions = {}): Koa {
  const app = new Koa();
  const router = new Router();
  const name = options.name ?? 'backup-sentinel';
  const logger = options.logger;
  // A failing provider is logged and answered, never thrown into koa's default stderr printer.
  app.silent = true;
  app.on('error', (error: unknown) => logger?.warn({ err: errForLog(error) }, 'http request failed'));
  const guard = requireHttpAuth(options.auth);
  // Probes and uptime monitors usually cannot send credentials: open unless HTTP_AUTH_HEALTH.
  const probeGuard = options.auth?.health === true ? guard : requireHttpAuth(undefined);

  router.get('/livez', probeGuard, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', probeGuard, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const state = readReady(options.ready, logger);
    ctx.status = state.ready ? 200 : 503;
    ctx.body = { status: state.ready ? 'ready' : 'not ready', reasons: state.reasons ?? [] };
  });

  router.get('/health', probeGuard, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    let report;
    try {
      report = buildHealthReport(options.health?.(), { name, ...(options.version === undefined ? {} : { version: options.version }) });
    } catch (error) {
      logger?.error({ err: errForLog(error) }, 'health provider failed');
      report = { status: 'fail' as const, serviceId: name, description: 'backup-sentinel', output: 'health state unavailable (see the service logs)', checks: {} };
    }
    ctx.status = report.status === 'fail' ? 503 : 200;
    ctx.type = HEALTH_JSON;
    ctx.body = stringifyJsonSafely(report);
  });

  router.get('/status', guard, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const health = safeHealth(options, name);
    let extra: Record<string, unknown> = {};
    try {
      extra = options.status?.() ?? {};
    } catch (error) {
      logger?.error({ err: errForLog(error) }, 'status provider failed');
      extra = { error: 'status unavailable (see the service logs)' };
    }
    ctx.type = 'application/json';
    ctx.body = stringifyJsonSafely({ service: name, version: options.version, now: new Date().toISOString(), health, ...extra }, 2);
  });

  router.get('/metrics', guard, async (ctx) => {
    const registry = options.registry;
    if (registry === undefined) {
      ctx.status = 404;
      ctx.body = 'no metrics registry configured\n';
      return;
    }
    try {
      const text = await registry.metrics();
      ctx.set('Content-Type', registry.contentType);
      ctx.body = text;
    } catch (error) {
      logger?.error({ err: errForLog(error) }, 'metrics collection failed');
      ctx.status = 500;
      ctx.body = 'metrics collection failed (see the service logs)\n';
    }
  });

  router.get('/', guard, (ctx) => {
    const endpoints = { service: name, endpoints: ['/', '/livez', '/readyz', '/health', '/status', '/metrics'] };
    // A browser asks for HTML first; curl and scripts (*/* or JSON) keep getting the endpoint list.
    if (options.page === undefined || ctx.accepts('json', 'html') !== 'html') {
      ctx.body = endpoints;
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    try {
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = renderStatusPage(options.page());
    } catch (error) {
      logger?.error({ err: errForLog(error) }, 'status page failed');
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = 'status page unavailable (see the service logs); /status has the state as JSON\n';
    }
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

function readReady(provider: HttpAppOptions['ready'], logger: Logger | undefined): ReadyState {
  if (provider === undefined) return { ready: true };
  try {
    const value = provider();
    return typeof value === 'boolean' ? { ready: value } : value;
  } catch (error) {
    logger?.error({ err: errForLog(error) }, 'readiness provider failed');
    return { ready: false, reasons: ['readiness state unavailable (see the service logs)'] };
  }
}

function safeHealth(options: HttpAppOptions, name: string): { status: string; output?: string } {
  try {
    const report = buildHealthReport(options.health?.(), { name });
    return report.output === undefined ? { status: report.status } : { status: report.status, output: report.output };
  } catch {
    return { status: 'fail', output: 'health state unavailable' };
  }
}
