/**
 * Fill modes applied lazily: the answer keeps only the buckets that hold points (what the
 * reader read and the cache stores), and the empty buckets a fill mode asks for are made only
 * for the page being returned. `fill: ZERO` over 100 000 buckets then costs one page of empty
 * buckets (≤ 10 000), not 100 000 per series, and a cached answer is as small as its data.
 *
 * A page walks series in order, then buckets in time, from just after the cursor:
 *
 *   series A: buckets with points at t1, t4; fill ZERO; range t0..t5; limit 3
 *     page 1 → A: t0 (zero), t1, t2 (zero)      cursor (A, t2)
 *     page 2 → A: t3 (zero), t4                 no cursor
 */
import type { MetricType } from '../db/tables.js';
import type { Bucket, Fill, ResultSeries } from './aggregate.js';

export interface FillRange {
  from: Date;
  to: Date;
  granularityMs: number;
  fill: Fill;
}

/** The last bucket a page returned: series index and bucket start (ms). */
export interface PagePosition {
  s: number;
  t: number;
}

/** A definition's series carries `value` in each bucket (src/definitions/evaluate-definition.ts). */
const isDefinition = (series: ResultSeries) => 'definition' in series;

/**
 * The bucket at `start` that holds no points, as `fill` shows it; `previous` is the newest earlier bucket with points.
 * Written out as one object literal (no spreads): a page makes up to 10 000 of these, and an
 * object built by spreading others is a slow, dictionary-backed object of ~1.7 KB where a
 * literal of a fixed shape is ~150 bytes (test/fill.test.ts keeps the values; bench/abuse.ts the cost).
 */
export function emptyBucket(start: number, width: number, fill: Fill, type: MetricType, definition: boolean, previous: Bucket | undefined): Bucket {
  const end = new Date(start + width);
  let bucket: Bucket;
  if (fill === 'ZERO') {
    const counter = type === 'COUNTER';
    bucket = { start: new Date(start), end, count: 0, sum: 0, min: 0, max: 0, avg: 0, last: counter ? null : 0, rate: counter ? 0 : null, p50: 0, p90: 0, p95: 0, p99: 0 };
    if (definition) bucket.value = 0;
  } else if (fill === 'PREVIOUS' && previous) {
    const p = previous;
    bucket = { start: new Date(start), end, count: 0, sum: p.sum, min: p.min, max: p.max, avg: p.avg, last: p.last, rate: p.rate, p50: p.p50, p90: p.p90, p95: p.p95, p99: p.p99 };
    if ('value' in p) bucket.value = p.value;
  } else {
    bucket = { start: new Date(start), end, count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null };
    if (definition) bucket.value = null;
  }
  return bucket;
}

/** Index of the first bucket starting at or after `t` (buckets are sorted by start). */
function firstAtOrAfter(buckets: readonly Bucket[], t: number): number {
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (buckets[mid]!.start.getTime() < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Up to `limit` buckets across `series` (which hold only buckets with points, sorted), after
 * `after`, with the empty ones `range.fill` asks for made on the way. Work and memory are
 * O(limit + log n) per page whatever the range.
 */
export function fillPage(series: readonly ResultSeries[], range: FillRange, limit: number, after: PagePosition | null): { series: ResultSeries[]; last: PagePosition | null; more: boolean } {
  const width = range.granularityMs;
  const first = Math.floor(range.from.getTime() / width) * width;
  const end = range.to.getTime();
  const page: ResultSeries[] = [];
  let taken = 0;
  let last: PagePosition | null = null;
  for (let s = after ? after.s : 0; s < series.length; s++) {
    const item = series[s]!;
    const from = after && s === after.s ? after.t + width : first;
    const out: Bucket[] = [];
    let more = false;
    if (range.fill === 'NONE') {
      const j = firstAtOrAfter(item.buckets, from);
      for (let k = j; k < item.buckets.length; k++) {
        if (taken + out.length >= limit) {
          more = true;
          break;
        }
        out.push(item.buckets[k]!);
      }
    } else {
      let j = firstAtOrAfter(item.buckets, from);
      let previous = j > 0 ? item.buckets[j - 1] : undefined;
      const definition = isDefinition(item);
      for (let t = from; t < end; t += width) {
        if (taken + out.length >= limit) {
          more = true;
          break;
        }
        const found = item.buckets[j];
        if (found && found.start.getTime() === t) {
          out.push(found);
          previous = found;
          j++;
        } else out.push(emptyBucket(t, width, range.fill, item.type, definition, previous));
      }
    }
    if (out.length === 0) {
      if (more) return { series: page, last, more: true };
      continue;
    }
    taken += out.length;
    page.push({ ...item, buckets: out });
    last = { s, t: out.at(-1)!.start.getTime() };
    if (more) return { series: page, last, more: true };
  }
  return { series: page, last, more: false };
}

/** Every bucket of every series with the fill applied: for callers that bounded series × buckets first (live queries, export windows). */
export function fillAll(series: readonly ResultSeries[], range: FillRange): ResultSeries[] {
  if (range.fill === 'NONE') return [...series];
  return fillPage(series, range, Number.MAX_SAFE_INTEGER, null).series;
}
