/**
 * An ANOMALY rule's condition (src/anomaly/judge-rule.ts) over a fake bucket reader: what it
 * reads, what it decides, and that a settled hour's verdict is kept instead of re-reading
 * weeks of history every tick.
 */
import { describe, expect, test } from 'vitest';
import { createSettledJudge, judgeNewestHour, SETTLE_MS, type AnomalyRule } from '../src/anomaly/judge-rule.js';
import { HOUR_MS, SENSITIVITIES, WEEK_MS } from '../src/anomaly/baseline.js';
import type { AggregateQuery, AggregateResult } from '../src/query/aggregate.js';

const HOUR_END = Date.parse('2026-11-20T11:00:00Z');
const rule: AnomalyRule = { metric: 'load', tags: { host: 'a' }, filters: [], aggregation: 'AVG', sensitivity: 'MEDIUM', historyWeeks: 4, minHistoryDays: 7 };

/** A reader answering every hour with one point of 10, and `last` for the newest hour; it records each query. */
function fakeReader(last: number) {
  const queries: AggregateQuery[] = [];
  const read = async (query: AggregateQuery): Promise<AggregateResult> => {
    queries.push(query);
    const buckets = [];
    for (let t = query.from.getTime(); t < query.to.getTime(); t += HOUR_MS) {
      const v = t === query.to.getTime() - HOUR_MS ? last : 10;
      buckets.push({ start: new Date(t), end: new Date(t + HOUR_MS), count: 1, sum: v, min: v, max: v, avg: v, last: v, rate: null, p50: v, p90: v, p95: v, p99: v });
    }
    return { granularity: 'HOUR', series: [{ metric: 'load', type: 'GAUGE', unit: null, tags: {}, buckets }], sources: ['stats_1h'] };
  };
  return { read, queries };
}

describe('judgeNewestHour', () => {
  test('reads the newest whole hour and its weeks of history in one query, and holds on an anomaly', async () => {
    const { read, queries } = fakeReader(50);
    const verdict = await judgeNewestHour(read, rule, new Date(HOUR_END + 30_000));
    expect(queries).toEqual([
      { metrics: ['load'], from: new Date(HOUR_END - HOUR_MS - 4 * WEEK_MS), to: new Date(HOUR_END), granularity: 'HOUR', tags: { host: 'a' }, filters: [], groupBy: [], fill: 'NULL' },
    ]);
    // History all 10: expected 10, scale at its 1 % floor (0.1), so 50 scores 400.
    expect(verdict).toEqual({
      holds: true,
      value: 50,
      threshold: SENSITIVITIES.MEDIUM,
      details: { hour: new Date(HOUR_END - HOUR_MS).toISOString(), state: 'READY', expected: 10, lower: 10 - 0.4, upper: 10 + 0.4, score: 400 },
    });
  });

  test('an ordinary hour does not hold', async () => {
    expect((await judgeNewestHour(fakeReader(10).read, rule, new Date(HOUR_END + 30_000))).holds).toBe(false);
  });
});

describe('createSettledJudge: a verdict is kept once its hour has settled', () => {
  test.each([
    ['within the settling time every tick reads again', [60_000, 120_000], 2],
    ['after it, the first read is kept', [SETTLE_MS, SETTLE_MS + 15_000, SETTLE_MS + 30_000], 1],
    ['the next hour reads again', [SETTLE_MS, HOUR_MS + SETTLE_MS, HOUR_MS + SETTLE_MS + 15_000], 2],
  ])('%s', async (_name, offsets, reads) => {
    const judge = createSettledJudge();
    const { read, queries } = fakeReader(50);
    const changed = new Date(0);
    for (const offset of offsets) expect((await judge.judge(read, 'r1', changed, rule, new Date(HOUR_END + offset))).holds).toBe(true);
    expect(queries).toHaveLength(reads);
  });

  test('an edited rule, or one no longer retained, reads again', async () => {
    const judge = createSettledJudge();
    const { read, queries } = fakeReader(50);
    const now = new Date(HOUR_END + SETTLE_MS);
    await judge.judge(read, 'r1', new Date(0), rule, now);
    await judge.judge(read, 'r1', new Date(0), rule, now);
    expect(queries).toHaveLength(1);
    await judge.judge(read, 'r1', new Date(1), { ...rule, sensitivity: 'LOW' }, now);
    expect(queries).toHaveLength(2);
    judge.retain(new Set(['another rule']));
    await judge.judge(read, 'r1', new Date(1), rule, now);
    expect(queries).toHaveLength(3);
  });
});
