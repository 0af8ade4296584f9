/**
 * Tenant transactions: the one way database work runs for a tenant.
 *
 * - withTenant: as the application role (no BYPASSRLS, owns nothing) with the tenant set and a
 *   statement timeout; `limitExceeded` turns running past it into LIMIT_EXCEEDED. Every request
 *   path goes through it (context.ts tenantTx/readTx pick the principal's tenant and the engine:
 *   withTenantWrite on the primary, withTenantRead on a current replica).
 * - withKeyHash: as the application role with no tenant, to find an API key by its hash.
 *
 * Owner-level paths: the only work that runs as the database owner, each for a reason the
 * application role cannot serve:
 * - migrations (src/db/migrate.ts): they create the roles, tables and policies;
 * - retention and compression (src/ops/retention.ts): dropping chunks and deleting aggregate
 *   buckets below the refresh floor; per tenant through withOwnerForTenant;
 * - the aggregate refresh and the backfill of sketches (src/query/refresh.ts, backfill.ts) and
 *   the late-points job (src/jobs/late-points.ts): the materialisation tables are the owner's;
 * - alert evaluation and webhook delivery (src/alerts/evaluate.ts): they find every tenant's
 *   due rules and deliveries; each rule's data is then read as its creator (answerQuery);
 * - the scheduler's job_runs claims (src/jobs/scheduler.ts) and the operator's tenant budgets
 *   (src/ops/usage.ts setTenantLimits): service-wide rows, not one tenant's;
 * - the dev tenant's one-time bootstrap claim in service_state (src/main.ts).
 * The write script of src/ingest/record-points.ts sends withTenant's settings as SQL text
 * (tenantSettingsSql) so a batch takes one round trip; it runs as the application role too.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { userError } from '../errors.js';
import type { Database } from './tables.js';

/** The role every request's database work runs as: owns nothing, no BYPASSRLS. Created by migrations. */
export const APP_ROLE = 'metrograph_app';

declare const tenantScoped: unique symbol;
/**
 * A transaction running as the application role with one tenant set. Functions that touch
 * tenant data take it as their first argument, so none can forget the tenant.
 */
export type TenantTx = Transaction<Database> & { readonly [tenantScoped]: true };

export interface TxOptions {
  /** statement_timeout for this transaction, in milliseconds (default 5 000). */
  timeoutMs?: number;
  /**
   * The work is a query the user can narrow: running past the timeout is LIMIT_EXCEEDED (with
   * `limit`, the timeout) rather than an internal error.
   */
  limitExceeded?: boolean;
  /**
   * More transaction-local settings, set by the same statement as the tenant (one round trip
   * fewer): e.g. the definitions reader (store-definitions.ts scopeSettings).
   */
  settings?: Readonly<Record<string, string>>;
}

/** PostgreSQL's query_canceled: what a statement past statement_timeout fails with. */
const QUERY_CANCELED = '57014';

/** LIMIT_EXCEEDED for a query that ran past `timeoutMs`. */
export function queryTimedOut(timeoutMs: number) {
  return userError('LIMIT_EXCEEDED', 'request.timeout', { ms: timeoutMs }, { limit: timeoutMs });
}

/**
 * Runs `work` in a transaction as the application role with `app.tenant_id` set to `tenantId`.
 * Both are transaction-local (`set_config(…, true)`), so a pooled connection carries nothing
 * over to its next user.
 */
export async function withTenant<T>(kysely: Kysely<Database>, tenantId: string, work: (trx: TenantTx) => Promise<T>, options: TxOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  try {
    return await kysely.transaction().execute(async (trx) => {
      const more = Object.entries(options.settings ?? {}).map(([name, value]) => sql`, set_config(${name}, ${value}, true)`);
      await sql`select set_config('role', ${APP_ROLE}, true),
                       set_config('app.tenant_id', ${tenantId}, true),
                       set_config('statement_timeout', ${String(timeoutMs)}, true)${sql.join(more, sql``)}`.execute(trx);
      return work(trx as TenantTx);
    });
  } catch (error) {
    if (options.limitExceeded && (error as { code?: string }).code === QUERY_CANCELED) throw queryTimedOut(timeoutMs);
    throw error;
  }
}

/**
 * An owner-level transaction with `tenantId` set, so row-level security shows that tenant's
 * rows while the owner's privileges reach what the application role may not (chunks,
 * materialisation tables). Only for the owner-level paths listed at the top of this file.
 */
export function withOwnerForTenant<T>(kysely: Kysely<Database>, tenantId: string, work: (trx: Transaction<Database>) => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
  return kysely.transaction().execute(async (trx) => {
    if (options.timeoutMs === undefined) await sql`select set_config('app.tenant_id', ${tenantId}, true)`.execute(trx);
    else await sql`select set_config('app.tenant_id', ${tenantId}, true), set_config('statement_timeout', ${String(options.timeoutMs)}, true)`.execute(trx);
    return work(trx);
  });
}

/** A UUID in its text form (any case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * withTenant's settings as one statement of SQL text, for a script of several statements sent
 * in one round trip (a simple query runs them as one transaction, so `set_config(…, true)`
 * holds for the statements after it and ends with it). The tenant id is inlined: it must be a
 * UUID, or this throws.
 */
export function tenantSettingsSql(tenantId: string, options: TxOptions = {}): string {
  if (!UUID.test(tenantId)) throw new Error('tenant id must be a UUID');
  const timeout = Math.trunc(options.timeoutMs ?? 5_000);
  return `select set_config('role', '${APP_ROLE}', true), set_config('app.tenant_id', '${tenantId}', true), set_config('statement_timeout', '${timeout}', true)`;
}

/**
 * Finds an API key by the hash of the presented secret, as the application role with no
 * tenant set. The api_keys policy shows a row without a tenant only to whoever knows its hash.
 */
export function withKeyHash<T>(kysely: Kysely<Database>, keyHash: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return kysely.transaction().execute(async (trx) => {
    await sql`select set_config('role', ${APP_ROLE}, true), set_config('app.key_hash', ${keyHash}, true)`.execute(trx);
    return work(trx);
  });
}

/**
 * Where a tenant's reads run. `run` hands `work` the engine to use: the primary, or a
 * streaming replica that has replayed everything the tenant is known to have written
 * (src/db/replicas.ts). `wrote` is called after a commit that wrote for the tenant.
 */
export interface Reads {
  run<T>(tenantId: string, work: (kysely: Kysely<Database>) => Promise<T>): Promise<T>;
  /** False when every read runs on the primary anyway: then writes need no noting. */
  readonly replicated: boolean;
  wrote(tenantId: string): Promise<void>;
}

/** Every read on the primary: the embedded engine, no DATABASE_READ_URLS, and the jobs. */
export function primaryReads(kysely: Kysely<Database>): Reads {
  return { replicated: false, run: (_tenantId, work) => work(kysely), wrote: async () => {} };
}

/**
 * withTenant for read-only work, on the engine `reads` picks for the tenant (a replica when
 * one is current enough, else the primary). `work` must not write: a replica refuses it.
 */
export function withTenantRead<T>(reads: Reads, tenantId: string, work: (trx: TenantTx) => Promise<T>, options: TxOptions = {}): Promise<T> {
  return reads.run(tenantId, (kysely) => withTenant(kysely, tenantId, work, options));
}

/**
 * withTenant on the primary that, when reads are replicated, tells `reads` after the commit
 * if the transaction wrote anything (it was given a transaction id), so the tenant's next
 * read waits for a replica that has replayed it. Read-only transactions note nothing.
 */
export async function withTenantWrite<T>(kysely: Kysely<Database>, reads: Reads, tenantId: string, work: (trx: TenantTx) => Promise<T>, options: TxOptions = {}): Promise<T> {
  if (!reads.replicated) return withTenant(kysely, tenantId, work, options);
  let wrote = false;
  const result = await withTenant(
    kysely,
    tenantId,
    async (trx) => {
      const value = await work(trx);
      try {
        const { rows } = await sql<{ wrote: boolean }>`select pg_current_xact_id_if_assigned() is not null as wrote`.execute(trx);
        wrote = rows[0]?.wrote === true;
      } catch {
        // Work that caught an error of its own leaves the transaction aborted (its commit rolls
        // back, as before); assume a write rather than change what the caller gets.
        wrote = true;
      }
      return value;
    },
    options,
  );
  if (wrote) await reads.wrote(tenantId);
  return result;
}
