/**
 * Late points without waiting: what a write records and what a query avoids.
 *
 * A point stamped behind a continuous aggregate's watermark is not in that aggregate until it
 * is recomputed (timescale/timescaledb#3877). Rather than refreshing inside the write request
 * (one serialised `refresh_continuous_aggregate` per level, for every tenant: 10–18× slower
 * writes), the write records the range its late points touched in aggregate_invalidations
 * (migrations/0058), in its own transaction: one row per tenant, metric and UTC hour. Until
 * the late-points job (src/jobs/late-points.ts) has recomputed that tenant's buckets there and
 * deleted the row, readers answer the recorded range from raw points (avoidDirty), so the late
 * point is in the very next query with exact counts and percentiles.
 *
 * Rows are read under row-level security: a tenant never sees, nor is slowed by, another
 * tenant's late points.
 */
import { sql } from 'kysely';
import type { TenantTx } from '../db/tenant.js';
import { DAY, HOUR, MINUTE, planSegments, type Horizons, type Segment } from './plan.js';
import { mergeSegments, type Bucketing } from './read-buckets.js';

/**
 * A point older than this when written may lie behind a watermark. The newest watermark (1
 * minute level) stays 10 minutes behind now (src/query/refresh.ts, migrations/0005); the margin
 * covers clock skew between the service and the database.
 */
export const LATE_AFTER_MS = 5 * MINUTE;

/** The width of one recorded range row: late points of one metric in one UTC hour share it. */
export const INVALIDATION_BUCKET_MS = HOUR;

const floorTo = (ms: number, width: number) => Math.floor(ms / width) * width;

/**
 * The statement that records the late points among `points` for the transaction's tenant, or
 * null when none is late. SQL text with every value inlined, so it can join the one-round-trip
 * write script (src/ingest/record-points.ts) as well as run on its own: series ids are checked
 * safe integers and times are ISO strings from Date, so nothing needs quoting.
 *
 * Points are first folded per (series, hour) here, then per (metric, hour) by the database
 * (series → metric); rows are taken in key order so two writers never lock them crosswise.
 *
 *   500 points of one metric, 3 days old, over 2 hours → 2 rows, inserted or widened.
 */
export function invalidationSql(points: ReadonlyArray<{ seriesId: number; time: Date }>, now = Date.now()): string | null {
  const cutoff = now - LATE_AFTER_MS;
  const folded = new Map<string, { series: number; bucket: number; lo: number; hi: number }>();
  for (const p of points) {
    const t = p.time.getTime();
    if (t >= cutoff) continue;
    if (!Number.isSafeInteger(p.seriesId) || !Number.isFinite(t)) throw new Error('invalidationSql: a point is not safe to inline');
    const bucket = floorTo(t, INVALIDATION_BUCKET_MS);
    const key = `${p.seriesId}:${bucket}`;
    const entry = folded.get(key);
    if (!entry) folded.set(key, { series: p.seriesId, bucket, lo: t, hi: t });
    else {
      if (t < entry.lo) entry.lo = t;
      if (t > entry.hi) entry.hi = t;
    }
  }
  if (folded.size === 0) return null;
  const rows = [...folded.values()];
  const iso = (ms: number) => new Date(ms).toISOString();
  const array = (values: Array<string | number>) => `'{${values.join(',')}}'`;
  return `insert into aggregate_invalidations as i (tenant_id, metric_id, bucket, lo, hi)
select current_tenant_id(), s.metric_id, x.bucket, min(x.lo), max(x.hi)
from unnest(${array(rows.map((r) => r.series))}::bigint[], ${array(rows.map((r) => iso(r.bucket)))}::timestamptz[],
            ${array(rows.map((r) => iso(r.lo)))}::timestamptz[], ${array(rows.map((r) => iso(r.hi)))}::timestamptz[]) as x (series_id, bucket, lo, hi)
join series s on s.id = x.series_id
group by s.metric_id, x.bucket
order by s.metric_id, x.bucket
on conflict (tenant_id, metric_id, bucket) do update
set lo = least(i.lo, excluded.lo), hi = greatest(i.hi, excluded.hi), generation = i.generation + 1, updated_at = now()`;
}

/** Records the late points among `points` in the caller's transaction (see invalidationSql). */
export async function recordInvalidations(trx: TenantTx, points: ReadonlyArray<{ seriesId: number; time: Date }>): Promise<void> {
  const statement = invalidationSql(points);
  if (statement) await sql.raw(statement).execute(trx);
}

/** A half-open time range in ms. */
export interface Interval {
  from: number;
  to: number;
}

/**
 * The transaction's tenant's not-yet-refreshed ranges that a read of the metrics of `seriesIds`
 * over [from, to) overlaps: widened to whole minutes (the finest aggregate bucket), clipped to
 * [from, to), merged, oldest first. (metricAggregates reads the same rows in resolveSeries'
 * statement, src/query/aggregate.ts, and shapes them with dirtyOf.)
 */
export async function dirtyIntervals(trx: TenantTx, seriesIds: number[], from: Date, to: Date): Promise<Interval[]> {
  const rows = await trx
    .selectFrom('aggregate_invalidations')
    .select(['lo', 'hi'])
    .where('metric_id', '=', (eb) => eb.fn.any(eb.selectFrom('series').select('metric_id').where('id', '=', eb.fn.any(eb.val(seriesIds)))))
    .where('hi', '>=', from)
    .where('lo', '<', to)
    .orderBy('lo')
    .execute();
  return dirtyOf(rows.map((r) => [new Date(r.lo).getTime(), new Date(r.hi).getTime()]), from, to);
}

/** aggregate_invalidations rows ([lo, hi] in ms) as dirtyIntervals returns them for a read over [from, to). */
export function dirtyOf(rows: ReadonlyArray<readonly [number, number]>, from: Date, to: Date): Interval[] {
  const intervals = rows.map(([lo, hi]) => ({
    from: Math.max(from.getTime(), floorTo(lo, MINUTE)),
    to: Math.min(to.getTime(), floorTo(hi, MINUTE) + MINUTE),
  }));
  return mergeIntervals(intervals.filter((i) => i.from < i.to));
}

/** Overlapping intervals joined, oldest first; with `gap`, also those less than `gap` ms apart. */
export function mergeIntervals(intervals: Interval[], gap = 0): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.from - b.from);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged.at(-1);
    if (last && i.from <= last.to + gap) last.to = Math.max(last.to, i.to);
    else merged.push({ ...i });
  }
  return merged;
}

/**
 * Re-plans `sources` so that raw points answer every dirty interval: a source that overlaps one
 * gives it up to raw, and what is left of it on either side is planned again with `replan` (a
 * level's or a rollup's buckets cut by the interval are no longer whole). Sources that overlap
 * nothing are kept as they are. Rows of every piece still fall into the same answer buckets,
 * so a bucket may merge raw rows with aggregate rows: counts and sketches add exactly.
 *
 *   1h [10:00, 14:00), dirty [11:07, 11:09) → 1h [10:00, 11:00), replan [11:00, 11:07) (5m + 1m),
 *   raw [11:07, 11:09), replan [11:09, 12:00) (1m + 5m), 1h [12:00, 14:00)
 */
export function avoidDirty<S extends { source: string; from: Date; to: Date }>(
  sources: S[],
  dirty: Interval[],
  replan: (from: Date, to: Date) => Segment[],
): Array<S | Segment> {
  if (dirty.length === 0) return sources;
  const out: Array<S | Segment> = [];
  const pushRaw = (from: number, to: number) => {
    const last = out.at(-1);
    if (last && last.source === 'raw' && last.to.getTime() === from) out[out.length - 1] = { source: 'raw', from: last.from, to: new Date(to) };
    else out.push({ source: 'raw', from: new Date(from), to: new Date(to) });
  };
  for (const source of sources) {
    const a = source.from.getTime();
    const b = source.to.getTime();
    const overlaps = dirty.filter((d) => d.from < b && d.to > a);
    if (overlaps.length === 0) {
      out.push(source);
      continue;
    }
    let cursor = a;
    const clean = (from: number, to: number) => {
      if (from >= to) return;
      if (source.source === 'raw') pushRaw(from, to);
      else {
        for (const s of replan(new Date(from), new Date(to))) {
          if (s.source === 'raw') pushRaw(s.from.getTime(), s.to.getTime());
          else out.push(s);
        }
      }
    };
    for (const d of overlaps) {
      const from = Math.max(a, d.from);
      const to = Math.min(b, d.to);
      clean(cursor, from);
      pushRaw(from, to);
      cursor = to;
    }
    clean(cursor, b);
  }
  return out;
}

/** The buckets an answer falls into: fixed widths (`widthMs`), or calendar periods listed by starts and ends. */
export type AnswerBuckets = Pick<Bucketing, 'from' | 'to' | 'starts' | 'ends' | 'widthMs'>;

/**
 * [from, to) planned bucket by bucket, as the readers plan them, so no aggregate row straddles
 * two answer buckets; neighbouring pieces of one source joined. Fixed-width buckets are aligned
 * to the epoch and every level that planSegments picks divides their width, so one plan of the
 * whole range gives the same pieces (test/late-points-plan.test.ts compares them): a year at
 * MINUTE is then one call, not one per bucket (#16: 40 000 calls held the loop and allocated
 * ~30 MB per definition query).
 */
export function planBucketwise(buckets: AnswerBuckets, from: Date, to: Date, timescale: boolean, horizons?: Horizons): Segment[] {
  if (buckets.widthMs !== undefined && buckets.widthMs <= DAY) {
    const w = buckets.widthMs;
    // The span of the buckets: the first starts at or before `from`, the last ends at or after `to`.
    const first = Math.floor(buckets.from.getTime() / w) * w;
    const a = Math.max(from.getTime(), first);
    const b = Math.min(to.getTime(), first + Math.ceil((buckets.to.getTime() - first) / w) * w);
    return a < b ? mergeSegments(planSegments(new Date(a), new Date(b), buckets.widthMs, timescale, horizons)) : [];
  }
  const pieces: Segment[] = [];
  for (let i = 0; i < buckets.starts.length; i++) {
    const a = Math.max(from.getTime(), buckets.starts[i]!);
    const b = Math.min(to.getTime(), buckets.ends[i]!);
    if (a >= b) continue;
    for (const segment of planSegments(new Date(a), new Date(b), Math.min(DAY, buckets.ends[i]! - buckets.starts[i]!), timescale, horizons)) pieces.push(segment);
  }
  return mergeSegments(pieces);
}

/**
 * The formula and report hook (src/definitions/evaluate-formula.ts): `sources` — aggregate
 * levels, raw points, report rollups — with the dirty ranges of the series read answered from
 * raw points. Answer buckets run from starts[i] to ends[i] (fixed widths, or calendar periods in
 * a time zone); what is planned again is planned bucket by bucket (planBucketwise).
 */
export async function avoidLatePointsInBuckets<S extends { source: string; from: Date; to: Date }>(
  trx: TenantTx,
  sources: S[],
  seriesIds: number[],
  buckets: AnswerBuckets,
  timescale: boolean,
): Promise<Array<S | Segment>> {
  if (seriesIds.length === 0 || sources.length === 0) return sources;
  const dirty = await dirtyIntervals(trx, seriesIds, buckets.from, buckets.to);
  if (dirty.length === 0) return sources;
  return avoidDirty(sources, dirty, (from, to) => planBucketwise(buckets, from, to, timescale));
}

/**
 * The ranges a read must take from raw points, of the `dirty` intervals of the metrics it reads
 * (aggregate.ts resolveSeries reads them in its own statement): the tenant's not-yet-recomputed
 * late ranges, from the raw horizon on (older raw points are gone, so the levels left answer there).
 */
export function lateOf(dirty: Interval[], horizons?: { raw: number }): Array<{ from: Date; to: Date }> {
  return dirty
    .map((d) => ({ from: Math.max(d.from, horizons?.raw ?? -Infinity), to: d.to }))
    .filter((d) => d.from < d.to)
    .map((d) => ({ from: new Date(d.from), to: new Date(d.to) }));
}
