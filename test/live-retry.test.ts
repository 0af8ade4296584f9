/**
 * liveAggregates keeps what it owes subscribers when an evaluation fails (src/realtime/live-aggregates.ts):
 * a refused read (the read gate's RATE_LIMITED), a timeout or the database away used to drop the
 * range until more points came, and with none the update was never sent. Here the evaluation
 * after one batch of points fails once and no other point ever arrives: the update still comes.
 */
import { expect, test } from 'vitest';
import { createLogger } from '../src/log.js';
import { createLocalBus, type LivePoint } from '../src/realtime/bus.js';
import { createLiveAggregates, type LiveUpdate } from '../src/realtime/live-aggregates.js';
import type { AggregateQuery, Bucket, ResultSeries } from '../src/query/aggregate.js';
import type { TenantPrincipal } from '../src/auth.js';

const T = Date.UTC(2026, 0, 1);
const bucket = (count: number): Bucket => ({ start: new Date(T), end: new Date(T + 60_000), count, sum: count, min: 1, max: 1, avg: 1, last: 1, rate: null, p50: null, p90: null, p95: null, p99: null });
const series = (count: number): ResultSeries => ({ metric: 'm', type: 'GAUGE', unit: null, tags: {}, buckets: [bucket(count)] });

test('an evaluation that fails is tried again without new points, and the subscriber gets the update', async () => {
  const bus = createLocalBus(createLogger('silent'));
  const answers: Array<() => ResultSeries[]> = [
    () => [series(1)],
    () => {
      throw new Error('RATE_LIMITED: the read gate is full');
    },
    () => [series(2)],
  ];
  const calls: number[] = [];
  const live = createLiveAggregates({
    bus,
    log: createLogger('silent'),
    intervalMs: 10,
    evaluate: async (_principal, query) => {
      calls.push(query.from.getTime());
      return { series: answers[calls.length - 1]!(), sources: [] };
    },
    recordedMetrics: async (_principal, names) => names.map(() => true),
  });
  const principal = { kind: 'tenant', tenantId: 't', role: 'ADMIN' } as unknown as TenantPrincipal;
  const query = { metrics: ['m'], from: new Date(T), to: new Date(T + 60_000), granularity: 'MINUTE', tags: {}, filters: [], groupBy: [], fill: 'NONE' } as unknown as AggregateQuery;
  const feed = await live.subscribe(principal, { query, openEnded: false, percentiles: false, limit: 100 });
  const first = await feed.next();
  expect(first.value.initial).toBe(true);
  expect(first.value.series[0].buckets[0].count).toBe(1);

  const point: LivePoint = { id: 'p', metric: 'm', type: 'GAUGE', unit: null, tags: {}, time: new Date(T + 1_000), value: 1 };
  bus.publish('t', [point]);
  const update = await feed.next();
  expect(update.value.initial).toBe(false);
  expect((update.value as LiveUpdate).series.map((s) => s.buckets.map((b) => b.count))).toEqual([[2]]);
  // The initial evaluation, the failed one and its retry, each from the dirty bucket on.
  expect(calls).toEqual([T, T, T]);
  await feed.return!();
  live.close();
  await bus.close();
});
