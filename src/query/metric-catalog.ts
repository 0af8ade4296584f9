/**
 * What a tenant's recorded metrics hold, beside their aggregates: the latest value and the tag
 * keys and values of their series. Each takes the caller's tenant transaction, so it reads
 * that tenant's rows only (series by row-level security, points through tenant views).
 * The same questions for a metric definition are in src/definitions/evaluate-definition.ts.
 */
import { sql } from 'kysely';
import type { Metric, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';

/**
 * The latest value of `metric` over its series whose tags include `tags`; null without points.
 * A counter's is its total (the sum over all its points, from the daily aggregate where there
 * is one) stamped with its newest point; anything else's is the newest point's value.
 */
export async function latestMetricValue(trx: TenantTx, metric: Pick<Metric, 'id' | 'type'>, tags: Tags, options: { timescale: boolean }): Promise<{ value: number; timestamp: Date } | null> {
  const series = trx.selectFrom('series as s').select('s.id').where('s.metric_id', '=', metric.id).where(sql<boolean>`s.tags @> ${JSON.stringify(tags)}::jsonb`);
  let row: { value: number | null; timestamp: Date | null } | undefined;
  if (metric.type === 'COUNTER') {
    row = options.timescale
      ? await trx
          .selectFrom('tenant_stats_1d')
          .select((eb) => [eb.fn.sum<number | null>('s').as('value'), eb.fn.max('lt').as('timestamp')])
          .where('series_id', 'in', series)
          .executeTakeFirst()
      : await counterTotal(trx, (await series.execute()).map((s) => s.id));
  } else {
    // One index probe per series (lateral), then the newest of those.
    row = await trx
      .selectFrom(series.as('s'))
      .innerJoinLateral(
        (eb) => eb.selectFrom('tenant_points').select(['value', 'time']).whereRef('series_id', '=', 's.id').orderBy('time', 'desc').limit(1).as('p'),
        (join) => join.onTrue(),
      )
      .select(['p.value', 'p.time as timestamp'])
      .orderBy('p.time', 'desc')
      .limit(1)
      .executeTakeFirst();
  }
  if (!row || row.value === null || row.timestamp === null) return null;
  return { value: Number(row.value), timestamp: new Date(row.timestamp) };
}

/**
 * The sum and newest time of the raw points of `seriesIds`. The ids go as an array, which the
 * planner takes into the tenant view as an index condition: joined to `series` instead (`in`
 * a subquery), it scanned every tenant's points for the tenant filter (test/tenant-read-cost.test.ts).
 */
async function counterTotal(trx: TenantTx, seriesIds: number[]) {
  if (seriesIds.length === 0) return undefined;
  return trx
    .selectFrom('tenant_points')
    .select((eb) => [eb.fn.sum<number | null>('value').as('value'), eb.fn.max('time').as('timestamp')])
    .where(sql<boolean>`series_id = any(${seriesIds}::bigint[])`)
    .executeTakeFirst();
}

/** The tag keys `metricId`'s series use, alphabetically (at most 1000). */
export async function metricTagKeys(trx: TenantTx, metricId: Metric['id']): Promise<string[]> {
  const rows = await trx
    .selectFrom('series')
    .select((eb) => eb.fn<string>('jsonb_object_keys', ['tags']).as('key'))
    .distinct()
    .where('metric_id', '=', metricId)
    .orderBy('key')
    .limit(1000)
    .execute();
  return rows.map((r) => r.key);
}

/** The values of tag `key` in `metricId`'s series that start with `prefix`, alphabetically, at most `limit`. */
export async function metricTagValues(trx: TenantTx, metricId: Metric['id'], key: string, prefix: string, limit: number): Promise<string[]> {
  const { rows } = await sql<{ value: string }>`
    select distinct tags ->> ${key}::text as value from series
    where metric_id = ${metricId} and jsonb_exists(tags, ${key}::text)
      and starts_with(tags ->> ${key}::text, ${prefix}::text)
    order by value limit ${limit}`.execute(trx);
  return rows.map((r) => r.value);
}

/** A stored point as metricPoints lists it, with its series' tags and its metric. */
export interface PointRow {
  id: string;
  time: Date;
  value: number;
  series_id: number;
  tags: Tags;
  name: string;
  type: Metric['type'];
  unit: string | null;
}

/**
 * Raw points of metric `name`, newest first (time, then id), whose series' tags include `tags`,
 * in [from, to), after the position `after` (the last point of the previous page); at most
 * `limit` + 1 rows, so the caller can tell whether a next page exists.
 *
 * The tenant's series first, then each series' newest points through its (series_id, time)
 * index (lateral). Joined the other way, the planner kept the tenant view whole and scanned
 * every tenant's points for the tenant filter: one tenant's page cost what all tenants had
 * stored (test/tenant-read-cost.test.ts).
 */
export async function readPoints(
  trx: TenantTx,
  name: string,
  options: { tags?: Tags | null; from?: Date | null; to?: Date | null; after: { time: Date; id: string } | null; limit: number },
): Promise<PointRow[]> {
  const { from, to, after, limit } = options;
  let query = trx
    .selectFrom('series as s')
    .innerJoin('metrics as m', 'm.id', 's.metric_id')
    .innerJoinLateral(
      (eb) => {
        let points = eb.selectFrom('tenant_points as p').select(['p.id', 'p.time', 'p.value']).whereRef('p.series_id', '=', 's.id');
        if (from) points = points.where('p.time', '>=', from);
        if (to) points = points.where('p.time', '<', to);
        if (after) points = points.where(sql<boolean>`(p.time, p.id) < (${after.time.toISOString()}::timestamptz, ${after.id}::uuid)`);
        return points.orderBy('p.time', 'desc').orderBy('p.id', 'desc').limit(limit + 1).as('p');
      },
      (join) => join.onTrue(),
    )
    .select(['p.id', 'p.time', 'p.value', 's.id as series_id', 's.tags', 'm.name', 'm.type', 'm.unit'])
    .where('m.name', '=', name)
    .orderBy('p.time', 'desc')
    .orderBy('p.id', 'desc')
    .limit(limit + 1);
  if (options.tags && Object.keys(options.tags).length > 0) query = query.where(sql<boolean>`s.tags @> ${JSON.stringify(options.tags)}::jsonb`);
  return (await query.execute()) as PointRow[];
}

/** The tenant's metrics, alphabetically, those starting with `prefix` when given, each with its number of series. */
export async function listMetrics(trx: TenantTx, options: { prefix?: string | null; limit: number }): Promise<Array<Pick<Metric, 'name' | 'type' | 'unit'> & { seriesCount: number }>> {
  let query = trx
    .selectFrom('metrics as m')
    .select(['m.name', 'm.type', 'm.unit'])
    .select((eb) => eb.selectFrom('series as s').whereRef('s.metric_id', '=', 'm.id').select(eb.fn.countAll<number>().as('n')).as('seriesCount'))
    .orderBy('m.name')
    .limit(options.limit);
  if (options.prefix) query = query.where(sql<boolean>`starts_with(m.name, ${options.prefix})`);
  const rows = await query.execute();
  return rows.map((r) => ({ ...r, seriesCount: Number(r.seriesCount ?? 0) }));
}
