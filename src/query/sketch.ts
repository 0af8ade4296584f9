/**
 * The mergeable sketch behind every percentile (migrations/0051_sketch_cells.sql): cells of
 * an OpenTelemetry exponential histogram at scale 6, γ = 2^(1/64). The database stores each
 * series' sketch per bucket as two arrays (cell keys, counts); this merges them across
 * buckets, series and groups and turns the merged counts into quantiles. Percentiles are
 * never averaged.
 *
 * Error bound, as percentile_cont defines the quantile (interpolated between the values at
 * ranks ⌊q·(n−1)⌋ and ⌈q·(n−1)⌉, the neighbours x_lo ≤ x_hi):
 *   - each neighbour is replaced by its cell's representative, within α = (γ−1)/(γ+1) ≈ 0.54 %
 *     of it; the neighbour at rank 0 is the exact min, at rank n−1 the exact max;
 *   - so |estimate − exact| ≤ α·max(|x_lo|, |x_hi|): relative to the exact value ≤ α when the
 *     neighbours have the same sign (the exact value lies between them); across zero the
 *     bound holds relative to the larger-magnitude neighbour (e.g. −1 and 1.01: 0.005 exact,
 *     the estimate within ±0.0055);
 *   - the result is clamped to [min, max], so it never names a value outside the data.
 * Accepted range: every finite value has a cell; |v| ≤ 2^-664 ≈ 1.31e-200 is counted as 0
 * (absolute error ≤ 1.31e-200), so 1e-9 … 1e12 (and far beyond) are within α.
 */

/** log2 of γ: cells are 1/64 of a power of two wide. */
const SCALE = 64;
export const GAMMA = 2 ** (1 / SCALE);
/** The relative error of a cell's representative: (γ−1)/(γ+1). */
export const ALPHA = (GAMMA - 1) / (GAMMA + 1);
/** Cell index i of the smallest positive magnitude kept apart from zero is −42496, key 1. */
const KEY_OFFSET = 42_497;
const MAX_INDEX = 65_536;
/** log2(2γ/(γ+1)): the representative 2γ^(i+1)/(γ+1) is 2^(i/64 + C), which never overflows. */
const C = 1 + 1 / SCALE - Math.log(1 + 2 ** (1 / SCALE)) / Math.LN2;

/** The same key as SQL's sketch_key(v), for tests and for sketches built in memory. */
export function sketchKey(value: number): number {
  if (value === 0) return 0;
  // The same arithmetic as the SQL (ln(v)/ln(2)), so both put a value in the same cell.
  const index = Math.max(Math.min(Math.ceil((Math.log(Math.abs(value)) / Math.LN2) * SCALE) - 1, MAX_INDEX), -KEY_OFFSET);
  const key = index + KEY_OFFSET;
  return value > 0 ? key : key === 0 ? 0 : -key;
}

/** The representative value of a key: within α ≈ 0.54 % of every value its cell holds. */
export function keyValue(key: number): number {
  if (key === 0) return 0;
  const value = 2 ** ((Math.abs(key) - KEY_OFFSET) / SCALE + C);
  return key > 0 ? value : -value;
}

/** The quantiles a query can ask for, by field name. */
export const QUANTILES = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 } as const;
export type QuantileField = keyof typeof QUANTILES;

/** A sketch held in memory: cell key → count. */
export type Cells = Map<number, number>;

/**
 * Adds one stored sketch (keys and their counts; counts null: 1 each) into `cells`.
 * Keys may repeat (the 1 and 5 minute levels keep one key per point).
 */
export function addCells(cells: Cells, keys: readonly number[], counts: readonly number[] | null): void {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    cells.set(key, (cells.get(key) ?? 0) + (counts ? Number(counts[i]) : 1));
  }
}

/** A merged sketch with the exact extremes of the same observations. */
export interface Distribution {
  cells: Cells;
  min: number;
  max: number;
}

/**
 * The quantiles `qs` of a merged sketch, as percentile_cont over its observations would give
 * them, within the bound above. Null when it holds no observations.
 */
export function quantiles(distribution: Distribution, qs: readonly number[]): Array<number | null> {
  const keys = [...distribution.cells.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const key of keys) total += distribution.cells.get(key)!;
  if (total <= 0) return qs.map(() => null);
  const cumulative: number[] = [];
  let seen = 0;
  for (const key of keys) cumulative.push((seen += distribution.cells.get(key)!));
  /** The key of the first cell whose cumulative count exceeds `rank`. */
  const keyAt = (rank: number) => {
    let lo = 0;
    let hi = keys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > rank) hi = mid;
      else lo = mid + 1;
    }
    return keys[lo]!;
  };
  return qs.map((q) => interpolate(q, total, distribution, keyAt));
}

/**
 * The quantile q of `total` observations as percentile_cont defines it: interpolated between
 * the values at ranks ⌊q·(total−1)⌋ and ⌈q·(total−1)⌉, the exact min and max at the extreme
 * ranks and, in between, the representative of the cell `keyAt(rank, upper)` (the first whose
 * cumulative count exceeds the rank; `upper`: the ceiling's), clamped to [min, max].
 */
function interpolate(q: number, total: number, extremes: { min: number; max: number }, keyAt: (rank: number, upper: boolean) => number): number {
  const { min, max } = extremes;
  const rank = q * (total - 1);
  const at = (r: number, upper: boolean) => (r <= 0 ? min : r >= total - 1 ? max : keyValue(keyAt(r, upper)));
  const low = at(Math.floor(rank), false);
  const high = at(Math.ceil(rank), true);
  const value = low + (rank - Math.floor(rank)) * (high - low);
  return Math.min(max, Math.max(min, value));
}

/**
 * The quantiles a tag-group bucket keeps beside its cells (migrations/0091, column qr), in
 * the order it keeps them: those the API offers (QUANTILES).
 */
export const KEPT_QUANTILES: readonly number[] = [0.5, 0.9, 0.95, 0.99];

/**
 * The quantiles `qs` (each one of KEPT_QUANTILES) of one stored sketch from what it keeps
 * (`qr`: its total count, then per kept quantile the cell keys at its lower and upper rank)
 * and the exact extremes of its observations: the same values as quantiles() over its cells.
 */
export function keptQuantiles(qr: readonly number[], extremes: { min: number; max: number }, qs: readonly number[]): Array<number | null> {
  const total = qr[0]!;
  if (!(total > 0)) return qs.map(() => null);
  return qs.map((q) => {
    const i = KEPT_QUANTILES.indexOf(q);
    if (i < 0) throw new Error(`quantile ${q} is not kept`);
    return interpolate(q, total, extremes, (_rank, upper) => qr[1 + 2 * i + (upper ? 1 : 0)]!);
  });
}

/** Quantile of a sketch held in memory, its extremes taken from its cells: used by tests. */
export function quantileOf(cells: Cells, q: number): number | null {
  const keys = [...cells.keys()].filter((k) => cells.get(k)! > 0);
  if (keys.length === 0) return null;
  return quantiles({ cells, min: keyValue(Math.min(...keys)), max: keyValue(Math.max(...keys)) }, [q])[0]!;
}
