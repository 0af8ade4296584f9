import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { ClientInfo } from './audit.js';
import type { Principal, TenantPrincipal } from './auth.js';
import type { Database, Metric, Role } from './db/tables.js';
import { withTenantRead, withTenantWrite, type TenantTx, type TxOptions } from './db/tenant.js';
import type { Deps } from './deps.js';
import { userError } from './errors.js';
import { inEnglish } from './messages.js';

export type { Deps, TenantPrincipal };

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
  /** The request carried GraphiQL's unfilled header template (src/auth.ts isUnfilledTemplate): no credentials. */
  unfilledTemplate?: boolean;
}

/** What a WebSocket operation without credentials is told: where that transport takes them. */
export const WS_CREDENTIALS_HINT = inEnglish('auth.sendBearerWs');

/** The caller's tenant principal; UNAUTHENTICATED without one, FORBIDDEN if its role is not in `roles`. */
export function requireTenant(ctx: Context, roles?: readonly Role[]): TenantPrincipal {
  const principal = ctx.principal;
  if (!principal) throw userError('UNAUTHENTICATED', ctx.unfilledTemplate ? 'auth.replacePlaceholder' : ctx.transport === 'ws' ? 'auth.sendBearerWs' : 'auth.sendBearer');
  if (principal.kind !== 'tenant') throw userError('FORBIDDEN', 'auth.operatorManagesTenants');
  if (roles && !roles.includes(principal.role)) {
    throw userError('FORBIDDEN', 'auth.roles', { roles: roles.join(', '), role: principal.role });
  }
  return principal;
}

/** Runs `work` in a transaction scoped to the caller's tenant (see db/tenant.ts), on the primary. */
export function tenantTx<T>(ctx: Context, work: (trx: TenantTx) => Promise<T>, options?: TxOptions): Promise<T> {
  const principal = requireTenant(ctx);
  return withTenantWrite(ctx.deps.db.kysely as Kysely<Database>, ctx.deps.db.reads, principal.tenantId, work, options);
}

/** tenantTx for read-only work: on a read replica that has the tenant's writes when there is one (db/replicas.ts), else on the primary. */
export function readTx<T>(ctx: Context, work: (trx: TenantTx) => Promise<T>, options?: TxOptions): Promise<T> {
  const principal = requireTenant(ctx);
  return withTenantRead(ctx.deps.db.reads, principal.tenantId, work, options);
}

/** TxOptions for work that reads points: the query timeout, and running past it is LIMIT_EXCEEDED. */
export function queryTimeout(ctx: Context): TxOptions {
  return { timeoutMs: ctx.deps.env.QUERY_TIMEOUT_MS, limitExceeded: true };
}

/** Refuses anyone but the operator token (OPERATOR_TOKEN); `what` ends "Only the operator token can …". */
export function requireOperator(ctx: Context, what: string): void {
  if (ctx.principal?.kind === 'operator') return;
  throw ctx.principal ? userError('FORBIDDEN', 'auth.operatorOnly', { action: what }) : userError('UNAUTHENTICATED', 'auth.sendOperatorToken');
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
