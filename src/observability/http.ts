/**
 * What the HTTP server does around every request: a request id (the client's `x-request-id`
 * when it is a sane one, else a new UUID) echoed in the response, an access log line and the
 * request metrics once the response is finished. Also the health and metrics endpoints.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'kysely';
import { secretMatcher } from '../auth.js';
import type { Deps } from '../deps.js';
import { isReplicated } from '../db/replicas.js';

const ROUTES = new Set(['/graphql', '/export', '/metrics', '/health', '/health/live', '/health/ready', '/v1/metrics', '/api/v1/write']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/** The path without its query string: a query string may carry a signed export token. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}

/** Starts observing a request; returns its id. */
export function observeRequest(deps: Deps, req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('x-request-id', requestId);
  const path = pathOf(req);
  const route = ROUTES.has(path) ? path : 'other';
  const started = performance.now();
  res.once('close', () => {
    const seconds = (performance.now() - started) / 1000;
    const status = res.writableFinished ? String(res.statusCode) : 'aborted';
    deps.metrics.httpRequests.inc({ route, method: req.method ?? 'GET', status });
    deps.metrics.httpDuration.observe({ route }, seconds);
    // Probes and scrapes come every few seconds: at debug, so they do not drown the rest.
    const level = route === '/metrics' || route.startsWith('/health') ? 'debug' : 'info';
    deps.log[level]({ requestId, method: req.method, path: route === 'other' ? path.slice(0, 200) : route, status, durationMs: Math.round(seconds * 10_000) / 10 }, 'http request');
  });
  return requestId;
}

/** Liveness: the process answers. It checks nothing else, so a database outage never gets the process restarted. */
export function live(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ status: 'ok' }));
}

/**
 * Readiness (also `/health`): the database answers, and Redis when configured; 503 otherwise,
 * and while the server is draining for shutdown, so a load balancer sends it nothing new.
 */
export async function ready(deps: Deps, res: ServerResponse, draining: boolean): Promise<void> {
  const checks: Record<string, unknown> = {};
  let ok = true;
  try {
    await sql`select 1`.execute(deps.db.kysely);
    checks.database = { status: 'up', engine: deps.db.kind, timescaledb: deps.db.timescale };
  } catch (error) {
    ok = false;
    checks.database = { status: 'down', error: (error as Error).message };
  }
  if (deps.redis) {
    try {
      await deps.redis.ping();
      checks.redis = { status: 'up' };
    } catch (error) {
      // Redis is an accelerator, not a dependency: without it writes and queries go on
      // (local rate limits, no shared cache, live events within this instance), so the
      // instance stays in rotation and says it is degraded.
      checks.redis = { status: 'down', degraded: true, error: (error as Error).message };
    }
  } else checks.redis = { status: 'not configured' };
  // Replicas only take reads off the primary: with none in rotation every read runs there, so
  // the instance stays ready and says it is degraded.
  if (isReplicated(deps.db.reads)) {
    const members = deps.db.reads.status().map(({ name, state, lagMs, error }) => ({ name, state, lagMs, ...(error ? { error } : {}) }));
    const inRotation = members.filter((m) => m.state === 'up').length;
    checks.replicas = { status: inRotation === members.length ? 'up' : inRotation > 0 ? 'degraded' : 'down', ...(inRotation < members.length ? { degraded: true } : {}), inRotation, members };
  }
  const status = draining ? 'draining' : ok ? 'ok' : 'unavailable';
  res.writeHead(status === 'ok' ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ status, ...checks }));
}

/**
 * The `/metrics` endpoint; with METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`,
 * compared as the operator token is (in constant time, telling nothing of its length), its
 * digest made once here rather than on every scrape.
 */
export function metricsEndpoint(deps: Pick<Deps, 'env' | 'metrics'>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const allowed = deps.env.METRICS_TOKEN ? secretMatcher(deps.env.METRICS_TOKEN) : null;
  return async (req, res) => {
    if (allowed && !allowed(/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '')) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
      return void res.end('Send "Authorization: Bearer <METRICS_TOKEN>"\n');
    }
    const { registry } = deps.metrics;
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
  };
}
