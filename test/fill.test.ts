/**
 * src/query/fill.ts: the empty buckets each fill mode makes, field by field (they are written
 * out as literals for their cost: bench/abuse.ts), and how pages split across series.
 */
import { describe, expect, it } from 'vitest';
import type { Bucket, ResultSeries } from '../src/query/aggregate.js';
import { emptyBucket, fillAll, fillPage } from '../src/query/fill.js';

const M = 60_000;
const at = (minute: number) => new Date(minute * M);
const point = (minute: number, v: number, value?: number): Bucket => ({
  start: at(minute), end: at(minute + 1), count: 2, sum: 2 * v, min: v, max: v, avg: v, last: v, rate: null, p50: v, p90: v, p95: v, p99: v, ...(value === undefined ? {} : { value }),
});
const series = (buckets: Bucket[], extra: object = {}): ResultSeries => ({ metric: 'm', type: 'GAUGE', unit: null, tags: {}, buckets, ...extra });
const range = (fill: 'NONE' | 'NULL' | 'ZERO' | 'PREVIOUS') => ({ from: at(0), to: at(4), granularityMs: M, fill });

describe('emptyBucket', () => {
  it('ZERO: zeros everywhere; a COUNTER has rate 0 and no last, a GAUGE last 0 and no rate; a definition value 0', () => {
    expect(emptyBucket(0, M, 'ZERO', 'COUNTER', false, undefined)).toEqual({ start: at(0), end: at(1), count: 0, sum: 0, min: 0, max: 0, avg: 0, last: null, rate: 0, p50: 0, p90: 0, p95: 0, p99: 0 });
    expect(emptyBucket(0, M, 'ZERO', 'GAUGE', true, undefined)).toEqual({ start: at(0), end: at(1), count: 0, sum: 0, min: 0, max: 0, avg: 0, last: 0, rate: null, p50: 0, p90: 0, p95: 0, p99: 0, value: 0 });
  });
  it('PREVIOUS: the previous bucket’s values (and value) with count 0 and its own frame; NULL before any', () => {
    expect(emptyBucket(3 * M, M, 'PREVIOUS', 'GAUGE', true, point(1, 5, 10))).toEqual({ ...point(1, 5, 10), start: at(3), end: at(4), count: 0 });
    expect(emptyBucket(0, M, 'PREVIOUS', 'GAUGE', true, undefined)).toEqual({ start: at(0), end: at(1), count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null, value: null });
  });
  it('NULL: nulls with count 0; no value key for a recorded metric', () => {
    const bucket = emptyBucket(0, M, 'NULL', 'HISTOGRAM', false, undefined);
    expect(bucket).toEqual({ start: at(0), end: at(1), count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null });
    expect('value' in bucket).toBe(false);
  });
});

describe('fillPage', () => {
  it('walks series then time after the cursor, making the empty buckets of the page only', () => {
    const a = series([point(1, 5)]);
    const b = series([point(2, 7)], { tags: { host: 'b' } });
    const first = fillPage([a, b], range('PREVIOUS'), 5, null);
    expect(first.series.map((s) => s.buckets.map((x) => [x.start.getTime() / M, x.count, x.avg]))).toEqual([
      [[0, 0, null], [1, 2, 5], [2, 0, 5], [3, 0, 5]],
      [[0, 0, null]],
    ]);
    expect(first).toMatchObject({ more: true, last: { s: 1, t: 0 } });
    const second = fillPage([a, b], range('PREVIOUS'), 5, first.last);
    expect(second.series.map((s) => s.buckets.map((x) => [x.start.getTime() / M, x.count, x.avg]))).toEqual([[[1, 0, null], [2, 2, 7], [3, 0, 7]]]);
    expect(second.more).toBe(false);
  });
  it('NONE returns the recorded buckets themselves; fillAll fills every series whole', () => {
    const a = series([point(1, 5)]);
    expect(fillPage([a], range('NONE'), 10, null).series[0]!.buckets[0]).toBe(a.buckets[0]);
    expect(fillAll([a], range('ZERO'))[0]!.buckets.map((x) => x.sum)).toEqual([0, 10, 0, 0]);
  });
});
