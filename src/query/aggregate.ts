import { sql, type RawBuilder } from 'kysely';
import type { MetricType, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { bucketCount, bucketStarts, describeSources, GRANULARITIES, planSegments, type Granularity, type Segment } from './plan.js';
import { interpolate, QUANTILES, type QuantileField } from './sketch.js';
import { horizons as retentionHorizons, tenantRetention } from '../ops/retention.js';

export type TagFilter =
  | { key: string; equals: string }
  | { key: string; notEquals: string }
  | { key: string; in: string[] }
  | { key: string; notIn: string[] }
  | { key: string; exists: boolean };

export type Fill = 'NONE' | 'NULL' | 'ZERO' | 'PREVIOUS';

/** An aggregate query after validation: what `metricAggregates` and `liveAggregates` take. */
export interface AggregateQuery {
  metrics: string[];
  from: Date;
  to: Date;
  granularity: Granularity;
  tags: Tags;
  filters: TagFilter[];
  groupBy: string[];
  fill: Fill;
}

export interface Bucket {
  start: Date;
  end: Date;
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  avg: number | null;
  last: number | null;
  rate: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  /** A metric definition's value for the bucket (src/definitions); absent for recorded metrics. */
  value?: number | null;
}

export interface ResultSeries {
  metric: string;
  type: MetricType;
  unit: string | null;
  /** The group-by tag values of this series (keys a series lacks are left out). */
  tags: Tags;
  buckets: Bucket[];
}

export interface AggregateResult {
  granularity: Granularity;
  series: ResultSeries[];
  /** What answered: `stats_1h`, `sketch_5m`, `raw`, … */
  sources: string[];
  /** True when part of the range is older than the tenant's raw retention: answered from aggregates at their resolution (set by schema/aggregation.ts). */
  downsampled?: boolean;
}

export interface QueryLimits {
  /** series × buckets a single query may touch. */
  maxCells: number;
}

const ORIGIN = sql`timestamptz '2000-01-01 00:00:00+00'`;

/** The SQL condition for one tag filter; every user value is a parameter. */
export function filterSql(filter: TagFilter): RawBuilder<boolean> {
  const key = filter.key;
  if ('equals' in filter) return sql<boolean>`s.tags @> jsonb_build_object(${key}::text, ${filter.equals}::text)`;
  if ('notEquals' in filter) return sql<boolean>`(s.tags ->> ${key}::text) is distinct from ${filter.notEquals}::text`;
  if ('in' in filter) return sql<boolean>`(s.tags ->> ${key}::text) = any(${filter.in}::text[])`;
  if ('notIn' in filter) return sql<boolean>`not coalesce((s.tags ->> ${key}::text) = any(${filter.notIn}::text[]), false)`;
  return filter.exists ? sql<boolean>`jsonb_exists(s.tags, ${key}::text)` : sql<boolean>`not jsonb_exists(s.tags, ${key}::text)`;
}

interface SeriesRow {
  id: number;
  metric_id: number;
  tags: Tags;
}

/**
 * The series a query reads, with the group each belongs to. Reads ordinary tables only, so
 * row-level security decides what exists for this tenant.
 */
export async function resolveSeries(trx: TenantTx, query: Pick<AggregateQuery, 'metrics' | 'tags' | 'filters'>) {
  const metrics = await trx.selectFrom('metrics').select(['id', 'name', 'type', 'unit']).where('name', 'in', query.metrics).execute();
  const missing = query.metrics.filter((name) => !metrics.some((m) => m.name === name));
  if (missing.length > 0) throw userError('NOT_FOUND', `metric '${missing[0]}' does not exist in this tenant`, { metric: missing[0] });
  let select = trx
    .selectFrom('series as s')
    .select(['s.id', 's.metric_id', 's.tags'])
    .where(
      's.metric_id',
      'in',
      metrics.map((m) => m.id),
    );
  if (Object.keys(query.tags).length > 0) select = select.where(sql<boolean>`s.tags @> ${JSON.stringify(query.tags)}::jsonb`);
  for (const filter of query.filters) select = select.where(filterSql(filter));
  const series = (await select.execute()) as SeriesRow[];
  return { metrics, series };
}

/** The SQL bucket of a row stamped `time`: date_bin for fixed widths; report periods bring their own. */
export type BucketExpr = (time: RawBuilder<unknown>) => RawBuilder<unknown>;

const dateBin =
  (seconds: number): BucketExpr =>
  (time) =>
    sql`date_bin(make_interval(secs => ${seconds}::float8), ${time}, ${ORIGIN})`;

/** Rows (series_id, b, …) of one segment, bucketed by `bucket`: shared with formulas and reports (src/definitions). */
export function segmentSql(segment: Segment, kind: 'stats' | 'sketch', bucket: BucketExpr, ids: number[]): RawBuilder<unknown> {
  if (segment.source === 'raw') {
    const where = sql`series_id = any(${ids}::bigint[]) and time >= ${segment.from.toISOString()}::timestamptz and time < ${segment.to.toISOString()}::timestamptz`;
    return kind === 'stats'
      ? sql`select series_id, ${bucket(sql`time`)} as b, count(*)::float8 as n, sum(value) as s, min(value) as mn, max(value) as mx,
              max(time) as lt, (array_agg(value order by time desc))[1] as lv
            from tenant_points where ${where} group by 1, 2`
      : sql`select series_id, ${bucket(sql`time`)} as b, sketch_key(value) as k, count(*)::float8 as n
            from tenant_points where ${where} group by 1, 2, 3`;
  }
  const where = sql`series_id = any(${ids}::bigint[]) and bucket >= ${segment.from.toISOString()}::timestamptz and bucket < ${segment.to.toISOString()}::timestamptz`;
  // The view names come from a fixed list (LEVELS), never from the request.
  const view = sql.table(`tenant_${kind}_${segment.source}`);
  return kind === 'stats'
    ? sql`select series_id, ${bucket(sql`bucket`)} as b, sum(n)::float8 as n, sum(s) as s, min(mn) as mn, max(mx) as mx,
            max(lt) as lt, (array_agg(lv order by lt desc))[1] as lv
          from ${view} where ${where} group by 1, 2`
    : sql`select series_id, ${bucket(sql`bucket`)} as b, k, sum(n)::float8 as n
          from ${view} where ${where} group by 1, 2, 3`;
}

interface StatsRow {
  grp: number;
  b: Date;
  n: number;
  s: number;
  mn: number;
  mx: number;
  lv: number;
}

type QuantileRow = { grp: number; b: Date; total: number } & Record<`${QuantileField}_lo` | `${QuantileField}_hi`, number>;

/** Runs one aggregate query in the caller's tenant transaction. */
export async function runAggregate(trx: TenantTx, query: AggregateQuery, options: { timescale: boolean; percentiles: boolean; limits: QueryLimits }): Promise<AggregateResult> {
  const granularityMs = GRANULARITIES[query.granularity];
  const { metrics, series } = await resolveSeries(trx, query);
  const buckets = bucketCount(query.from, query.to, granularityMs);
  if (series.length * buckets > options.limits.maxCells) {
    throw userError(
      'LIMIT_EXCEEDED',
      `This query would read ${series.length} series × ${buckets} buckets, over the limit of ${options.limits.maxCells}. Narrow the range, coarsen the granularity or filter by tags.`,
      { limit: options.limits.maxCells },
    );
  }

  // Groups: one per (metric, group-by values), in a stable order.
  const metricById = new Map(metrics.map((m) => [m.id, m]));
  const groups: Array<{ metricIndex: number; key: string; tags: Tags }> = [];
  const groupIndex = new Map<string, number>();
  const ids: number[] = [];
  const grps: number[] = [];
  for (const row of series) {
    const metric = metricById.get(row.metric_id)!;
    const tags: Tags = {};
    for (const key of query.groupBy) if (row.tags[key] !== undefined) tags[key] = row.tags[key];
    // Groups sort by their values in groupBy order (a missing value sorts last).
    const key = `${metric.name}\u0000${JSON.stringify(query.groupBy.map((k) => tags[k] ?? null))}`;
    let index = groupIndex.get(key);
    if (index === undefined) {
      index = groups.length;
      groupIndex.set(key, index);
      groups.push({ metricIndex: query.metrics.indexOf(metric.name), key, tags });
    }
    ids.push(row.id);
    grps.push(index);
  }

  // Retention (src/ops/retention.ts): where raw points are gone, the planner reads the levels left.
  const horizons = options.timescale ? retentionHorizons(await tenantRetention(trx), Date.now()) : undefined;
  const segments = planSegments(query.from, query.to, granularityMs, options.timescale, horizons);
  const seconds = granularityMs / 1000;
  const sources = describeSources(segments, 'stats');
  const stats = new Map<string, StatsRow>();
  const quantiles = new Map<string, QuantileRow>();

  if (ids.length > 0 && segments.length > 0) {
    const selection = sql`unnest(${ids}::bigint[], ${grps}::int[]) as sel (series_id, grp)`;
    const statsUnion = sql.join(segments.map((s) => segmentSql(s, 'stats', dateBin(seconds), ids)), sql` union all `);
    const { rows } = await sql<StatsRow>`
      select sel.grp, seg.b, sum(seg.n) as n, sum(seg.s) as s, min(seg.mn) as mn, max(seg.mx) as mx,
             (array_agg(seg.lv order by seg.lt desc))[1] as lv
      from (${statsUnion}) seg join ${selection} on sel.series_id = seg.series_id
      group by sel.grp, seg.b`.execute(trx);
    for (const row of rows) stats.set(`${row.grp}:${new Date(row.b).getTime()}`, row);

    if (options.percentiles) {
      for (const source of describeSources(segments, 'sketch')) if (!sources.includes(source)) sources.push(source);
      const sketchUnion = sql.join(segments.map((s) => segmentSql(s, 'sketch', dateBin(seconds), ids)), sql` union all `);
      const picks = Object.entries(QUANTILES).map(
        ([field, q]) => sql`min(k) filter (where cum > floor(${q}::float8 * (total - 1))) as ${sql.ref(`${field}_lo`)},
                            min(k) filter (where cum > ceil(${q}::float8 * (total - 1))) as ${sql.ref(`${field}_hi`)}`,
      );
      // A running count over the merged histogram of each (group, bucket) finds the keys that
      // hold the ranks around q·(n-1); interpolate() turns them into values.
      const { rows: qrows } = await sql<QuantileRow>`
        with h as (
          select sel.grp, seg.b, seg.k, sum(seg.n) as n
          from (${sketchUnion}) seg join ${selection} on sel.series_id = seg.series_id
          group by sel.grp, seg.b, seg.k
        ), c as (
          select grp, b, k, sum(n) over (partition by grp, b order by k) as cum, sum(n) over (partition by grp, b) as total from h
        )
        select grp, b, max(total) as total, ${sql.join(picks)}
        from c group by grp, b`.execute(trx);
      for (const row of qrows) quantiles.set(`${row.grp}:${new Date(row.b).getTime()}`, row);
    }
  }

  // #16: buckets come from the rows read, not from every start of the range (which may be far
  // more than the rows); the starts are listed only when this call itself fills (the entry
  // points budget the range first, src/query/budget.ts, and fill per page, src/query/fill.ts).
  const rowStarts = new Map<number, number[]>();
  for (const key of stats.keys()) {
    const [grp, start] = key.split(':').map(Number) as [number, number];
    let list = rowStarts.get(grp);
    if (!list) rowStarts.set(grp, (list = []));
    list.push(start);
  }
  for (const list of rowStarts.values()) list.sort((a, b) => a - b);
  const starts = query.fill === 'NONE' ? [] : bucketStarts(query.from, query.to, granularityMs);
  const result: ResultSeries[] = groups
    .map((group, index) => {
      const metric = metrics.find((m) => m.name === query.metrics[group.metricIndex])!;
      return { group, index, metric };
    })
    .sort((a, b) => a.group.metricIndex - b.group.metricIndex || (a.group.key < b.group.key ? -1 : a.group.key > b.group.key ? 1 : 0))
    .map(({ group, index, metric }) => ({
      metric: metric.name,
      type: metric.type,
      unit: metric.unit,
      tags: group.tags,
      buckets: fillBuckets(
        (query.fill === 'NONE' ? (rowStarts.get(index) ?? []) : starts).flatMap((start) => {
          const row = stats.get(`${index}:${start}`);
          return row ? [toBucket(start, granularityMs, query, metric.type, row, quantiles.get(`${index}:${start}`))] : [];
        }),
        starts,
        granularityMs,
        query.fill,
        metric.type,
      ),
    }));
  return { granularity: query.granularity, series: result, sources };
}

function toBucket(start: number, width: number, query: AggregateQuery, type: MetricType, row: StatsRow, q: QuantileRow | undefined): Bucket {
  const n = Number(row.n);
  const covered = (Math.min(start + width, query.to.getTime()) - Math.max(start, query.from.getTime())) / 1000;
  // A quantile lies between the bucket's min and max; clamping keeps the sketch's rounding
  // (≤ 1 %) from ever reporting a value no point had, e.g. p99 of a single 1 as 0.99.
  const percentile = (field: QuantileField) =>
    q ? Math.min(row.mx, Math.max(row.mn, interpolate(QUANTILES[field], Number(q.total), q[`${field}_lo`], q[`${field}_hi`]))) : null;
  return {
    start: new Date(start),
    end: new Date(start + width),
    count: n,
    sum: row.s,
    min: row.mn,
    max: row.mx,
    avg: n > 0 ? row.s / n : null,
    last: type === 'COUNTER' ? null : row.lv,
    rate: type === 'COUNTER' && covered > 0 ? row.s / covered : null,
    p50: percentile('p50'),
    p90: percentile('p90'),
    p95: percentile('p95'),
    p99: percentile('p99'),
  };
}

const EMPTY = { count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null };

/** Adds the empty buckets the fill mode asks for. */
export function fillBuckets(buckets: Bucket[], starts: number[], width: number, fill: Fill, type: MetricType): Bucket[] {
  if (fill === 'NONE') return buckets;
  const byStart = new Map(buckets.map((b) => [b.start.getTime(), b]));
  let previous: Bucket | undefined;
  return starts.map((start) => {
    const found = byStart.get(start);
    if (found) return (previous = found);
    const frame = { start: new Date(start), end: new Date(start + width) };
    if (fill === 'ZERO') {
      const zero = type === 'COUNTER' ? { rate: 0, last: null } : { rate: null, last: 0 };
      return { ...frame, count: 0, sum: 0, min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, ...zero };
    }
    if (fill === 'PREVIOUS' && previous) return { ...previous, ...frame, count: 0 };
    return { ...frame, ...EMPTY };
  });
}
