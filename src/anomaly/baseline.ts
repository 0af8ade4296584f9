/**
 * The seasonal baseline behind metricAnomalies and ANOMALY alert rules. Pure functions over
 * bucket values (tested as tables in test/anomaly-baseline.test.ts; measured by
 * `npm run bench:anomaly`).
 *
 * Method: a same-bucket-of-week robust baseline.
 *
 * - expected(t) = median over k = 1..N of (x(t − k·week) + k·trend): the same hour of the
 *   week in each of the last N weeks, each moved forward by the weekly trend. A series with
 *   less than 2 weeks of history (or a bucket with no weekly sample) falls back to the same
 *   hour of the day over the last 7 days (daily seasonality only), moved by trend/7 per day.
 * - trend = median of the week-over-week differences x(h) − x(h − week) over the history
 *   (0 with fewer than 24 pairs): robust to anomalies in the history, and seasonality cancels.
 * - scale = 1.4826 · MAD of leave-one-out residuals: each history bucket predicted the same
 *   way from the other history weeks (itself left out), so the residuals spread like the error
 *   of a real prediction. Pooled per hour of the day at HOUR granularity (noise at 3 a.m. is
 *   not noise at noon), over all buckets otherwise. Floors keep a flat or mostly-constant
 *   series from flagging noise: half the mean absolute residual (× 1.2533, its normal-scale
 *   factor), 1 % of |expected|, and 1e-9.
 * - score = (x − expected) / scale, signed; the band is expected ± threshold · scale; a bucket
 *   is an anomaly when |score| > threshold.
 * - A series whose history starts less than `minHistoryMs` before `from` is LEARNING: its
 *   points carry their values only, never an anomaly.
 *
 * Example (HOUR, 2 weeks, threshold 3): the Monday 10:00 bucket read 10 and 12 in the two
 * previous weeks (trend 0 over flat history), so expected = 11; the leave-one-out residuals
 * of that hour of day give scale 1; an observed 20 scores +9 and is an anomaly, with band
 * [8, 14].
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;

/** Weeks of history a series needs before the weekly baseline is used instead of the daily one. */
export const MIN_WEEKLY_SAMPLES = 2;
/** Week-over-week pairs the trend needs; fewer means no trend. */
export const MIN_TREND_PAIRS = 24;
/** Residuals an hour of the day needs for its own scale; fewer uses the pooled one. */
export const MIN_GROUP_RESIDUALS = 48;
/** Hours either side of an hour of the day whose residuals its scale also takes. */
export const NEIGHBOUR_HOURS = 2;
export const REL_SCALE_FLOOR = 0.01;
export const ABS_SCALE_FLOOR = 1e-9;

export const SENSITIVITIES = { LOW: 5.5, MEDIUM: 4, HIGH: 3.5 } as const;
export type Sensitivity = keyof typeof SENSITIVITIES;

export interface BaselineOptions {
  /** Bucket width: HOUR_MS or DAY_MS. */
  widthMs: number;
  /** How many weeks before `from` the history covers. */
  historyWeeks: number;
  /** |score| above which a bucket is an anomaly (SENSITIVITIES). */
  threshold: number;
  /** How long before `from` the first history value must be for the series to be READY. */
  minHistoryMs: number;
}

export interface AnomalyPoint {
  start: number;
  value: number | null;
  expected: number | null;
  lower: number | null;
  upper: number | null;
  score: number | null;
  anomaly: boolean;
}

export interface SeriesVerdict {
  state: 'LEARNING' | 'READY';
  points: AnomalyPoint[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median absolute deviation from the median. */
export function mad(values: number[]): number {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m)));
}

const NORMAL_MAD = 1.4826;
const NORMAL_MEAN_ABS = 1.2533;

/**
 * Judges the buckets of [from, to) of one series. `values` maps bucket starts (ms, multiples
 * of widthMs) to values; missing buckets are absent. History is what lies in
 * [from − historyWeeks·week, from); values inside [from, to) also serve as samples for later
 * buckets of a range longer than a week.
 */
export function judgeSeries(values: ReadonlyMap<number, number>, from: number, to: number, options: BaselineOptions): SeriesVerdict {
  const { widthMs, historyWeeks, threshold } = options;
  const historyFrom = from - historyWeeks * WEEK_MS;
  const inHistory = (t: number) => t >= historyFrom && t < from;
  const starts: number[] = [];
  for (let t = Math.floor(from / widthMs) * widthMs; t < to; t += widthMs) starts.push(t);
  let earliest = Infinity;
  for (const t of values.keys()) if (inHistory(t) && t < earliest) earliest = t;
  if (from - earliest < options.minHistoryMs) {
    return { state: 'LEARNING', points: starts.map((start) => ({ start, value: values.get(start) ?? null, expected: null, lower: null, upper: null, score: null, anomaly: false })) };
  }

  const trendPerWeek = weeklyTrend(values, inHistory);
  /** Samples for bucket t from buckets at t + offsets, trend-adjusted, where `usable` says so. */
  const samples = (t: number, offsets: number[], perMs: number, usable: (s: number) => boolean) => {
    const out: number[] = [];
    for (const offset of offsets) {
      const s = t + offset;
      const v = values.get(s);
      if (v !== undefined && usable(s)) out.push(v - offset * perMs);
    }
    return out;
  };
  const perMs = trendPerWeek / WEEK_MS;
  const weekBack = Array.from({ length: historyWeeks }, (_, k) => -(k + 1) * WEEK_MS);
  const dayBack = Array.from({ length: 7 }, (_, k) => -(k + 1) * DAY_MS);
  // Weekly when the history spans MIN_WEEKLY_SAMPLES weeks; decided per series, so the
  // leave-one-out residuals (one week fewer) come from the same kind of prediction.
  const weeklyMode = from - earliest >= MIN_WEEKLY_SAMPLES * WEEK_MS;
  const predict = (t: number, weekly: number[], daily: number[], usable: (s: number) => boolean): number | null => {
    const w = weeklyMode ? samples(t, weekly, perMs, usable) : [];
    if (w.length > 0) return median(w);
    const d = samples(t, daily, perMs, usable);
    return d.length > 0 ? median(d) : null;
  };

  // Leave-one-out residuals of the history, grouped by hour of day at HOUR granularity.
  const weekBoth = Array.from({ length: 2 * historyWeeks }, (_, i) => (i < historyWeeks ? -(i + 1) : i - historyWeeks + 1) * WEEK_MS);
  const dayBoth = [...dayBack, ...dayBack.map((o) => -o)];
  const residuals: number[] = [];
  const byGroup = new Map<number, number[]>();
  const groupOf = (t: number) => (widthMs < DAY_MS ? Math.floor((t % DAY_MS) / widthMs) : 0);
  for (const [t, v] of values) {
    if (!inHistory(t)) continue;
    const e = predict(t, weekBoth, dayBoth, inHistory);
    if (e === null) continue;
    const r = v - e;
    residuals.push(r);
    const group = byGroup.get(groupOf(t)) ?? [];
    group.push(r);
    byGroup.set(groupOf(t), group);
  }
  const pooled = residuals.length > 0 ? NORMAL_MAD * mad(residuals) : 0;
  const meanAbs = residuals.length > 0 ? (NORMAL_MEAN_ABS * residuals.reduce((sum, r) => sum + Math.abs(r), 0)) / residuals.length : 0;
  const groupScale = new Map<number, number>();
  // Each hour of the day takes the residuals of the hours within ±2 of it: enough for a
  // steady MAD (5 × 7 × weeks), still following noise that differs between night and day.
  for (const group of byGroup.keys()) {
    const near: number[] = [];
    const hours = DAY_MS / widthMs;
    for (let d = -NEIGHBOUR_HOURS; d <= NEIGHBOUR_HOURS; d++) near.push(...(byGroup.get((group + d + hours) % hours) ?? []));
    groupScale.set(group, widthMs < DAY_MS && near.length >= MIN_GROUP_RESIDUALS ? NORMAL_MAD * mad(near) : pooled);
  }

  const known = (s: number) => s >= historyFrom;
  const points = starts.map((start): AnomalyPoint => {
    const value = values.get(start) ?? null;
    const expected = predict(start, weekBack, dayBack, known);
    if (expected === null) return { start, value, expected: null, lower: null, upper: null, score: null, anomaly: false };
    const scale = Math.max(groupScale.get(groupOf(start)) ?? pooled, meanAbs / 2, REL_SCALE_FLOOR * Math.abs(expected), ABS_SCALE_FLOOR);
    const score = value === null ? null : (value - expected) / scale;
    return { start, value, expected, lower: expected - threshold * scale, upper: expected + threshold * scale, score, anomaly: score !== null && Math.abs(score) > threshold };
  });
  return { state: 'READY', points };
}

/** Median week-over-week difference over the history; 0 with fewer than MIN_TREND_PAIRS pairs. */
export function weeklyTrend(values: ReadonlyMap<number, number>, inHistory: (t: number) => boolean): number {
  const diffs: number[] = [];
  for (const [t, v] of values) {
    const before = values.get(t - WEEK_MS);
    if (before !== undefined && inHistory(t) && inHistory(t - WEEK_MS)) diffs.push(v - before);
  }
  return diffs.length >= MIN_TREND_PAIRS ? median(diffs) : 0;
}
