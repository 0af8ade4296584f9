import { sql, type RawBuilder } from 'kysely';
import type { MetricType, TagFilter, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { GRANULARITIES, type Granularity } from './plan.js';
import { boundedBuckets, bucketWindows, describe, fixedBuckets, readBuckets, type Bucketing, type MergedBucket, type Source } from './read-buckets.js';
import { yieldToLoop } from './budget.js';
import { QUANTILES, type QuantileField } from './sketch.js';
import { horizons as retentionHorizons, withDefaults } from '../ops/retention.js';
import { avoidDirty, dirtyOf, lateOf, mergeIntervals, planBucketwise } from './invalidations.js';
import { groupReading } from './group-levels.js';

/** A tag filter of a query, as a definition stores it too (one declaration: src/db/tables.ts). */
export type { TagFilter } from '../db/tables.js';

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
  /**
   * One bucket over exactly [from, to) instead of buckets at `granularity` (alert windows:
   * percentiles merge every sketch inside the window, whether or not it crosses midnight UTC).
   * Not offered through GraphQL.
   */
  window?: boolean;
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
  /** True when part of the range is older than the tenant's raw retention: answered from aggregates at their resolution. */
  downsampled?: boolean;
}

export interface QueryLimits {
  /** series × buckets a single query may touch. */
  maxCells: number;
}

/**
 * #16: the series × buckets a read was admitted for through the read gate (answerQuery), counted
 * in another transaction before it. Each part of an answer takes its cells from it as soon as
 * its series are resolved, before any bucket is read: series created since they were counted
 * would make the read bigger than its admission, and it stops there with ReadOutgrown.
 */
export interface ReadAllowance {
  cells: number;
}

/** A read resolved more series than it was admitted for: admit it again, for more, and read again. */
export class ReadOutgrown extends Error {
  constructor() {
    super('the answer resolved more series than were counted when its read was admitted');
  }
}

/** Takes `cells` from `allowance` (none: nothing to take), or throws ReadOutgrown when they are not there. */
export function takeCells(allowance: ReadAllowance | undefined, cells: number): void {
  if (!allowance) return;
  if (cells > allowance.cells) throw new ReadOutgrown();
  allowance.cells -= cells;
}

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

/** The conditions on `series s` that pick the series of metric `m` a query reads: its tags and filters. */
export function seriesOfMetric(query: Pick<AggregateQuery, 'tags' | 'filters'>): Array<RawBuilder<boolean>> {
  const conditions = [sql<boolean>`s.metric_id = m.id`];
  if (Object.keys(query.tags).length > 0) conditions.push(sql<boolean>`s.tags @> ${JSON.stringify(query.tags)}::jsonb`);
  for (const filter of query.filters) conditions.push(filterSql(filter));
  return conditions;
}

/**
 * The series a query reads, with the group each belongs to, in one statement (each round trip
 * is a fixed cost of every answer). Reads ordinary tables only, so row-level security decides
 * what exists for this tenant. With `within` (the aggregate path on TimescaleDB), the same
 * statement also reads the tenant's retention row and the late ranges of these metrics
 * overlapping [from, to) (src/query/invalidations.ts), which runAggregate would otherwise read
 * in two more round trips.
 */
export async function resolveSeries(trx: TenantTx, query: Pick<AggregateQuery, 'metrics' | 'tags' | 'filters'>, within?: { from: Date; to: Date }) {
  const conditions = seriesOfMetric(query);
  const context = within
    ? sql`, (select to_jsonb(r) from tenant_retention r) as retention,
        (select json_agg(json_build_array(extract(epoch from i.lo) * 1000, extract(epoch from i.hi) * 1000))
           from aggregate_invalidations i
           where i.metric_id = m.id and i.hi >= ${within.from.toISOString()}::timestamptz and i.lo < ${within.to.toISOString()}::timestamptz) as late`
    : sql``;
  const { rows } = await sql<{
    id: number;
    name: string;
    type: MetricType;
    unit: string | null;
    series: Array<[number, Tags]> | null;
    retention?: Parameters<typeof withDefaults>[0] | null;
    late?: Array<[number | string, number | string]> | null;
  }>`
    select m.id, m.name, m.type, m.unit,
      (select json_agg(json_build_array(s.id, s.tags) order by s.id) from series s where ${sql.join(conditions, sql` and `)}) as series${context}
    from metrics m where m.name = any(${query.metrics}::text[])`.execute(trx);
  const metrics = rows.map(({ series: _series, retention: _retention, late: _late, ...metric }) => ({ ...metric, id: Number(metric.id) }));
  const missing = query.metrics.filter((name) => !metrics.some((m) => m.name === name));
  if (missing.length > 0) throw userError('NOT_FOUND', 'metric.notFound', { metric: missing[0]! }, { metric: missing[0] });
  const series: SeriesRow[] = rows.flatMap((m) => (m.series ?? []).map(([id, tags]) => ({ id, metric_id: Number(m.id), tags })));
  return {
    metrics,
    series,
    retention: withDefaults(rows[0]?.retention ?? undefined),
    late: rows.flatMap((m) => (m.late ?? []).map(([lo, hi]) => [Number(lo), Number(hi)] as const)),
  };
}

/**
 * The buckets of an answer: fixed widths at the query's granularity, or, for a `window` query,
 * one bucket over exactly [from, to) whose percentiles merge every sketch inside it.
 */
export function bucketingOf(query: Pick<AggregateQuery, 'from' | 'to' | 'granularity' | 'window'>): Bucketing {
  return query.window ? boundedBuckets([query.from.getTime(), query.to.getTime()]) : fixedBuckets(query.from, query.to, GRANULARITIES[query.granularity]);
}

const FIELDS = Object.keys(QUANTILES) as QuantileField[];

/**
 * series × buckets one statement of an answer reads at most; a wider answer is read in several.
 * On the embedded engine a statement holds the one connection while it runs, and every other
 * request waits for it: over dense data (a point every other minute, 20 series, percentiles) a
 * 10 000-cell statement took about 300 ms (bench/abuse.ts); a quarter of that keeps each under
 * 100 ms. (Until the engine had a thread of its own, the event loop and /health/live waited too.)
 */
export const STATEMENT_CELLS = 2_500;

/** Runs one aggregate query in the caller's tenant transaction. */
export async function runAggregate(
  trx: TenantTx,
  query: AggregateQuery,
  options: { timescale: boolean; percentiles: boolean; limits: QueryLimits; rawRanges?: Array<{ from: Date; to: Date }>; allowance?: ReadAllowance },
): Promise<AggregateResult> {
  const bucketing = bucketingOf(query);
  const { metrics, series, retention, late: lateRows } = await resolveSeries(trx, query, options.timescale ? query : undefined);
  const buckets = bucketing.count;
  if (series.length * buckets > options.limits.maxCells) {
    throw userError(
      'LIMIT_EXCEEDED',
      'query.overCells', { series: series.length, buckets, limit: options.limits.maxCells },
      { limit: options.limits.maxCells },
    );
  }
  takeCells(options.allowance, series.length * buckets);

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
    ids.push(Number(row.id));
    grps.push(index);
  }

  // Retention (src/ops/retention.ts): where raw points are gone, the planner reads the levels left.
  const horizons = options.timescale ? retentionHorizons(retention, Date.now()) : undefined;
  // Ranges with late points the aggregates do not hold yet are read from raw points until the
  // late-points job has recomputed them (src/query/invalidations.ts).
  const late = options.timescale && ids.length > 0 ? lateOf(dirtyOf(lateRows, query.from, query.to), horizons) : [];
  // The same re-planning as definitions and reports (avoidDirty): the late ranges exactly from
  // raw points, what a level's segment keeps around them planned again with finer levels.
  const dirty = mergeIntervals([...(options.rawRanges ?? []), ...late].map((r) => ({ from: r.from.getTime(), to: r.to.getTime() })));
  // Where the hourly and daily levels keep whole tag groups the answer needs, they are read
  // instead of the groups' series (src/query/group-levels.ts).
  const grouped = options.timescale ? groupReading(query, series.map((row, i) => ({ id: ids[i]!, metricId: Number(row.metric_id), tags: row.tags })), grps) : null;
  const selection = grouped ? { ids: [...ids, ...grouped.ids], grps: [...grps, ...grouped.grps], groups: grouped.reading } : { ids, grps };
  // #16: read in windows of at most STATEMENT_CELLS series × buckets, each planned and read on
  // its own, with the event loop given back in between: on the embedded engine a statement
  // holds the one connection (and grows the engine's memory, which never shrinks) for as long
  // as it reads, and a 20-series answer of 10 000 MINUTE buckets in one statement held it for
  // seconds.
  const read: Source[] = [];
  const merged: MergedBucket[] = [];
  const windows = bucketWindows(bucketing, STATEMENT_CELLS / Math.max(1, ids.length));
  for (const [i, { offset, bucketing: window }] of windows.entries()) {
    if (i > 0) await yieldToLoop();
    const segments = avoidDirty(window.plan(options.timescale, horizons), dirty, (from, to) => planBucketwise(window, from, to, options.timescale, horizons));
    read.push(...segments);
    const rows = await readBuckets(trx, { sources: segments, bucketing: window, selection, qs: options.percentiles ? FIELDS.map((f) => QUANTILES[f]) : [] });
    for (const row of rows) merged.push(offset === 0 ? row : { ...row, index: row.index + offset });
  }
  const sources = describe(read, options.percentiles ? ['stats', 'sketch'] : ['stats'], grouped?.reading);
  const byGroup = new Map<number, MergedBucket[]>();
  for (const bucket of merged) {
    const list = byGroup.get(bucket.grp);
    if (list) list.push(bucket);
    else byGroup.set(bucket.grp, [bucket]);
  }

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
      // Buckets with points only: a fill mode is applied per page by src/query/fill.ts.
      buckets: (byGroup.get(index) ?? []).sort((a, b) => a.index - b.index).map((row) => toBucket(bucketing, query, metric.type, row)),
    }));
  // Part of the range is older than the tenant keeps raw points: answered at the levels' resolution.
  const downsampled = horizons !== undefined && query.from.getTime() < horizons.raw;
  return { granularity: query.granularity, series: result, sources, downsampled };
}

function toBucket(bucketing: Bucketing, query: AggregateQuery, type: MetricType, row: MergedBucket): Bucket {
  const start = bucketing.start(row.index);
  const end = bucketing.end(row.index);
  const covered = (Math.min(end, query.to.getTime()) - Math.max(start, query.from.getTime())) / 1000;
  const q = (field: QuantileField) => row.quantiles?.[FIELDS.indexOf(field)] ?? null;
  return {
    start: new Date(start),
    end: new Date(end),
    count: row.n,
    sum: row.s,
    min: row.mn,
    max: row.mx,
    avg: row.n > 0 ? row.s / row.n : null,
    last: type === 'COUNTER' ? null : row.lv,
    rate: type === 'COUNTER' && covered > 0 ? row.s / covered : null,
    p50: q('p50'),
    p90: q('p90'),
    p95: q('p95'),
    p99: q('p99'),
  };
}
