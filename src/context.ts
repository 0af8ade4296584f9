import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { ClientInfo } from './audit.js';
import type { Authenticator, Principal } from './auth.js';
import type { Db } from './db/connect.js';
import type { Database, Metric, Role } from './db/tables.js';
import { withTenantRead, withTenantWrite, type TenantTx, type TxOptions } from './db/tenant.js';
import type { Env } from './env.js';
import type { PointBus } from './realtime/bus.js';
import type { AlertBus } from './alerts/bus.js';
import type { Alerts } from './alerts/evaluate.js';
import type { RateLimiter } from './rate-limit.js';
import type { LiveAggregates } from './realtime/live-aggregates.js';
import { userError } from './errors.js';
import type { Recorder } from './ingest/record-points.js';
import type { Logger } from './log.js';
import type { ServiceMetrics } from './observability/metrics.js';
import type { Retainer } from './ops/retention.js';
import type { QueryCache } from './query/cache.js';
import type { AggregateRefresher } from './query/refresh.js';
import type { Scheduler } from './jobs/scheduler.js';
import type { LatePoints } from './jobs/late-points.js';

/** Long-lived things the resolvers use, built once in main.ts (or by a test). */
export interface Deps {
  env: Env;
  db: Db;
  log: Logger;
  auth: Authenticator;
  recorder: Recorder;
  /** Present when REDIS_URL is set. */
  redis?: Redis;
  queryCache: QueryCache;
  aggregates: AggregateRefresher;
  /** Takes late points into the aggregates and report rollups (a scheduled job; callable directly). */
  latePoints: LatePoints;
  /** node-cron jobs that run once per tick across instances (job_runs). */
  scheduler: Scheduler;
  /** The service's own Prometheus metrics (/metrics). */
  metrics: ServiceMetrics;
  /** Retention, compression and the refresh floors they keep (src/ops/retention.ts). */
  retention: Retainer;
  /** Committed points to live subscribers, across instances through Redis when configured. */
  bus: PointBus;
  /** Shared evaluators of liveAggregates. */
  live: LiveAggregates;
  /** Alert state changes to subscribers, across instances through Redis when configured. */
  alertBus: AlertBus;
  /** Alert evaluation and webhook delivery (scheduled jobs; callable directly). */
  alerts: Alerts;
  /** Per-tenant token buckets (src/rate-limit.ts). */
  limiter: RateLimiter;
}

/** Per request (HTTP) or per operation (WebSocket). */
export interface Context {
  deps: Deps;
  principal: Principal | null;
  requestId: string;
  /** Where the request came from, for the audit log. */
  client?: ClientInfo;
  /** The scheme and host an HTTP request came to (`http://localhost:4000`), for absolute links when PUBLIC_URL is unset. */
  origin?: string;
  /** 'ws' for an operation over the WebSocket, where credentials travel differently (connectionParams), so errors say so. */
  transport?: 'ws';
}

/** What a WebSocket operation without credentials is told: where that transport takes them. */
export const WS_CREDENTIALS_HINT = 'Send connectionParams: { "authorization": "Bearer <API key or JWT>" } in connection_init, or an Authorization header in the subscribe message\'s extensions.headers (as GraphiQL does)';

export type TenantPrincipal = Extract<Principal, { kind: 'tenant' }>;

/** The caller's tenant principal; UNAUTHENTICATED without one, FORBIDDEN if its role is not in `roles`. */
export function requireTenant(ctx: Context, roles?: readonly Role[]): TenantPrincipal {
  const principal = ctx.principal;
  if (!principal) throw userError('UNAUTHENTICATED', ctx.transport === 'ws' ? WS_CREDENTIALS_HINT : 'Send "Authorization: Bearer <API key or JWT>"');
  if (principal.kind !== 'tenant') throw userError('FORBIDDEN', 'The operator token can only manage tenants');
  if (roles && !roles.includes(principal.role)) {
    throw userError('FORBIDDEN', `This needs one of the roles ${roles.join(', ')}; your key is ${principal.role}`);
  }
  return principal;
}

/** Runs `work` in a transaction scoped to the caller's tenant (see db/tenant.ts), on the primary. */
export function tenantTx<T>(ctx: Context, work: (trx: TenantTx) => Promise<T>, options?: TxOptions & { roles?: readonly Role[] }): Promise<T> {
  const principal = requireTenant(ctx, options?.roles);
  return withTenantWrite(ctx.deps.db.kysely as Kysely<Database>, ctx.deps.db.reads, principal.tenantId, work, options);
}

/** tenantTx for read-only work: on a read replica that has the tenant's writes when there is one (db/replicas.ts), else on the primary. */
export function readTx<T>(ctx: Context, work: (trx: TenantTx) => Promise<T>, options?: TxOptions & { roles?: readonly Role[] }): Promise<T> {
  const principal = requireTenant(ctx, options?.roles);
  return withTenantRead(ctx.deps.db.reads, principal.tenantId, work, options);
}

/** Refuses anyone but the operator token (OPERATOR_TOKEN); `what` ends "Only the operator token can …". */
export function requireOperator(ctx: Context, what: string): void {
  if (ctx.principal?.kind === 'operator') return;
  throw ctx.principal ? userError('FORBIDDEN', `Only the operator token can ${what}`) : userError('UNAUTHENTICATED', 'Send the operator token as "Authorization: Bearer <token>"');
}

export const WRITERS: readonly Role[] = ['ADMIN', 'MANAGER', 'DEVELOPER'];
export const ADMINS: readonly Role[] = ['ADMIN'];

const loaders = new WeakMap<Context, DataLoader<string, Metric | null>>();

/**
 * Per-request loader of the tenant's metrics by name: every field of one request that needs a
 * metric's type or unit shares one query (no N+1 across aliases and nested fields).
 */
export function metricLoader(ctx: Context): DataLoader<string, Metric | null> {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (names) => {
      const rows = await readTx(ctx, (trx) => trx.selectFrom('metrics').selectAll().where('name', 'in', [...names]).execute());
      return names.map((name) => rows.find((row) => row.name === name) ?? null);
    });
    loaders.set(ctx, loader);
  }
  return loader;
}
