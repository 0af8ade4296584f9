/**
 * Cardinality usage: what a tenant's series budget goes to, and the operator's per-tenant
 * budgets. Enforcement is in src/ingest/cardinality.ts.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { withTenant, type TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { budgetsOf, countSeries, type Budgets } from '../ingest/cardinality.js';

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
  const total = await countSeries(trx);
  const metrics = await trx
    .selectFrom('series as s')
    .innerJoin('metrics as m', 'm.id', 's.metric_id')
    .select((eb) => ['m.name as metric', eb.cast<number>(eb.fn.countAll(), 'integer').as('series')])
    .groupBy('m.name')
    .orderBy('series', 'desc')
    .orderBy('m.name')
    .limit(limit)
    .execute();
  // Hand-written: the tag pairs come from a set-returning function (jsonb_each_text) in the
  // FROM list, whose columns the Database interface cannot describe.
  const keys = await sql<TagKeyUsage>`
    select m.name as metric, t.key, count(distinct t.value)::int as values
    from series s join metrics m on m.id = s.metric_id, jsonb_each_text(s.tags) t
    group by m.name, t.key order by values desc, m.name, t.key limit ${limit}`.execute(trx);
  return { series: total, budgets, metrics, topTagKeys: keys.rows };
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
  const tenant = await owner.selectFrom('tenants').select('id').where('id', '=', input.tenantId).executeTakeFirst();
  if (!tenant) throw userError('NOT_FOUND', 'tenant.notFound', { id: input.tenantId });
  const budgets = { max_series: input.maxSeries ?? null, max_series_per_metric: input.maxSeriesPerMetric ?? null, max_tag_values: input.maxTagValues ?? null };
  await owner
    .insertInto('tenant_limits')
    .values({ tenant_id: input.tenantId, ...budgets, updated_at: sql<Date>`now()` })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ ...budgets, updated_at: sql<Date>`now()` }))
    .execute();
  return withTenant(owner, input.tenantId, (trx) => budgetsOf(trx, defaults));
}
