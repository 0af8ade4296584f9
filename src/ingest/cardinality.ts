/**
 * Cardinality budgets, checked where series are created (and only there: a point of a known
 * series costs nothing more). Per tenant: series in all, series per metric, distinct values
 * per tag key per metric. Defaults from the environment, overrides per tenant in
 * tenant_limits (the operator's `setTenantLimits`).
 *
 * Race-safe: creating series takes a per-tenant transaction lock first, so two writers
 * racing for the last slots are counted one after the other (each count is a fresh snapshot
 * in READ COMMITTED), and the budget is never exceeded.
 */
import { sql } from 'kysely';
import type { Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { phrased, type Phrased } from '../messages.js';

export interface Budgets {
  maxSeries: number;
  maxSeriesPerMetric: number;
  maxTagValues: number;
}

/** The tenant's budgets: its overrides over the defaults. */
export async function budgetsOf(trx: TenantTx, defaults: Budgets): Promise<Budgets> {
  const row = await trx
    .selectFrom('tenant_limits')
    .select(['max_series', 'max_series_per_metric', 'max_tag_values'])
    .where('tenant_id', '=', sql<string>`current_tenant_id()`)
    .executeTakeFirst();
  return {
    maxSeries: row?.max_series ?? defaults.maxSeries,
    maxSeriesPerMetric: row?.max_series_per_metric ?? defaults.maxSeriesPerMetric,
    maxTagValues: row?.max_tag_values ?? defaults.maxTagValues,
  };
}

/** The tenant's series in all. */
export async function countSeries(trx: TenantTx): Promise<number> {
  const { n } = await trx
    .selectFrom('series')
    .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
    .executeTakeFirstOrThrow();
  return n;
}

export interface Candidate {
  key: string;
  metricId: number;
  metricName: string;
  tags: Tags;
}

/**
 * Which of `wanted` (series not known to the caller) may be created: returns the refused
 * ones with the budget each would exceed. Series that exist already are always admitted.
 */
export async function admitSeries(trx: TenantTx, wanted: Candidate[], defaults: Budgets): Promise<Map<string, Phrased>> {
  const refused = new Map<string, Phrased>();
  if (wanted.length === 0) return refused;
  await sql`select pg_advisory_xact_lock(hashtext('metrograph:series:' || current_tenant_id()::text))`.execute(trx);
  const budgets = await budgetsOf(trx, defaults);
  const metricIds = [...new Set(wanted.map((w) => w.metricId))];
  const tagKeys = [...new Set(wanted.flatMap((w) => Object.keys(w.tags)))];

  // Hand-written: `existing` and `values` read set-returning functions (unnest … with
  // ordinality, jsonb_each_text) in the FROM list, whose columns the Database interface cannot describe.
  const [existing, total, perMetric, values] = await Promise.all([
    sql<{ n: number }>`
      select i.n::int as n from series s
      join unnest(${wanted.map((w) => w.metricId)}::bigint[], ${wanted.map((w) => JSON.stringify(w.tags))}::jsonb[]) with ordinality as i (metric_id, tags, n)
        on s.metric_id = i.metric_id and md5(s.tags::text) = md5(i.tags::text)`.execute(trx),
    countSeries(trx),
    trx
      .selectFrom('series')
      .select((eb) => ['metric_id', eb.cast<number>(eb.fn.countAll(), 'integer').as('n')])
      .where((eb) => eb('metric_id', '=', eb.fn.any(sql<number[]>`${metricIds}::bigint[]`)))
      .groupBy('metric_id')
      .execute(),
    tagKeys.length
      ? sql<{ metric_id: number; key: string; value: string }>`
          select distinct s.metric_id, t.key, t.value from series s, jsonb_each_text(s.tags) t
          where s.metric_id = any(${metricIds}::bigint[]) and t.key = any(${tagKeys}::text[])`.execute(trx)
      : Promise.resolve({ rows: [] as Array<{ metric_id: number; key: string; value: string }> }),
  ]);
  const exists = new Set(existing.rows.map((r) => wanted[r.n - 1]!.key));
  let series = total;
  const seriesOf = new Map(perMetric.map((r) => [Number(r.metric_id), r.n]));
  const valuesOf = new Map<string, Set<string>>();
  for (const row of values.rows) {
    const k = `${row.metric_id} ${row.key}`;
    let set = valuesOf.get(k);
    if (!set) valuesOf.set(k, (set = new Set()));
    set.add(row.value);
  }

  for (const candidate of wanted) {
    if (exists.has(candidate.key)) continue;
    if (series >= budgets.maxSeries) {
      refused.set(candidate.key, phrased('budget.tenantSeries', { max: budgets.maxSeries }));
      continue;
    }
    const inMetric = seriesOf.get(candidate.metricId) ?? 0;
    if (inMetric >= budgets.maxSeriesPerMetric) {
      refused.set(candidate.key, phrased('budget.metricSeries', { metric: candidate.metricName, max: budgets.maxSeriesPerMetric }));
      continue;
    }
    const newValues = Object.entries(candidate.tags).filter(([key, value]) => !valuesOf.get(`${candidate.metricId} ${key}`)?.has(value));
    const over = newValues.find(([key]) => (valuesOf.get(`${candidate.metricId} ${key}`)?.size ?? 0) >= budgets.maxTagValues);
    if (over) {
      refused.set(candidate.key, phrased('budget.tagValues', { key: over[0], metric: candidate.metricName, max: budgets.maxTagValues, value: over[1] }));
      continue;
    }
    series++;
    seriesOf.set(candidate.metricId, inMetric + 1);
    for (const [key, value] of newValues) {
      const k = `${candidate.metricId} ${key}`;
      let set = valuesOf.get(k);
      if (!set) valuesOf.set(k, (set = new Set()));
      set.add(value);
    }
  }
  return refused;
}
