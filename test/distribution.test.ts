/** Histograms and summaries as distribution rows (src/ingest/distribution.ts): exact values from known data. */
import { describe, expect, test } from 'vitest';
import { distributionRows, explicitBuckets, exponentialBuckets, representative, subtractBuckets, summaryRows } from '../src/ingest/distribution.js';

describe('explicit buckets', () => {
  test.each([
    // bounds, bucket, min, max → representative
    [[0, 5, 10], '1', null, null, 2.5], // (0,5] touches 0 → arithmetic midpoint
    [[1, 4, 10], '2', null, null, Math.sqrt(40)], // (4,10] geometric
    [[-10, -1], '1', null, null, -Math.sqrt(10)], // (-10,-1] both negative
    [[10], '0', null, null, 10], // (-∞,10] without min: its bound
    [[10], '0', 3, null, Math.sqrt(30)], // (-∞,10] with min 3: (3,10]
    [[10], '1', null, null, 10], // (10,+∞) without max: its bound
    [[10], '1', null, 40, 20], // (10,40]
  ])('bounds %j bucket %s (min %s, max %s) → %d', (bounds, key, min, max, expected) => {
    expect(representative(explicitBuckets(bounds, [1, 1, 1, 1], 4, null, min, max), key)).toBeCloseTo(expected, 12);
  });

  test('no bounds: one bucket at the mean', () => {
    expect(distributionRows(explicitBuckets([], [4], 4, 10, null, null))).toEqual([{ value: 2.5, weight: 4, sumAdjust: 0, minValue: null, maxValue: null }]);
  });
});

describe('exponential buckets', () => {
  test('bucket i at scale s is represented by base^(i+0.5); zero by 0; negatives mirrored', () => {
    const b = exponentialBuckets(3, 0, 2, { offset: 8, counts: [1, 0, 3] }, { offset: 0, counts: [5] }, 11, null, null, null);
    const base = 2 ** (1 / 8);
    expect(distributionRows(b).map((r) => [r.value, r.weight])).toEqual([
      [expect.closeTo(-(base ** 0.5), 12), 5],
      [0, 2],
      [expect.closeTo(base ** 8.5, 12), 1],
      [expect.closeTo(base ** 10.5, 12), 3],
    ]);
  });

  test('a cumulative histogram whose scale went down is compared at the coarser scale', () => {
    const before = exponentialBuckets(4, 0, 0, { offset: 16, counts: [1, 2] }, { offset: 0, counts: [] }, 3, 30, 10, 11);
    // At scale 3 the buckets 16 and 17 of scale 4 are bucket 8; a new observation went to bucket 9.
    const after = exponentialBuckets(3, 0, 0, { offset: 8, counts: [3, 4] }, { offset: 0, counts: [] }, 7, 80, 10, 14);
    expect(subtractBuckets(after, before)).toEqual({ layout: 'x:3:0', count: 4, sum: 50, min: null, max: 14, counts: { p9: 4 } });
  });

  test.each([
    ['fewer observations', exponentialBuckets(0, 0, 0, { offset: 0, counts: [1] }, { offset: 0, counts: [] }, 1, 1, 1, 1)],
    ['a bucket that shrank', exponentialBuckets(0, 0, 0, { offset: 0, counts: [0, 9] }, { offset: 0, counts: [] }, 9, 9, 1, 1)],
  ])('%s is a reset (null)', (_what, current) => {
    const previous = exponentialBuckets(0, 0, 0, { offset: 0, counts: [2, 1] }, { offset: 0, counts: [] }, 3, 3, 1, 1);
    expect(subtractBuckets(current, previous)).toBeNull();
  });

  test('explicit buckets with other bounds are a reset', () => {
    expect(subtractBuckets(explicitBuckets([1], [1, 1], 2, 2, null, null), explicitBuckets([2], [1, 0], 1, 1, null, null))).toBeNull();
  });
});

describe('rows', () => {
  test('exact count, sum, min and max over the rows', () => {
    const rows = distributionRows(explicitBuckets([0, 5, 10], [0, 2, 1, 1], 4, 31, 1, 15));
    const count = rows.reduce((n, r) => n + r.weight, 0);
    const sum = rows.reduce((s, r) => s + r.value * r.weight + (r.sumAdjust ?? 0), 0);
    expect([count, sum, rows[0]!.minValue, rows[0]!.maxValue]).toEqual([4, expect.closeTo(31, 12), 1, 15]);
    expect(rows.slice(1).every((r) => r.sumAdjust === null && r.minValue === null)).toBe(true);
  });

  test('a summary: its quantile values weighted by the share of observations below them, count and sum exact', () => {
    const rows = summaryRows(100, 5_000, [
      { quantile: 0, value: 1 },
      { quantile: 0.5, value: 40 },
      { quantile: 0.9, value: 90 },
      { quantile: 1, value: 200 },
    ]);
    expect(rows.map((r) => [r.value, r.weight])).toEqual([
      [40, 50],
      [90, 40],
      [200, 10],
    ]);
    const sum = rows.reduce((s, r) => s + r.value * r.weight + (r.sumAdjust ?? 0), 0);
    expect(sum).toBeCloseTo(5_000, 9);
    expect([rows[0]!.minValue, rows[0]!.maxValue]).toEqual([1, 200]);
  });

  test('a summary without quantiles: one row at the mean', () => {
    expect(summaryRows(4, 10, [])).toEqual([{ value: 2.5, weight: 4, sumAdjust: 0, minValue: null, maxValue: null }]);
    expect(summaryRows(0, 0, [])).toEqual([]);
  });
});
