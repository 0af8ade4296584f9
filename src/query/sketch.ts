/**
 * The log-bucketed histogram behind every percentile (migrations/0004_sketch.sql): the
 * database counts values per key; this turns keys back into values and counts into quantiles.
 */

export const GAMMA = 1.02;
const KEY_OFFSET = 40_000;
const LN_GAMMA = Math.log(GAMMA);

/** The same key as SQL's sketch_key(v), for tests and for sketches built in memory. */
export function sketchKey(value: number): number {
  if (value === 0) return 0;
  const index = Math.ceil(Math.log(Math.abs(value)) / LN_GAMMA) + KEY_OFFSET;
  return value > 0 ? index : -index;
}

/** The representative value of a key: within (γ-1)/(γ+1) ≈ 0.99 % of every value it holds. */
export function keyValue(key: number): number {
  if (key === 0) return 0;
  const index = Math.abs(key) - KEY_OFFSET;
  const value = (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
  return key > 0 ? value : -value;
}

/** The quantiles a query can ask for, by field name. */
export const QUANTILES = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 } as const;
export type QuantileField = keyof typeof QUANTILES;

/**
 * The quantile q, interpolated between the two ranks around q·(n-1) as percentile_cont does,
 * from the keys holding those ranks (the SQL finds them with a running count).
 */
export function interpolate(q: number, total: number, lowKey: number, highKey: number): number {
  const rank = q * (total - 1);
  const low = keyValue(lowKey);
  const high = keyValue(highKey);
  return low + (rank - Math.floor(rank)) * (high - low);
}

/** Quantile of a histogram held in memory (key → count): used by live updates and tests. */
export function quantileOf(histogram: Map<number, number>, q: number): number | null {
  let total = 0;
  for (const count of histogram.values()) total += count;
  if (total === 0) return null;
  const keys = [...histogram.keys()].sort((a, b) => a - b);
  const rank = q * (total - 1);
  const find = (r: number) => {
    let seen = 0;
    for (const key of keys) {
      seen += histogram.get(key)!;
      if (seen > r) return key;
    }
    return keys.at(-1)!;
  };
  return interpolate(q, total, find(Math.floor(rank)), find(Math.ceil(rank)));
}
