import { describe, expect, test } from 'vitest';
import { autoGranularity, bucketStarts, planSegments } from '../src/query/plan.js';
import { ALPHA, GAMMA, keyValue, quantileOf, quantiles, sketchKey } from '../src/query/sketch.js';

const at = (iso: string) => new Date(iso);
const T = '2026-11-20T';

describe('autoGranularity: the coarsest giving at least 60 buckets', () => {
  test.each([
    ['30 minutes', `${T}00:00:00Z`, `${T}00:30:00Z`, 'MINUTE'],
    ['5 hours', `${T}00:00:00Z`, `${T}05:00:00Z`, 'FIVE_MINUTES'],
    ['6 hours', `${T}00:00:00Z`, `${T}06:00:00Z`, 'FIVE_MINUTES'],
    ['2 days', '2026-11-18T00:00:00Z', `${T}00:00:00Z`, 'FIVE_MINUTES'],
    ['3 days', '2026-11-17T00:00:00Z', `${T}00:00:00Z`, 'HOUR'],
    ['59 days', '2026-09-22T00:00:00Z', `${T}00:00:00Z`, 'HOUR'],
    ['60 days', '2026-09-21T00:00:00Z', `${T}00:00:00Z`, 'DAY'],
  ])('%s → %s', (_name, from, to, expected) => {
    expect(autoGranularity(at(from), at(to))).toBe(expected);
  });
});

describe('planSegments: which source answers which part of the range', () => {
  const HOUR = 3_600_000;
  const FIVE = 300_000;
  const plan = (from: string, to: string, g: number, timescale = true) =>
    planSegments(at(from), at(to), g, timescale).map((s) => `${s.source} ${s.from.toISOString().slice(11, 19)}-${s.to.toISOString().slice(11, 19)}`);

  test.each([
    ['aligned hours read the 1h aggregate only', `${T}00:00:00Z`, `${T}03:00:00Z`, HOUR, ['1h 00:00:00-03:00:00']],
    [
      'a ragged start reads raw, 1m and 5m up to the first whole hour',
      `${T}00:37:12Z`,
      `${T}03:00:00Z`,
      HOUR,
      ['raw 00:37:12-00:38:00', '1m 00:38:00-00:40:00', '5m 00:40:00-01:00:00', '1h 01:00:00-03:00:00'],
    ],
    ['a ragged end likewise', `${T}00:00:00Z`, `${T}02:06:30Z`, HOUR, ['1h 00:00:00-02:00:00', '5m 02:00:00-02:05:00', '1m 02:05:00-02:06:00', 'raw 02:06:00-02:06:30']],
    ['five-minute buckets never read the 1h level', `${T}00:00:00Z`, `${T}03:00:00Z`, FIVE, ['5m 00:00:00-03:00:00']],
    ['a range inside one minute is raw', `${T}00:00:10Z`, `${T}00:00:50Z`, HOUR, ['raw 00:00:10-00:00:50']],
    ['without TimescaleDB everything is raw', `${T}00:00:00Z`, `${T}03:00:00Z`, HOUR, ['raw 00:00:00-03:00:00'], false],
  ] as Array<[string, string, string, number, string[], boolean?]>)('%s', (_name, from, to, g, expected, timescale = true) => {
    expect(plan(from, to, g, timescale)).toEqual(expected);
  });

  test('a whole day at DAY granularity reads the 1d level', () => {
    expect(planSegments(at('2026-11-19T00:00:00Z'), at(`${T}00:00:00Z`), 86_400_000, true).map((s) => s.source)).toEqual(['1d']);
  });

  test('bucket starts cover a ragged range from the aligned bucket that holds its start', () => {
    expect(bucketStarts(at(`${T}00:37:12Z`), at(`${T}02:00:00Z`), HOUR).map((t) => new Date(t).toISOString())).toEqual([
      `${T}00:00:00.000Z`,
      `${T}01:00:00.000Z`,
    ]);
  });
});

describe('sketch keys and quantiles', () => {
  test.each([
    [1, 42496],
    [2, 42560],
    [100, 42922],
    [-100, -42922],
    [0, 0],
    [1e-9, 40583],
    [1e12, 45048],
    [1.1e-200, 0],
    [5e-324, 0],
    [1.7976931348623157e308, 108032],
  ])('sketchKey(%d) = %d, matching SQL sketch_key', (value, key) => {
    expect(sketchKey(value)).toBe(key);
  });

  test('cells are OpenTelemetry scale-6 buckets: cell i = (γ^i, γ^(i+1)], γ = 2^(1/64)', () => {
    expect(GAMMA).toBe(2 ** (1 / 64));
    // 2 = γ^64 is the top of cell 63; just above it starts cell 64.
    expect(sketchKey(2) - sketchKey(1)).toBe(64);
    expect(sketchKey(2 * 1.0001) - sketchKey(2)).toBe(1);
  });

  test.each([1e-9, 0.001, 0.5, 1, 3.3, 1234.5, 9.9e12, 1e12, -7, -0.02, 1.5e308])('keyValue(sketchKey(%d)) is within α ≈ 0.54 % of it', (value) => {
    expect(Math.abs(keyValue(sketchKey(value)) - value) / Math.abs(value)).toBeLessThanOrEqual(ALPHA * (1 + 1e-12));
  });

  const cellsOf = (values: number[]) => {
    const cells = new Map<number, number>();
    for (const v of values) cells.set(sketchKey(v), (cells.get(sketchKey(v)) ?? 0) + 1);
    return { cells, min: Math.min(...values), max: Math.max(...values) };
  };

  test('interpolation follows percentile_cont between the ranks around q·(n-1), with the exact extremes at the ends', () => {
    // n = 5, q = 0.9: rank 3.6 → 60 % of the way from the 4th value to the 5th (the max, exact).
    const [p90] = quantiles(cellsOf([1, 2, 3, 10, 20]), [0.9]);
    expect(p90).toBeCloseTo(keyValue(sketchKey(10)) + 0.6 * (20 - keyValue(sketchKey(10))), 12);
  });

  // Opposite signs: |estimate − exact| ≤ α·max(|x_lo|, |x_hi|) (src/query/sketch.ts); exact
  // where the neighbours are the min and max.
  test.each([
    [[-1, 2], 0.5, 0.5],
    [[-2, 1], 0.5, -0.5],
    [[-1, 0, 1], 0.5, 0],
    [[-1, 2], 0.25, -0.25],
    [[-3, 1], 0.75, 0],
  ])('p of %j at q = %d is exactly %d', (values, q, exact) => {
    expect(quantiles(cellsOf(values), [q])[0]).toBe(exact);
  });

  test.each([
    [[-3, -1, 2, 5], 0.5, 0.5],
    [[-5, -1, 1.01, 5], 0.5, 0.005],
    [[-1000, -1, 2, 1000], 0.5, 0.5],
  ])('p of %j at q = %d is within α of the larger neighbour of the exact %d', (values, q, exact) => {
    const sorted = [...values].sort((a, b) => a - b);
    const r = q * (sorted.length - 1);
    const bound = ALPHA * Math.max(Math.abs(sorted[Math.floor(r)]!), Math.abs(sorted[Math.ceil(r)]!));
    const estimate = quantiles(cellsOf(values), [q])[0]!;
    expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(bound);
    // The neighbours' representatives, interpolated: e.g. −1 and 2 → (−0.99458 + 1.98917) / 2.
    expect(estimate).toBeCloseTo(keyValue(sketchKey(sorted[Math.floor(r)]!)) + (r - Math.floor(r)) * (keyValue(sketchKey(sorted[Math.ceil(r)]!)) - keyValue(sketchKey(sorted[Math.floor(r)]!))), 12);
  });

  test('a bimodal distribution keeps its p99 within 1 % (the merged t-digest trap)', () => {
    const values = [...Array.from({ length: 900 }, (_, i) => 1 + (i % 10) / 10), ...Array.from({ length: 100 }, (_, i) => 1000 + i)];
    const histogram = new Map<number, number>();
    for (const v of values) histogram.set(sketchKey(v), (histogram.get(sketchKey(v)) ?? 0) + 1);
    const sorted = [...values].sort((a, b) => a - b);
    const exact = (q: number) => {
      const r = q * (sorted.length - 1);
      return sorted[Math.floor(r)]! + (r - Math.floor(r)) * (sorted[Math.ceil(r)]! - sorted[Math.floor(r)]!);
    };
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      expect(Math.abs(quantileOf(histogram, q)! - exact(q)) / exact(q)).toBeLessThanOrEqual(0.01);
    }
  });
});
