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

const EMPTY = { count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null };

/** A definition's series carries `value` in each bucket (src/definitions/evaluate-definition.ts). */
const isDefinition = (series: ResultSeries) => 'definition' in series;

/** The bucket at `start` that holds no points, as `fill` shows it; `previous` is the newest earlier bucket with points. */
export function emptyBucket(start: number, width: number, fill: Fill, type: MetricType, definition: boolean, previous: Bucket | undefined): Bucket {
  const frame = { start: new Date(start), end: new Date(start + width) };
  if (fill === 'ZERO') {
    const zero = type === 'COUNTER' ? { rate: 0, last: null } : { rate: null, last: 0 };
    return { ...frame, count: 0, sum: 0, min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, ...zero, ...(definition ? { value: 0 } : {}) };
  }
  if (fill === 'PREVIOUS' && previous) return { ...previous, ...frame, count: 0 };
  return { ...frame, ...EMPTY, ...(definition ? { value: null } : {}) };
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
