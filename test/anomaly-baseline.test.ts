/**
 * The seasonal baseline (src/anomaly/baseline.ts) on small series whose expected values,
 * scales and scores follow by hand.
 */
import { describe, expect, test } from 'vitest';
import { DAY_MS, HOUR_MS, judgeSeries, mad, median, SENSITIVITIES, WEEK_MS, weeklyTrend, type BaselineOptions } from '../src/anomaly/baseline.js';

/** Monday 2026-11-02 00:00 UTC. */
const FROM = Date.parse('2026-11-02T00:00:00Z');
const hourly = (weeks: number, value: (t: number, i: number) => number, start = FROM - weeks * WEEK_MS) => {
  const values = new Map<number, number>();
  for (let t = start, i = 0; t < FROM; t += HOUR_MS, i++) values.set(t, value(t, i));
  return values;
};
const options = (o: Partial<BaselineOptions> = {}): BaselineOptions => ({ widthMs: HOUR_MS, historyWeeks: 2, threshold: 4.5, minHistoryMs: 7 * DAY_MS, ...o });

describe('median and MAD', () => {
  test.each([
    [[3], 3, 0],
    [[1, 2], 1.5, 0.5],
    [[5, 1, 3], 3, 2],
    [[1, 1, 2, 2, 4, 6, 9], 2, 1],
  ])('%j → median %d, MAD %d', (values, m, d) => {
    expect(median(values)).toBe(m);
    expect(mad(values)).toBe(d);
  });
});

describe('weeklyTrend: median week-over-week difference', () => {
  const all = () => true;
  test('two weeks 2 apart: 2 per week, whatever the hour', () => {
    expect(weeklyTrend(hourly(2, (t, i) => (i < 168 ? 10 : 12) + (i % 24)), all)).toBe(2);
  });
  test('a spike in the second week does not move it', () => {
    expect(weeklyTrend(hourly(2, (t, i) => (i === 200 ? 1000 : i < 168 ? 10 : 12)), all)).toBe(2);
  });
  test('fewer than 24 pairs: no trend', () => {
    expect(weeklyTrend(hourly(2, (t, i) => (i < 168 ? 10 : 12), FROM - WEEK_MS - 23 * HOUR_MS), all)).toBe(0);
  });
});

describe('judgeSeries', () => {
  test('history that alternates ±1 between weeks: expected is the median of the weeks, scale 1.4826 · MAD 1', () => {
    // Week A: 10 every hour; week B: 11 at even hours, 9 at odd ones. Trend: median of +1/−1 = 0.
    // Leave-one-out residuals are all ±1, so MAD 1 and scale 1.4826.
    const values = hourly(2, (t, i) => (i < 168 ? 10 : i % 2 === 0 ? 11 : 9));
    values.set(FROM, 20); // Monday 00:00, an even hour: expected median(11, 10) = 10.5
    values.set(FROM + HOUR_MS, 9.5); // odd hour: expected median(9, 10) = 9.5
    const verdict = judgeSeries(values, FROM, FROM + 3 * HOUR_MS, options());
    expect(verdict.state).toBe('READY');
    const [spike, calm, missing] = verdict.points;
    expect(spike!.expected).toBe(10.5);
    expect(spike!.score).toBeCloseTo(9.5 / 1.4826, 10);
    expect(spike!.lower).toBeCloseTo(10.5 - 4.5 * 1.4826, 10);
    expect(spike!.upper).toBeCloseTo(10.5 + 4.5 * 1.4826, 10);
    expect(spike!.anomaly).toBe(true);
    expect(calm).toMatchObject({ value: 9.5, expected: 9.5, score: 0, anomaly: false });
    // No value: the band is still there, nothing is judged.
    expect(missing).toMatchObject({ value: null, expected: 10.5, score: null, anomaly: false });
  });

  test('a steady trend is followed, and a flat residual uses the 1 % floor', () => {
    // 10 then 12: trend +2 a week, so both weeks predict 14; all residuals 0, scale = 1 % of 14.
    const values = hourly(2, (t, i) => (i < 168 ? 10 : 12));
    values.set(FROM, 14);
    values.set(FROM + HOUR_MS, 15);
    const [level, step] = judgeSeries(values, FROM, FROM + 2 * HOUR_MS, options()).points;
    expect(level).toMatchObject({ expected: 14, score: 0, anomaly: false });
    expect(level!.lower).toBeCloseTo(14 - 4.5 * 0.14, 10);
    expect(step!.score).toBeCloseTo(1 / 0.14, 10);
    expect(step!.anomaly).toBe(true);
  });

  test.each([
    [7, false],
    [6.5, false],
    [6.4, true],
    [SENSITIVITIES.MEDIUM, true],
  ])('threshold %d: a score of 6.41 is an anomaly: %s', (threshold, anomaly) => {
    const values = hourly(2, (t, i) => (i < 168 ? 10 : i % 2 === 0 ? 11 : 9));
    values.set(FROM, 20);
    expect(judgeSeries(values, FROM, FROM + HOUR_MS, options({ threshold })).points[0]!.anomaly).toBe(anomaly);
  });

  test('with one week of history, the same hour of the day over the last 7 days answers', () => {
    // Every day reads its hour (0..23): 05:00 is expected at 5; scale floors at 1 % of 5.
    const values = hourly(1, (t) => new Date(t).getUTCHours());
    values.set(FROM + 5 * HOUR_MS, 6);
    const point = judgeSeries(values, FROM, FROM + 6 * HOUR_MS, options({ historyWeeks: 4 })).points[5]!;
    expect(point).toMatchObject({ expected: 5, anomaly: true });
    expect(point.score).toBeCloseTo(1 / 0.05, 10);
  });

  test('history shorter than the minimum: LEARNING, values only, never an anomaly', () => {
    const values = hourly(1, () => 10, FROM - 2 * DAY_MS);
    values.set(FROM, 1000);
    expect(judgeSeries(values, FROM, FROM + HOUR_MS, options())).toEqual({
      state: 'LEARNING',
      points: [{ start: FROM, value: 1000, expected: null, lower: null, upper: null, score: null, anomaly: false }],
    });
  });

  test('DAY buckets: the same weekday of earlier weeks, so weekends expect weekend levels', () => {
    const values = new Map<number, number>();
    for (let t = FROM - 3 * WEEK_MS; t < FROM; t += DAY_MS) values.set(t, [0, 6].includes(new Date(t).getUTCDay()) ? 50 : 100);
    const points = judgeSeries(values, FROM, FROM + WEEK_MS, { widthMs: DAY_MS, historyWeeks: 3, threshold: 4.5, minHistoryMs: 7 * DAY_MS }).points;
    expect(points.map((p) => p.expected)).toEqual([100, 100, 100, 100, 100, 50, 50]);
  });

  test('a range longer than a week judges its second week against its first too', () => {
    const values = hourly(2, () => 10);
    for (let t = FROM; t < FROM + WEEK_MS; t += HOUR_MS) values.set(t, 10);
    values.set(FROM + WEEK_MS, 10);
    // Its weekly samples: FROM (10, in the range), FROM − 1 week (10).
    expect(judgeSeries(values, FROM, FROM + WEEK_MS + HOUR_MS, options()).points.at(-1)).toMatchObject({ expected: 10, score: 0 });
  });
});
