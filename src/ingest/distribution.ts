/**
 * Pre-aggregated distributions (OTLP Histogram, ExponentialHistogram and Summary points) as
 * distribution rows (migrations/0050_distribution_points.sql): one row per non-empty bucket,
 * `value` a representative inside the bucket and `weight` its count, and on the first row the
 * exact sum (as `sumAdjust`), min and max the buckets cannot carry.
 *
 * Representatives:
 * - exponential bucket i at scale s, (base^i, base^(i+1)] with base = 2^(2^-s): the geometric
 *   midpoint base^(i+0.5). At s >= 6 the bucket lies inside one cell of the percentile sketch
 *   (γ = 2^(2^-6), cell i = (γ^i, γ^(i+1)]), so any value inside it lands in the same cell and
 *   the histogram enters the sketch without loss. At s < 6 a bucket spans 2^(6-s) cells and
 *   its observations go to the middle one: relative error at most base^0.5 − 1.
 * - explicit bucket (lo, hi]: the geometric midpoint √(lo·hi) when both bounds have one sign,
 *   the arithmetic one when the bucket holds 0; the open first and last buckets use the exact
 *   min and max when the point has them, else their finite bound. A percentile read back is
 *   then within the bucket that holds it: relative error at most √(hi/lo) − 1 (for the default
 *   OpenTelemetry bounds 0, 5, 10, 25, 50, 75, 100, 250, … that is up to 58 %, so prefer
 *   exponential histograms where percentiles matter).
 * Every representative is clamped into [min, max] where those are known: still inside its
 * bucket (min and max are observations of the first and last non-empty buckets), and the
 * extreme rows then are the exact min and max.
 */

/** A histogram in one shape for both kinds: bucket counts by key in a layout. */
export interface Buckets {
  /** `e:<bounds>` for explicit bounds; `x:<scale>:<zero threshold>` for exponential. */
  layout: string;
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  /** Explicit: "0".."n" (bucket index); exponential: "z", "p<i>", "n<i>". Only non-zero counts. */
  counts: Record<string, number>;
}

export interface DistributionRow {
  value: number;
  weight: number;
  sumAdjust: number | null;
  minValue: number | null;
  maxValue: number | null;
}

const finiteOrNull = (n: number | null | undefined) => (n !== null && n !== undefined && Number.isFinite(n) ? n : null);

export function explicitBuckets(bounds: number[], bucketCounts: number[], count: number, sum: number | null, min: number | null, max: number | null): Buckets {
  const counts: Record<string, number> = {};
  for (let i = 0; i < bucketCounts.length; i++) if (bucketCounts[i]! > 0) counts[String(i)] = bucketCounts[i]!;
  return { layout: bounds.length === 0 ? 'e:' : `e:${bounds.join(',')}`, count, sum: finiteOrNull(sum), min: finiteOrNull(min), max: finiteOrNull(max), counts };
}

export function exponentialBuckets(
  scale: number,
  zeroThreshold: number,
  zeroCount: number,
  positive: { offset: number; counts: number[] },
  negative: { offset: number; counts: number[] },
  count: number,
  sum: number | null,
  min: number | null,
  max: number | null,
): Buckets {
  const counts: Record<string, number> = {};
  if (zeroCount > 0) counts.z = zeroCount;
  positive.counts.forEach((c, i) => {
    if (c > 0) counts[`p${positive.offset + i}`] = c;
  });
  negative.counts.forEach((c, i) => {
    if (c > 0) counts[`n${negative.offset + i}`] = c;
  });
  return { layout: `x:${scale}:${zeroThreshold}`, count, sum: finiteOrNull(sum), min: finiteOrNull(min), max: finiteOrNull(max), counts };
}

/** An exponential histogram at a coarser scale: bucket i at scale s is bucket i >> (s − to) at `to`. */
function downscale(b: Buckets, to: number): Buckets {
  const [, scale, zero] = b.layout.split(':');
  const shift = Number(scale) - to;
  if (shift <= 0) return b;
  const counts: Record<string, number> = {};
  for (const [key, c] of Object.entries(b.counts)) {
    const next = key === 'z' ? 'z' : `${key[0]}${Number(key.slice(1)) >> shift}`;
    counts[next] = (counts[next] ?? 0) + c;
  }
  return { ...b, layout: `x:${to}:${zero}`, counts };
}

/**
 * What was observed between two cumulative points of a series: `current` minus `previous`,
 * or null when `current` is a new start (a reset: fewer observations than before, a bucket
 * that shrank, other bounds). Exponential histograms of different scales are compared at the
 * coarser one (an SDK only ever lowers the scale of a cumulative histogram).
 *
 * Min and max of the interval are exact only when they moved (a new extreme was observed in
 * it); otherwise they are unknown (null) and the representatives stand for them.
 */
export function subtractBuckets(current: Buckets, previous: Buckets): Buckets | null {
  let cur = current;
  let prev = previous;
  if (cur.layout !== prev.layout && cur.layout.startsWith('x:') && prev.layout.startsWith('x:')) {
    const [, cs, cz] = cur.layout.split(':');
    const [, ps, pz] = prev.layout.split(':');
    if (cz !== pz) return null;
    const to = Math.min(Number(cs), Number(ps));
    cur = downscale(cur, to);
    prev = downscale(prev, to);
  }
  if (cur.layout !== prev.layout || cur.count < prev.count) return null;
  const counts: Record<string, number> = {};
  for (const [key, c] of Object.entries(prev.counts)) if ((cur.counts[key] ?? 0) < c) return null;
  for (const [key, c] of Object.entries(cur.counts)) {
    const d = c - (prev.counts[key] ?? 0);
    if (d > 0) counts[key] = d;
  }
  return {
    layout: cur.layout,
    count: cur.count - prev.count,
    sum: cur.sum !== null && prev.sum !== null ? cur.sum - prev.sum : null,
    min: cur.min !== null && (prev.min === null || cur.min < prev.min) ? cur.min : null,
    max: cur.max !== null && (prev.max === null || cur.max > prev.max) ? cur.max : null,
    counts,
  };
}

const clamp = (v: number, min: number | null, max: number | null) => Math.min(max ?? Infinity, Math.max(min ?? -Infinity, v));

/** The bounds of an explicit layout, parsed once per layout (a request's points share a few). */
const parsedBounds = new Map<string, number[]>();
function boundsOf(layout: string): number[] {
  let bounds = parsedBounds.get(layout);
  if (bounds === undefined) {
    bounds = layout === 'e:' ? [] : layout.slice(2).split(',').map(Number);
    if (parsedBounds.size >= 1_000) parsedBounds.clear();
    parsedBounds.set(layout, bounds);
  }
  return bounds;
}

/** The representative value of bucket `key` (see the file's comment). */
export function representative(b: Buckets, key: string): number {
  if (b.layout.startsWith('x:')) {
    if (key === 'z') return clamp(0, b.min, b.max);
    const scale = Number(b.layout.split(':')[1]);
    const magnitude = Math.pow(2, (Number(key.slice(1)) + 0.5) * Math.pow(2, -scale));
    return clamp(key[0] === 'p' ? magnitude : -magnitude, b.min, b.max);
  }
  const bounds = boundsOf(b.layout);
  const i = Number(key);
  const lo = Math.max(i === 0 ? -Infinity : bounds[i - 1]!, b.min ?? -Infinity);
  const hi = Math.min(i === bounds.length ? Infinity : bounds[i]!, b.max ?? Infinity);
  if (lo === -Infinity && hi === Infinity) return b.sum !== null && b.count > 0 ? b.sum / b.count : 0;
  if (lo === -Infinity) return hi;
  if (hi === Infinity) return lo;
  if (lo > 0) return Math.sqrt(lo * hi);
  if (hi < 0) return -Math.sqrt(lo * hi);
  return (lo + hi) / 2;
}

/** The rows of a distribution, in ascending value; none when it holds no observation. */
export function distributionRows(b: Buckets): DistributionRow[] {
  const rows: DistributionRow[] = [];
  let approximateSum = 0;
  for (const key in b.counts) {
    const weight = b.counts[key]!;
    const value = representative(b, key);
    if (!Number.isFinite(value) || weight <= 0) continue;
    approximateSum += value * weight;
    rows.push({ value, weight, sumAdjust: null, minValue: null, maxValue: null });
  }
  if (rows.length === 0) return rows;
  rows.sort((x, y) => x.value - y.value);
  const first = rows[0]!;
  if (b.sum !== null) first.sumAdjust = b.sum - approximateSum;
  first.minValue = b.min;
  first.maxValue = b.max;
  return rows;
}

/**
 * A Summary's observations as distribution rows: its count and sum exact; its quantile values
 * stand for the observations below them — the value of quantile q_k takes
 * round(count·q_k) − round(count·q_{k−1}) observations, the highest one also those above it.
 * So the median read back is the summary's own median when it sent one; the others fall
 * between the quantiles it sent. Quantile 0 and 1, when sent, are the exact min and max.
 */
export function summaryRows(count: number, sum: number | null, quantiles: Array<{ quantile: number; value: number }>): DistributionRow[] {
  if (count <= 0) return [];
  const qs = quantiles.filter((q) => Number.isFinite(q.value) && q.quantile >= 0 && q.quantile <= 1).sort((a, b) => a.quantile - b.quantile);
  const rows: DistributionRow[] = [];
  if (qs.length === 0) {
    rows.push({ value: sum !== null ? sum / count : 0, weight: count, sumAdjust: null, minValue: null, maxValue: null });
  } else {
    let below = 0;
    qs.forEach((q, k) => {
      const upTo = k === qs.length - 1 ? count : Math.round(count * q.quantile);
      const weight = upTo - below;
      if (weight > 0) rows.push({ value: q.value, weight, sumAdjust: null, minValue: null, maxValue: null });
      below = Math.max(below, upTo);
    });
  }
  const first = rows[0]!;
  if (sum !== null) first.sumAdjust = sum - rows.reduce((s, r) => s + r.value * r.weight, 0);
  if (qs[0]?.quantile === 0) first.minValue = qs[0].value;
  if (qs.at(-1)?.quantile === 1) first.maxValue = qs.at(-1)!.value;
  return rows;
}
