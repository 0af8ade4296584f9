/**
 * The one bucket reader: every path that answers per-bucket statistics and percentiles
 * (metricAggregates, metric definitions, reports, alerts, liveAggregates, exports) reads
 * through this module. It knows which sources answer (raw points, continuous aggregate levels,
 * report rollups), how rows fall into buckets (fixed widths, calendar periods, one window),
 * and how stats and sketches merge per (group, bucket):
 *   - readBuckets() merges in memory, for answers served as JSON (the sketches' arrays are
 *     merged cell by cell in JavaScript: the cost follows series × buckets, not points);
 *   - statsSql() and quantileSql() merge in SQL, for formulas compiled to one statement.
 * Both give the same percentiles: the exact min and max at the extreme ranks, cell
 * representatives in between (src/query/sketch.ts states the bound).
 *
 * Every user value reaches SQL as a parameter; the only identifiers built here come from fixed
 * lists (aggregate levels, rollup periods).
 */
import { sql, type RawBuilder } from 'kysely';
import type { TenantTx } from '../db/tenant.js';
import type { AggregateView, LevelSketch, LevelStats, RollupPeriod } from '../db/tables.js';
import { bucketStarts, DAY, GROUP_LEVELS, planSegments, type Horizons, type LevelName, type Segment } from './plan.js';
import type { GroupReading } from './group-levels.js';
import { addCells, KEPT_QUANTILES, keptQuantiles, quantiles, type Cells } from './sketch.js';

/** A part of the range read from the report rollups of one period kind (src/definitions/roll-up-reports.ts). */
export interface RollupSegment {
  source: 'rollup';
  period: RollupPeriod;
  from: Date;
  to: Date;
}

export type Source = Segment | RollupSegment;

/** The SQL bucket of a row stamped `time`. */
export type BucketExpr = (time: RawBuilder<unknown>) => RawBuilder<unknown>;

/** How rows fall into the buckets of an answer. */
export interface Bucketing {
  from: Date;
  to: Date;
  /** How many buckets: known without listing them, so a budget can be checked before anything grows with the range. */
  count: number;
  /** Start and end (ms) of bucket i, without listing the others. */
  start(i: number): number;
  end(i: number): number;
  /**
   * Start (ms) of each bucket, oldest first; bucket i ends at ends[i]. Fixed-width buckets list
   * them only when asked (#16: two arrays of 100 000 numbers are large objects V8 frees only in
   * a full collection, made even for a request then refused): use count, start(i) and end(i).
   */
  starts: number[];
  ends: number[];
  /** The SQL bucket of a row stamped `time`. */
  of: BucketExpr;
  /** Fixed-width buckets: their width (ms); a level of that width is read without regrouping. */
  widthMs?: number;
  /** Seconds of bucket `b` (a value of `of`) inside [from, to): what `rate` divides by. */
  covered(b: RawBuilder<unknown>): RawBuilder<number>;
  /** The index in `starts` of a bucket value as the database returns it. */
  index(b: unknown): number;
  /** The sources that answer [from, to) exactly with these buckets (`horizons`: retention, src/query/plan.ts). */
  plan(timescale: boolean, horizons?: Horizons): Segment[];
}

const ORIGIN = sql`timestamptz '2000-01-01 00:00:00+00'`;

/** Fixed-width buckets aligned to the epoch, as metricAggregates has them. */
export function fixedBuckets(from: Date, to: Date, widthMs: number): Bucketing {
  const first = Math.floor(from.getTime() / widthMs) * widthMs;
  const seconds = widthMs / 1000;
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  return {
    from,
    to,
    count: Math.max(0, Math.ceil((to.getTime() - first) / widthMs)),
    start: (i) => first + i * widthMs,
    end: (i) => first + (i + 1) * widthMs,
    get starts() {
      return (starts ??= bucketStarts(from, to, widthMs));
    },
    get ends() {
      return (ends ??= this.starts.map((s) => s + widthMs));
    },
    widthMs,
    of: (time) => sql`date_bin(make_interval(secs => ${seconds}::float8), ${time}, ${ORIGIN})`,
    covered: (b) =>
      sql<number>`extract(epoch from least(${b} + make_interval(secs => ${seconds}::float8), ${to.toISOString()}::timestamptz)
                                    - greatest(${b}, ${from.toISOString()}::timestamptz))::float8`,
    index: (b) => Math.round((new Date(b as string | Date).getTime() - first) / widthMs),
    plan: (timescale, horizons) => planSegments(from, to, widthMs, timescale, horizons),
  };
}

/**
 * A fixed-width bucketing cut into consecutive windows of at most `perWindow` buckets, each a
 * bucketing of its own; `offset` turns a window's bucket index into the whole one's. The first
 * window keeps the whole range's `from` and the last its `to`, so a partly covered edge bucket
 * is covered as much in its window as in the whole (what `rate` divides by). Bucketings that
 * are not fixed-width (calendar bounds) come back whole: their statements are bounded by their
 * own count.
 *
 *   bucketWindows(fixedBuckets(00:00, 00:05, MINUTE), 2)
 *     → [{ offset: 0, 00:00–00:02 }, { offset: 2, 00:02–00:04 }, { offset: 4, 00:04–00:05 }]
 */
export function bucketWindows(bucketing: Bucketing, perWindow: number): Array<{ offset: number; bucketing: Bucketing }> {
  const { widthMs, count } = bucketing;
  const size = Math.max(1, Math.floor(perWindow));
  if (widthMs === undefined || count <= size) return [{ offset: 0, bucketing }];
  const windows: Array<{ offset: number; bucketing: Bucketing }> = [];
  for (let offset = 0; offset < count; offset += size) {
    const from = offset === 0 ? bucketing.from : new Date(bucketing.start(offset));
    const to = offset + size >= count ? bucketing.to : new Date(bucketing.start(offset + size));
    windows.push({ offset, bucketing: fixedBuckets(from, to, widthMs) });
  }
  return windows;
}

/**
 * Buckets between consecutive `bounds` (ms, ascending): calendar days, weeks or months in a
 * time zone, or one window [from, to) (an alert's). The SQL bucket is the 0-based index of the
 * interval (width_bucket over the bounds).
 */
export function boundedBuckets(bounds: number[]): Bucketing {
  if (bounds.length < 2) throw new Error('boundedBuckets needs at least two bounds');
  const iso = bounds.map((b) => new Date(b).toISOString());
  return {
    from: new Date(bounds[0]!),
    to: new Date(bounds.at(-1)!),
    count: bounds.length - 1,
    start: (i) => bounds[i]!,
    end: (i) => bounds[i + 1]!,
    starts: bounds.slice(0, -1),
    ends: bounds.slice(1),
    of: (time) => sql`(width_bucket(${time}, ${iso}::timestamptz[]) - 1)`,
    // Arrays are 1-based: interval i runs from bounds[i + 1] to bounds[i + 2].
    covered: (b) => sql<number>`extract(epoch from (${iso}::timestamptz[])[${b} + 2] - (${iso}::timestamptz[])[${b} + 1])::float8`,
    index: (b) => Number(b),
    plan: (timescale, horizons) =>
      mergeSegments(bounds.slice(1).flatMap((end, i) => planSegments(new Date(bounds[i]!), new Date(end), DAY, timescale, horizons))),
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

/** Short names of what answered, e.g. `rollup_month`, `stats_1d`, `sketch_1d`, `group_stats_1h`, `raw`. */
export function describe(sources: Source[], kinds: Array<'stats' | 'sketch'>, groups?: GroupReading): string[] {
  const names = new Set<string>();
  for (const kind of kinds) {
    for (const s of sources) {
      if (s.source === 'raw') names.add('raw');
      else if (s.source === 'rollup') names.add(`rollup_${s.period.toLowerCase()}`);
      else if (groups && GROUP_LEVELS.includes(s.source)) {
        if (groups.gids.length > 0) names.add(`group_${kind}_${s.source}`);
        if (groups.ungrouped.length > 0) names.add(`${kind}_${s.source}`);
      } else names.add(`${kind}_${s.source}`);
    }
  }
  return [...names];
}

/**
 * Sources of one kind (one level, raw points, or one rollup period) read in one branch of the
 * union: late ranges cut a plan into many pieces (one per late hour of weeks of imported
 * history), and a union of one branch per piece nests as deep as it is long — deep enough to
 * overflow the embedded engine's stack, which kills the engine instead of raising an error.
 * The branch's rows are those of its spans; every row still falls into the same answer bucket.
 */
type SourceGroup = Source & { spans: ReadonlyArray<{ from: Date; to: Date }> };

function groupSources(sources: Source[]): SourceGroup[] {
  const groups = new Map<string, SourceGroup & { spans: Array<{ from: Date; to: Date }> }>();
  for (const s of sources) {
    const key = s.source === 'rollup' ? `rollup:${s.period}` : s.source;
    const group = groups.get(key);
    if (group) group.spans.push({ from: s.from, to: s.to });
    else groups.set(key, { ...s, spans: [{ from: s.from, to: s.to }] });
  }
  return [...groups.values()];
}

/** `column` within any of `spans` ([from, to) each); the late-points job narrows its recomputes with it too. */
export const within = (column: RawBuilder<unknown>, spans: ReadonlyArray<{ from: Date; to: Date }>) => {
  const one = (s: { from: Date; to: Date }) => sql`${column} >= ${s.from.toISOString()}::timestamptz and ${column} < ${s.to.toISOString()}::timestamptz`;
  return spans.length === 1 ? one(spans[0]!) : sql`(${sql.join(spans.map((s) => sql`(${one(s)})`), sql` or `)})`;
};

/**
 * Raw points' columns as the aggregates count them (migrations/0050, 0052): a row stands for
 * `weight` observations; sums clamp values to ±1e200 and weights to 2^53 so they stay finite.
 */
export const RAW_WEIGHT = sql`least(coalesce(weight, 1), 9007199254740992)::float8`;
/** A raw row's part of a sum. */
export const RAW_SUM = sql`least(greatest(value, -1e200), 1e200) * ${RAW_WEIGHT} + least(greatest(coalesce(sum_adjust, 0), -1e200), 1e200)`;
/** The value of the newest row (`last`); of rows at the same time, the largest, so no answer depends on the order rows are read. */
export const newest = (value: RawBuilder<unknown>, time: RawBuilder<unknown>) => sql`(array_agg(${value} order by ${time} desc, ${value} desc))[1]`;
const RAW_STATS = sql`sum(${RAW_WEIGHT}) as n, sum(${RAW_SUM}) as s,
  min(coalesce(min_value, value)) as mn, max(coalesce(max_value, value)) as mx,
  max(time) as lt, ${newest(sql`value`, sql`time`)} as lv`;

/**
 * Rows of one source, bucketed by `bucketing`:
 *   stats   (series_id, b, n, s, mn, mx, lt, lv)
 *   sketch  (series_id, b, ks, ws): cell keys and counts (ws null: 1 each); a series may have
 *           several rows per bucket, and keys may repeat: readers add them up.
 * `kept` (sketch only) adds a column qr: for the tag groups it names, where a bucket of the
 * answer is one group row, that row's kept quantile ranks (migrations/0091) in place of its
 * cells (ks and ws null); null everywhere else.
 */
export function sourceSql(source: SourceGroup, kind: 'stats' | 'sketch', bucketing: Bucketing, ids: number[], groups?: GroupReading, kept?: readonly number[]): RawBuilder<unknown> {
  if (groups && source.source !== 'raw' && source.source !== 'rollup' && GROUP_LEVELS.includes(source.source)) {
    // Whole tag groups from their own level, the series outside every group from theirs.
    const parts = [groupSql(source as SourceGroup & { source: LevelName }, kind, bucketing, groups, kept)];
    if (groups.ungrouped.length > 0) parts.push(sourceSql(source, kind, bucketing, groups.ungrouped, undefined, kept));
    return sql.join(parts, sql` union all `);
  }
  const noRanks = kind === 'sketch' && kept ? sql`, null::float8[] as qr` : sql``;
  const series = sql`series_id = any(${groups ? groups.series : ids}::bigint[])`;
  if (source.source === 'raw') {
    const where = sql`${series} and ${within(sql`time`, source.spans)}`;
    return kind === 'stats'
      ? sql`select series_id, ${bucketing.of(sql`time`)} as b, ${RAW_STATS} from tenant_points where ${where} group by 1, 2`
      : sql`select series_id, b, array_agg(k) as ks, array_agg(n) as ws${noRanks}
            from (select series_id, ${bucketing.of(sql`time`)} as b, sketch_key(value) as k, sum(${RAW_WEIGHT}) as n
                  from tenant_points where ${where} group by 1, 2, 3) c
            group by 1, 2`;
  }
  if (source.source === 'rollup') {
    const where = sql`period = ${source.period} and ${within(sql`start`, source.spans)} and ${series}`;
    return kind === 'stats'
      ? sql`select series_id, ${bucketing.of(sql`start`)} as b, n::float8 as n, s, mn, mx, lt, lv from report_rollup_stats where ${where}`
      : sql`select series_id, ${bucketing.of(sql`start`)} as b, array_agg(k) as ks, array_agg(n::float8) as ws${noRanks} from report_rollup_sketch where ${where} group by 1, 2`;
  }
  // The view names come from a fixed list (LEVELS), never from the request; the type checks them against the Database interface.
  const view: AggregateView = `tenant_${kind}_${source.source}`;
  const rows = sql`${sql.table(view)} where ${series} and ${within(sql`bucket`, source.spans)}`;
  return levelSql(rows, kind, bucketing, source.source, kept && []);
}

const LEVEL_MS: Record<Segment['source'], number> = { raw: 0, '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': DAY };

/**
 * A level's rows (`rows`: a FROM clause giving series_id, bucket and the kind's columns) in
 * the answer's buckets. A level as wide as the answer's buckets is read row for row; there the
 * rows of `kept` (tag groups, whose rows keep qr) give their kept ranks instead of their cells.
 */
function levelSql(rows: RawBuilder<unknown>, kind: 'stats' | 'sketch', bucketing: Bucketing, level: LevelName, kept?: readonly number[]): RawBuilder<unknown> {
  const sameWidth = bucketing.widthMs !== undefined && LEVEL_MS[level] === bucketing.widthMs;
  if (kind === 'sketch') {
    const b = sameWidth ? sql`bucket` : bucketing.of(sql`bucket`);
    if (!kept) return sql`select series_id, ${b} as b, ks, ws from ${rows}`;
    if (!sameWidth || kept.length === 0) return sql`select series_id, ${b} as b, ks, ws, null::float8[] as qr from ${rows}`;
    const alone = sql`series_id = any(${kept}::bigint[])`;
    return sql`select series_id, ${b} as b, case when ${alone} then null else ks end as ks, case when ${alone} then null else ws end as ws,
                 case when ${alone} then qr end as qr from ${rows}`;
  }
  return sameWidth
    ? sql`select series_id, bucket as b, n, s, mn, mx, lt, lv from ${rows}`
    : sql`select series_id, ${bucketing.of(sql`bucket`)} as b, sum(n) as n, sum(s) as s, min(mn) as mn, max(mx) as mx,
            max(lt) as lt, ${newest(sql`lv`, sql`lt`)} as lv
          from ${rows} group by 1, 2`;
}

/**
 * Rows of one tag-group level (migrations/0076) in the shape of sourceSql's: each group's
 * stand-in id (GroupReading.gids) in place of a series id.
 */
function groupSql(source: SourceGroup & { source: LevelName }, kind: 'stats' | 'sketch', bucketing: Bucketing, groups: GroupReading, kept?: readonly number[]): RawBuilder<unknown> {
  // The view names come from a fixed list (GROUP_LEVELS), never from the request.
  if (source.source !== '1h' && source.source !== '1d') throw new Error(`no tag-group level ${source.source}`);
  const name: AggregateView = `tenant_group_${kind}_${source.source}`;
  const view = sql.table(name);
  const rows = sql`(select gs.gid as series_id, g.*
                    from ${view} g join unnest(${groups.metricIds}::bigint[], ${groups.values}::text[], ${groups.gids}::bigint[]) as gs (metric_id, value, gid)
                      on g.metric_id = gs.metric_id and g.value = gs.value
                    where g.metric_id = any(${[...new Set(groups.metricIds)]}::bigint[]) and g.key = ${groups.key}::text and ${within(sql`g.bucket`, source.spans)}) g`;
  return levelSql(rows, kind, bucketing, source.source, kept);
}

export function unionSql(sources: Source[], kind: 'stats' | 'sketch', bucketing: Bucketing, ids: number[], groups?: GroupReading, kept?: readonly number[]): RawBuilder<unknown> {
  return sql.join(
    groupSources(sources).map((s) => sourceSql(s, kind, bucketing, ids, groups, kept)),
    sql` union all `,
  );
}

/** The series a reference reads and the group each one belongs to (and, for count_distinct, its tag value). */
export interface Selection {
  ids: number[];
  grps: number[];
  values?: Array<string | null>;
  /** Series read as whole tag groups where a level keeps them (src/query/group-levels.ts); `ids` and `grps` then also hold the groups' stand-in ids. */
  groups?: GroupReading;
}

export function selectionSql(selection: Selection): RawBuilder<unknown> {
  return selection.values
    ? sql`unnest(${selection.ids}::bigint[], ${selection.grps}::int[], ${selection.values}::text[]) as sel (series_id, grp, val)`
    : sql`unnest(${selection.ids}::bigint[], ${selection.grps}::int[]) as sel (series_id, grp)`;
}

/**
 * Per (grp, b): n, s, mn, mx and lv (the newest value). `last` of a group is the value of its
 * newest point across series.
 *
 *   grp | b                      | n   | s     | mn | mx | lv
 *   0   | 2026-11-20 00:00:00+00 | 240 | 1071  | 0  | 9  | 4
 */
export function statsSql(sources: Source[], bucketing: Bucketing, selection: Selection): RawBuilder<unknown> {
  return sql`select sel.grp, seg.b, sum(seg.n)::float8 as n, sum(seg.s)::float8 as s, min(seg.mn) as mn, max(seg.mx) as mx,
                    ${newest(sql`seg.lv`, sql`seg.lt`)} as lv
             from (${unionSql(sources, 'stats', bucketing, selection.ids, selection.groups)}) seg join ${selectionSql(selection)} on sel.series_id = seg.series_id
             group by sel.grp, seg.b`;
}

/**
 * Per (grp, b): the quantile q of the merged sketch, as quantiles() in src/query/sketch.ts
 * computes it: interpolated between the values at the ranks around q·(n−1), the exact min and
 * max at the extreme ranks and cell representatives in between, clamped to [min, max]. `stats`
 * names a CTE of statsSql rows for the same selection.
 */
export function quantileSql(sources: Source[], bucketing: Bucketing, selection: Selection, q: number, stats: RawBuilder<unknown>): RawBuilder<unknown> {
  const valueAt = (rank: RawBuilder<unknown>, key: RawBuilder<unknown>) =>
    sql`case when ${rank} <= 0 then st.mn when ${rank} >= x.total - 1 then st.mx else sketch_value(${key}) end`;
  const lo = valueAt(sql`floor(x.rank)`, sql`x.lo`);
  const hi = valueAt(sql`ceil(x.rank)`, sql`x.hi`);
  return sql`
    select x.grp, x.b, st.n, least(st.mx, greatest(st.mn, ${lo} + (x.rank - floor(x.rank)) * (${hi} - ${lo}))) as v
    from (
      select grp, b, max(total) as total, ${q}::float8 * (max(total) - 1) as rank,
             min(k) filter (where cum > floor(${q}::float8 * (total - 1))) as lo,
             min(k) filter (where cum > ceil(${q}::float8 * (total - 1))) as hi
      from (
        select grp, b, k, sum(n) over (partition by grp, b order by k) as cum, sum(n) over (partition by grp, b) as total
        from (
          select sel.grp, seg.b, u.k, sum(coalesce(u.w, 1)) as n
          from (${unionSql(sources, 'sketch', bucketing, selection.ids, selection.groups)}) seg
            join ${selectionSql(selection)} on sel.series_id = seg.series_id
            cross join lateral unnest(seg.ks, seg.ws) as u (k, w)
          group by sel.grp, seg.b, u.k
        ) h
      ) c
      group by grp, b
    ) x join ${stats} st on st.grp = x.grp and st.b = x.b`;
}

/** One (group, bucket) merged from every source and series that falls in it. */
export interface MergedBucket {
  grp: number;
  /** Index of the bucket in `bucketing.starts`. */
  index: number;
  n: number;
  s: number;
  mn: number;
  mx: number;
  lv: number;
  /** The requested quantiles, in the order asked; absent when none were. */
  quantiles?: Array<number | null>;
}

/** A statsSql row: a group's bucket (`b`, as `bucketing.of` gives it) with a level's statistics. */
type StatsRow = Pick<LevelStats, 'n' | 's' | 'mn' | 'mx' | 'lv'> & { grp: number; b: unknown };

/** A unionSql sketch row: a series' (or group stand-in's) bucket with a level's cells, or (`kept`) a group row's kept ranks. */
type SketchRow = Pick<LevelSketch, 'series_id'> & { ks: number[] | null; ws: number[] | null; qr: number[] | null; b: unknown };

/**
 * The tag groups whose buckets are answered by their kept quantile ranks (migrations/0091):
 * those alone in their answer group at the group levels (no other group, no series read per
 * series there), when every quantile asked is kept. Where such a group's level is as wide as
 * the answer's buckets, each of those buckets is that one group row (the planner gives a level
 * whole buckets of its own width, src/query/plan.ts), so its kept ranks are its merged sketch's.
 */
function keptGroups(selection: Selection, grpOf: ReadonlyMap<number, number>, qs: readonly number[]): number[] {
  const groups = selection.groups;
  if (!groups || !qs.every((q) => KEPT_QUANTILES.includes(q))) return [];
  const members = new Map<number, number>();
  for (const id of [...groups.gids, ...groups.ungrouped]) members.set(grpOf.get(id)!, (members.get(grpOf.get(id)!) ?? 0) + 1);
  return groups.gids.filter((gid) => members.get(grpOf.get(gid)!) === 1);
}

/**
 * Reads and merges the buckets of `selection` from `sources`: stats merged in SQL per group,
 * sketches fetched compact (one row per series and source bucket) and merged here cell by cell,
 * then turned into the quantiles `qs` (none: no sketch is read).
 */
export async function readBuckets(trx: TenantTx, request: { sources: Source[]; bucketing: Bucketing; selection: Selection; qs: readonly number[] }): Promise<MergedBucket[]> {
  const { sources, bucketing, selection, qs } = request;
  if (selection.ids.length === 0 || sources.length === 0) return [];
  const { rows } = await sql<StatsRow>`${statsSql(sources, bucketing, selection)}`.execute(trx);
  const merged = new Map<string, MergedBucket>();
  for (const row of rows) {
    const index = bucketing.index(row.b);
    merged.set(`${row.grp}:${index}`, { grp: row.grp, index, n: Number(row.n), s: row.s, mn: row.mn, mx: row.mx, lv: row.lv });
  }
  if (qs.length > 0) {
    const grpOf = new Map(selection.ids.map((id, i) => [id, selection.grps[i]!]));
    const kept = keptGroups(selection, grpOf, qs);
    const { rows: sketches } = await sql<SketchRow>`${unionSql(sources, 'sketch', bucketing, selection.ids, selection.groups, kept)}`.execute(trx);
    const cells = new Map<string, Cells>();
    const ranks = new Map<string, number[]>();
    for (const row of sketches) {
      const key = `${grpOf.get(Number(row.series_id))}:${bucketing.index(row.b)}`;
      if (row.qr) {
        ranks.set(key, row.qr);
        continue;
      }
      let target = cells.get(key);
      if (!target) cells.set(key, (target = new Map()));
      addCells(target, row.ks!, row.ws);
    }
    for (const [key, bucket] of merged) {
      const found = cells.get(key);
      const rank = ranks.get(key);
      // A bucket is one kept group row or merged cells, never both (keptGroups).
      if (rank && found) throw new Error(`bucket ${key} has kept ranks and cells`);
      const extremes = { min: bucket.mn, max: bucket.mx };
      bucket.quantiles = rank ? keptQuantiles(rank, extremes, qs) : found ? quantiles({ cells: found, ...extremes }, qs) : qs.map(() => null);
    }
  }
  return [...merged.values()];
}
