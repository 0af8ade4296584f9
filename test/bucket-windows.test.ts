/**
 * bucketWindows (src/query/read-buckets.ts): a fixed-width range cut into windows of at most n
 * buckets, whose indexes (offset + the window's own) are the whole range's, and whose edge
 * windows keep the whole range's partly covered edges.
 */
import { describe, expect, test } from 'vitest';
import { MINUTE } from '../src/query/plan.js';
import { boundedBuckets, bucketWindows, fixedBuckets } from '../src/query/read-buckets.js';

const T = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('bucketWindows', () => {
  test.each<[string, number, number, number, Array<[number, string, string, number]>]>([
    ['5 whole minutes by 2', 0, 5 * MINUTE, 2, [[0, iso(T), iso(T + 2 * MINUTE), 2], [2, iso(T + 2 * MINUTE), iso(T + 4 * MINUTE), 2], [4, iso(T + 4 * MINUTE), iso(T + 5 * MINUTE), 1]]],
    ['ragged edges (00:00:30 to 00:03:10) by 2', 30_000, 3 * MINUTE + 10_000, 2, [[0, iso(T + 30_000), iso(T + 2 * MINUTE), 2], [2, iso(T + 2 * MINUTE), iso(T + 3 * MINUTE + 10_000), 2]]],
    ['fewer buckets than a window: the bucketing itself', 0, 3 * MINUTE, 10, [[0, iso(T), iso(T + 3 * MINUTE), 3]]],
    ['a fractional window size is whole buckets (2.5 → 2)', 0, 4 * MINUTE, 2.5, [[0, iso(T), iso(T + 2 * MINUTE), 2], [2, iso(T + 2 * MINUTE), iso(T + 4 * MINUTE), 2]]],
    ['under one bucket is one bucket', 0, 2 * MINUTE, 0.3, [[0, iso(T), iso(T + MINUTE), 1], [1, iso(T + MINUTE), iso(T + 2 * MINUTE), 1]]],
  ])('%s', (_name, from, to, size, expected) => {
    const whole = fixedBuckets(new Date(T + from), new Date(T + to), MINUTE);
    const windows = bucketWindows(whole, size);
    expect(windows.map((w) => [w.offset, w.bucketing.from.toISOString(), w.bucketing.to.toISOString(), w.bucketing.count])).toEqual(expected);
    // Each window's bucket i is the whole range's bucket offset + i.
    for (const { offset, bucketing } of windows) {
      for (let i = 0; i < bucketing.count; i++) expect([bucketing.start(i), offset + bucketing.index(iso(bucketing.start(i)))]).toEqual([whole.start(offset + i), offset + i]);
    }
  });

  test('calendar buckets are not cut: their statements are bounded by their own count', () => {
    const days = boundedBuckets([T, T + 1_440 * MINUTE, T + 2_880 * MINUTE, T + 4_320 * MINUTE]);
    expect(bucketWindows(days, 1)).toEqual([{ offset: 0, bucketing: days }]);
  });
});
