/**
 * Reading per-bucket statistics and sketches for formulas and reports: which sources answer
 * (raw points, continuous aggregates, report rollups), how rows fall into buckets (fixed widths
 * or calendar periods), and the SQL that merges them per (group, bucket).
 *
 * Every user value reaches SQL as a parameter; the only identifiers built here come from fixed
 * lists (aggregate levels, rollup periods).
 */
import { sql, type RawBuilder } from 'kysely';
import { segmentSql, type BucketExpr } from '../query/aggregate.js';
import { bucketStarts, DAY, planSegments, type Segment } from '../query/plan.js';
import type { RollupPeriod } from './tables.js';

/** A part of the range read from the report rollups of one period kind (src/definitions/roll-up-reports.ts). */
export interface RollupSegment {
  source: 'rollup';
  period: RollupPeriod;
  from: Date;
  to: Date;
}

export type Source = Segment | RollupSegment;

/** How rows fall into the buckets of an answer. */
export interface Bucketing {
  from: Date;
  to: Date;
  /** Start (ms) of each bucket, oldest first; bucket i ends at ends[i]. */
  starts: number[];
  ends: number[];
  /** The SQL bucket of a row stamped `time`. */
  of: BucketExpr;
  /** Seconds of bucket `b` (a value of `of`) inside [from, to): what `rate` divides by. */
  covered(b: RawBuilder<unknown>): RawBuilder<number>;
  /** The index in `starts` of a bucket value as the database returns it. */
  index(b: unknown): number;
  /** The sources that answer [from, to) exactly with these buckets. */
  plan(timescale: boolean): Segment[];
}

const ORIGIN = sql`timestamptz '2000-01-01 00:00:00+00'`;

/** Fixed-width buckets aligned to the epoch, as metricAggregates has them. */
export function fixedBuckets(from: Date, to: Date, widthMs: number): Bucketing {
  const starts = bucketStarts(from, to, widthMs);
  const first = starts[0] ?? from.getTime();
  const seconds = widthMs / 1000;
  return {
    from,
    to,
    starts,
    ends: starts.map((s) => s + widthMs),
    of: (time) => sql`date_bin(make_interval(secs => ${seconds}::float8), ${time}, ${ORIGIN})`,
    covered: (b) =>
      sql<number>`extract(epoch from least(${b} + make_interval(secs => ${seconds}::float8), ${to.toISOString()}::timestamptz)
                                    - greatest(${b}, ${from.toISOString()}::timestamptz))::float8`,
    index: (b) => Math.round((new Date(b as string | Date).getTime() - first) / widthMs),
    plan: (timescale) => planSegments(from, to, widthMs, timescale),
  };
}

/**
 * Buckets between consecutive `bounds` (ms, ascending): calendar days, weeks or months in a
 * time zone. The SQL bucket is the 0-based index of the interval (width_bucket over the bounds).
 */
export function boundedBuckets(bounds: number[]): Bucketing {
  if (bounds.length < 2) throw new Error('boundedBuckets needs at least two bounds');
  const iso = bounds.map((b) => new Date(b).toISOString());
  return {
    from: new Date(bounds[0]!),
    to: new Date(bounds.at(-1)!),
    starts: bounds.slice(0, -1),
    ends: bounds.slice(1),
    of: (time) => sql`(width_bucket(${time}, ${iso}::timestamptz[]) - 1)`,
    // Arrays are 1-based: interval i runs from bounds[i + 1] to bounds[i + 2].
    covered: (b) => sql<number>`extract(epoch from (${iso}::timestamptz[])[${b} + 2] - (${iso}::timestamptz[])[${b} + 1])::float8`,
    index: (b) => Number(b),
    plan: (timescale) => mergeSegments(bounds.slice(1).flatMap((end, i) => planSegments(new Date(bounds[i]!), new Date(end), DAY, timescale))),
  };
}

/** Joins neighbouring segments of the same source, so a year of days reads the 1d level once. */
export function mergeSegments<S extends Source>(segments: S[]): S[] {
  const merged: S[] = [];
  for (const segment of segments) {
    const last = merged.at(-1);
    const samePeriod = last && (last.source !== 'rollup' || (segment.source === 'rollup' && last.period === segment.period));
    if (last && last.source === segment.source && samePeriod && last.to.getTime() === segment.from.getTime()) {
      merged[merged.length - 1] = { ...last, to: segment.to };
    } else merged.push(segment);
  }
  return merged;
}

/** Short names of what answered, e.g. `rollup_month`, `stats_1d`, `raw`. */
export function describe(sources: Source[], kinds: Array<'stats' | 'sketch'>): string[] {
  const names = new Set<string>();
  for (const kind of kinds) {
    for (const s of sources) names.add(s.source === 'raw' ? 'raw' : s.source === 'rollup' ? `rollup_${s.period.toLowerCase()}` : `${kind}_${s.source}`);
  }
  return [...names];
}

/** Rows (series_id, b, n, s, mn, mx, lt, lv) or (series_id, b, k, n) of one source. */
function sourceSql(source: Source, kind: 'stats' | 'sketch', bucketing: Bucketing, ids: number[]): RawBuilder<unknown> {
  if (source.source !== 'rollup') return segmentSql(source, kind, bucketing.of, ids);
  const where = sql`period = ${source.period} and start >= ${source.from.toISOString()}::timestamptz and start < ${source.to.toISOString()}::timestamptz
                    and series_id = any(${ids}::bigint[])`;
  return kind === 'stats'
    ? sql`select series_id, ${bucketing.of(sql`start`)} as b, n::float8 as n, s, mn, mx, lt, lv from report_rollup_stats where ${where}`
    : sql`select series_id, ${bucketing.of(sql`start`)} as b, k, n::float8 as n from report_rollup_sketch where ${where}`;
}

export function unionSql(sources: Source[], kind: 'stats' | 'sketch', bucketing: Bucketing, ids: number[]): RawBuilder<unknown> {
  return sql.join(
    sources.map((s) => sourceSql(s, kind, bucketing, ids)),
    sql` union all `,
  );
}

/** The series a reference reads and the group each one belongs to (and, for count_distinct, its tag value). */
export interface Selection {
  ids: number[];
  grps: number[];
  values?: Array<string | null>;
}

export function selectionSql(selection: Selection): RawBuilder<unknown> {
  return selection.values
    ? sql`unnest(${selection.ids}::bigint[], ${selection.grps}::int[], ${selection.values}::text[]) as sel (series_id, grp, val)`
    : sql`unnest(${selection.ids}::bigint[], ${selection.grps}::int[]) as sel (series_id, grp)`;
}

/**
 * Per (grp, b): n, s, mn, mx and lv (the newest value). `last` of a group is the value of its
 * newest point across series, as in metricAggregates.
 *
 *   grp | b                      | n   | s     | mn | mx | lv
 *   0   | 2026-11-20 00:00:00+00 | 240 | 1071  | 0  | 9  | 4
 */
export function statsSql(sources: Source[], bucketing: Bucketing, selection: Selection): RawBuilder<unknown> {
  return sql`select sel.grp, seg.b, sum(seg.n)::float8 as n, sum(seg.s)::float8 as s, min(seg.mn) as mn, max(seg.mx) as mx,
                    (array_agg(seg.lv order by seg.lt desc))[1] as lv
             from (${unionSql(sources, 'stats', bucketing, selection.ids)}) seg join ${selectionSql(selection)} on sel.series_id = seg.series_id
             group by sel.grp, seg.b`;
}

/**
 * Per (grp, b): the quantile q of the merged sketch, interpolated between the keys that hold
 * the ranks around q·(n-1) (as percentile_cont does) and clamped to the bucket's min and max,
 * exactly as metricAggregates computes its percentiles. `stats` names a CTE of statsSql rows
 * for the same selection.
 */
export function quantileSql(sources: Source[], bucketing: Bucketing, selection: Selection, q: number, stats: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    select x.grp, x.b, st.n,
           least(st.mx, greatest(st.mn, sketch_value(x.lo) + (x.rank - floor(x.rank)) * (sketch_value(x.hi) - sketch_value(x.lo)))) as v
    from (
      select grp, b, ${q}::float8 * (max(total) - 1) as rank,
             min(k) filter (where cum > floor(${q}::float8 * (total - 1))) as lo,
             min(k) filter (where cum > ceil(${q}::float8 * (total - 1))) as hi
      from (
        select grp, b, k, sum(n) over (partition by grp, b order by k) as cum, sum(n) over (partition by grp, b) as total
        from (
          select sel.grp, seg.b, seg.k, sum(seg.n) as n
          from (${unionSql(sources, 'sketch', bucketing, selection.ids)}) seg join ${selectionSql(selection)} on sel.series_id = seg.series_id
          group by sel.grp, seg.b, seg.k
        ) h
      ) c
      group by grp, b
    ) x join ${stats} st on st.grp = x.grp and st.b = x.b`;
}
