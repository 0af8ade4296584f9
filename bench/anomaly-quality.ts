/**
 * Detection quality of the seasonal baseline (src/anomaly/baseline.ts) against a static
 * threshold, on generated hourly series: daily and weekly seasonality, trend and Gaussian
 * noise, 4 weeks of history (with stray spikes in some) and one week judged, in which one
 * anomaly of known time and kind is injected (or none, for clean series).
 *
 * Runs on the pure module (deterministic seed, no database): `npm run bench:anomaly` prints
 * it before the latency part (bench/anomaly.ts).
 */
import { HOUR_MS, judgeSeries, SENSITIVITIES, WEEK_MS, type AnomalyPoint } from '../src/anomaly/baseline.js';

export const KINDS = ['spike', 'dip', 'level shift', 'variance change', 'clean'] as const;
export type Kind = (typeof KINDS)[number];

/** mulberry32: a small seeded PRNG, so every run judges the same series. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface Generated {
  values: Map<number, number>;
  from: number;
  to: number;
  kind: Kind;
  /** The injected anomaly's buckets [start, end) in ms; null for clean series. */
  window: [number, number] | null;
}

/** A Monday 00:00 UTC: the judged week starts here, the history is the 4 weeks before. */
export const FROM = Date.parse('2026-11-02T00:00:00Z');
export const HISTORY_WEEKS = 4;

/**
 * One series: level L (50-500), daily swing 30-60 % of L peaking mid-afternoon, weekends at
 * 60-80 %, trend up to ±3 % of L per week, noise σ 2-6 % of L. Anomalies, in units of σ:
 * spike/dip one bucket of 6-12 σ; level shift 5-10 σ for 12-72 h; variance ×4 for 24 h.
 */
export function generate(kind: Kind, random: () => number): Generated {
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const level = 50 + 450 * random();
  const swing = level * (0.3 + 0.3 * random());
  const weekend = 0.6 + 0.2 * random();
  const trend = level * 0.03 * (2 * random() - 1);
  const sigma = level * (0.02 + 0.04 * random());
  const start = FROM - HISTORY_WEEKS * WEEK_MS;
  const to = FROM + WEEK_MS;
  const values = new Map<number, number>();
  const hours = (to - start) / HOUR_MS;
  // The anomaly starts in the judged week, away from its edges.
  const at = FROM + Math.floor(12 + random() * (168 - 96)) * HOUR_MS;
  const length = kind === 'spike' || kind === 'dip' ? 1 : kind === 'level shift' ? 12 + Math.floor(random() * 61) : kind === 'variance change' ? 24 : 0;
  const size = (kind === 'spike' || kind === 'dip' ? 6 + 6 * random() : 5 + 5 * random()) * sigma * (kind === 'dip' || (kind === 'level shift' && random() < 0.5) ? -1 : 1);
  // Half the series carry a stray spike somewhere in their history, as real ones do.
  const stray = random() < 0.5 ? start + Math.floor(random() * (hours - 168)) * HOUR_MS : -1;
  for (let i = 0; i < hours; i++) {
    const t = start + i * HOUR_MS;
    const date = new Date(t);
    const day = date.getUTCDay();
    const hour = date.getUTCHours();
    const daily = swing * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
    const base = (level + daily) * (day === 0 || day === 6 ? weekend : 1) + (trend * (t - start)) / WEEK_MS;
    let noise = sigma * gauss();
    const inside = length > 0 && t >= at && t < at + length * HOUR_MS;
    if (inside && kind === 'variance change') noise *= 4;
    values.set(t, base + noise + (inside && kind !== 'variance change' ? size : 0) + (t === stray ? 10 * sigma : 0));
  }
  return { values, from: FROM, to, kind, window: length > 0 ? [at, at + length * HOUR_MS] : null };
}

/** Flags per judged bucket: the seasonal baseline at a sensitivity. */
export function seasonalFlags(series: Generated, threshold: number): boolean[] {
  const verdict = judgeSeries(series.values, series.from, series.to, { widthMs: HOUR_MS, historyWeeks: HISTORY_WEEKS, threshold, minHistoryMs: 7 * 24 * HOUR_MS });
  return verdict.points.map((p: AnomalyPoint) => p.anomaly);
}

/** Flags per judged bucket: the tightest static band that raises no alarm over the history (its min and max). */
export function staticFlags(series: Generated): boolean[] {
  let min = Infinity;
  let max = -Infinity;
  const flags: boolean[] = [];
  for (const [t, v] of series.values) {
    if (t < series.from) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  for (let t = series.from; t < series.to; t += HOUR_MS) {
    const v = series.values.get(t)!;
    flags.push(v < min || v > max);
  }
  return flags;
}

export interface Score {
  alarms: number;
  trueAlarms: number;
  anomalies: number;
  detected: number;
  seriesWeeks: number;
}

/**
 * Alarms are runs of consecutive flagged buckets. An alarm is true when it overlaps the
 * anomaly's buckets (or the bucket right after them: a level shift's end is a change too);
 * an anomaly is detected when a true alarm overlaps it.
 */
export function score(series: Generated, flags: boolean[]): Score {
  const result: Score = { alarms: 0, trueAlarms: 0, anomalies: series.window ? 1 : 0, detected: 0, seriesWeeks: (series.to - series.from) / WEEK_MS };
  const [a, b] = series.window ?? [0, 0];
  for (let i = 0; i < flags.length; i++) {
    if (!flags[i] || flags[i - 1]) continue;
    let j = i;
    while (flags[j + 1]) j++;
    const from = series.from + i * HOUR_MS;
    const to = series.from + (j + 1) * HOUR_MS;
    result.alarms++;
    if (series.window && from <= b && to > a) {
      result.trueAlarms++;
      result.detected = 1;
    }
  }
  return result;
}

export interface QualityRow {
  kind: Kind;
  method: string;
  precision: number;
  recall: number;
  falseAlarmsPerSeriesWeek: number;
}

/** SERIES_PER_KIND series of each kind, judged by each method. */
export function measureQuality(seriesPerKind: number, seed: number): QualityRow[] {
  const random = prng(seed);
  const methods: Array<[string, (s: Generated) => boolean[]]> = [
    ...Object.entries(SENSITIVITIES).map(([name, threshold]) => [`seasonal ${name}`, (s: Generated) => seasonalFlags(s, threshold)] as [string, (s: Generated) => boolean[]]),
    ['static min/max of history', staticFlags],
  ];
  const totals = new Map<string, Score>();
  for (const kind of KINDS) {
    for (let i = 0; i < seriesPerKind; i++) {
      const series = generate(kind, random);
      for (const [method, flags] of methods) {
        const s = score(series, flags(series));
        const key = `${kind}\u0000${method}`;
        const total = totals.get(key) ?? { alarms: 0, trueAlarms: 0, anomalies: 0, detected: 0, seriesWeeks: 0 };
        totals.set(key, { alarms: total.alarms + s.alarms, trueAlarms: total.trueAlarms + s.trueAlarms, anomalies: total.anomalies + s.anomalies, detected: total.detected + s.detected, seriesWeeks: total.seriesWeeks + s.seriesWeeks });
      }
    }
  }
  return [...totals].map(([key, t]) => {
    const [kind, method] = key.split('\u0000') as [Kind, string];
    return {
      kind,
      method,
      precision: t.alarms > 0 ? t.trueAlarms / t.alarms : 1,
      recall: t.anomalies > 0 ? t.detected / t.anomalies : 1,
      falseAlarmsPerSeriesWeek: (t.alarms - t.trueAlarms) / t.seriesWeeks,
    };
  });
}
