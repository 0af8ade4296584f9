/**
 * Cardinality usage: what a tenant's series budget goes to, and the operator's per-tenant
 * budgets. Enforcement is in src/ingest/cardinality.ts.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { withTenant, type TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { budgetsOf, type Budgets } from '../ingest/cardinality.js';

export interface TagKeyUsage {
  metric: string;
  key: string;
  values: number;
}

export interface Usage {
  series: number;
  budgets: Budgets;
  metrics: Array<{ metric: string; series: number }>;
  topTagKeys: TagKeyUsage[];
}

/** The tenant's series in all, its budgets, and its `limit` largest metrics and tag keys (by distinct values per metric). */
export async function readUsage(trx: TenantTx, defaults: Budgets, limit: number): Promise<Usage> {
  const budgets = await budgetsOf(trx, defaults);
  const total = await sql<{ n: number }>`select count(*)::int as n from series`.execute(trx);
  const metrics = await sql<{ metric: string; series: number }>`
    select m.name as metric, count(*)::int as series from series s join metrics m on m.id = s.metric_id
    group by m.name order by series desc, m.name limit ${limit}`.execute(trx);
  const keys = await sql<TagKeyUsage>`
    select m.name as metric, t.key, count(distinct t.value)::int as values
    from series s join metrics m on m.id = s.metric_id, jsonb_each_text(s.tags) t
    group by m.name, t.key order by values desc, m.name, t.key limit ${limit}`.execute(trx);
  return { series: total.rows[0]!.n, budgets, metrics: metrics.rows, topTagKeys: keys.rows };
}

/**
 * Sets a tenant's budgets (null: the service default) and returns those now in force. The
 * operator acts across tenants, so this runs as the owner (an owner-level path, see
 * src/db/tenant.ts); the budgets are then read back as that tenant.
 */
export async function setTenantLimits(
  owner: Kysely<Database>,
  defaults: Budgets,
  input: { tenantId: string; maxSeries?: number | null; maxSeriesPerMetric?: number | null; maxTagValues?: number | null },
): Promise<Budgets> {
  const tenant = await sql<{ id: string }>`select id from tenants where id = ${input.tenantId}`.execute(owner);
  if (tenant.rows.length === 0) throw userError('NOT_FOUND', 'tenant.notFound', { id: input.tenantId });
  await sql`
    insert into tenant_limits (tenant_id, max_series, max_series_per_metric, max_tag_values, updated_at)
    values (${input.tenantId}, ${input.maxSeries ?? null}, ${input.maxSeriesPerMetric ?? null}, ${input.maxTagValues ?? null}, now())
    on conflict (tenant_id) do update set max_series = excluded.max_series, max_series_per_metric = excluded.max_series_per_metric,
      max_tag_values = excluded.max_tag_values, updated_at = now()`.execute(owner);
  return withTenant(owner, input.tenantId, (trx) => budgetsOf(trx, defaults));
}
