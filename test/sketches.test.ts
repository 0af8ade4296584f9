/**
 * Compact sketches (migrations/0051, 0052; src/query/sketch.ts, src/query/read-buckets.ts) on
 * exact data, on both engines: percentiles within the stated bound of percentile_cont for
 * every shape of distribution, merged across buckets, series and levels; distribution points
 * (weight, sum_adjust, min_value, max_value) counted exactly; and one tenant's extreme values
 * breaking nothing for another.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { ALPHA } from '../src/query/sketch.js';
import { ENGINES, startApp, type TestApp } from './harness.js';

// Tests here run the late-points job until every range is taken in (app.takeInLatePoints): its
// runs hand the embedded engine back between slices, so a drain takes about twice its work, and
// on a machine running both engines' suites at once that passed the 30 s default.
vi.setConfig({ testTimeout: 180_000 });
afterAll(() => vi.resetConfig());

// Three days back, inside every default retention: the planner's choice, not a horizon, decides the source.
let T0 = NaN;
// Read when the tests start, not when the module loads.
beforeAll(() => {
  T0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000;
});
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (seed + 0.5) / 2_147_483_648;
  };
}
const normal = (rnd: () => number) => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());

/** Distributions, each a metric of 4 series (hosts) over 3 hours from T0. */
const SHAPES: Record<string, (rnd: () => number) => number> = {
  lognormal: (rnd) => Math.exp(3 + 1.2 * normal(rnd)),
  bimodal: (rnd) => (rnd() < 0.7 ? 20 + 3 * normal(rnd) : 400 + 40 * normal(rnd)),
  pareto: (rnd) => 1 / Math.pow(rnd(), 1 / 1.5),
  uniform: (rnd) => 1e-9 + rnd() * 1e12,
  constant: () => 42.5,
  negative: (rnd) => -Math.exp(2 + normal(rnd)),
  mixed: (rnd) => 50 * normal(rnd) + 10,
  tiny: (rnd) => 1e-9 * (1 + 100 * rnd()),
};
const PER_SHAPE = 720;

interface Pt {
  name: string;
  type: 'HISTOGRAM';
  value: number;
  tags: Record<string, string>;
  timestamp: string;
}

function data(): Pt[] {
  const points: Pt[] = [];
  for (const [shape, draw] of Object.entries(SHAPES)) {
    const rnd = random(shape.length * 7919);
    for (let i = 0; i < PER_SHAPE; i++) {
      points.push({ name: `dist.${shape}`, type: 'HISTOGRAM', value: draw(rnd), tags: { host: `h${i % 4}` }, timestamp: iso(T0 + Math.floor((i * 3 * HOUR) / PER_SHAPE)) });
    }
  }
  return points;
}

/** percentile_cont over `values`, and the two values it interpolates between. */
function exact(values: number[], q: number) {
  const sorted = [...values].sort((a, b) => a - b);
  const r = q * (sorted.length - 1);
  const lo = sorted[Math.floor(r)]!;
  const hi = sorted[Math.ceil(r)]!;
  return { value: lo + (r - Math.floor(r)) * (hi - lo), lo, hi };
}

const QUERY = `query($input: AggregateQueryInput!) { metricAggregates(input: $input) {
  series { tags buckets { start count sum min max p50 p90 p95 p99 } } metadata { source } } }`;
type Answer = { metricAggregates: { series: Array<{ tags: Record<string, string>; buckets: Array<Record<string, number> & { start: string }> }>; metadata: { source: string } } };

const RECORD = `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted failed { index code } } }`;

describe.each(ENGINES)('sketches on %s', (engine) => {
  let app: TestApp;
  let key = '';
  let points: Pt[] = [];
  beforeAll(async () => {
    points = data();
    app = await startApp(engine, { QUERY_CACHE_SIZE: '0' });
    key = (await app.createTenant('sketches')).adminKey;
    for (let i = 0; i < points.length; i += 500) {
      const answer = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RECORD, { m: points.slice(i, i + 500) }, key);
      expect(answer.data?.recordMetrics.accepted).toBe(Math.min(500, points.length - i));
    }
    await app.server.deps.aggregates.refreshAll();
    // The points are hours old: late points, answered from raw until the late-points job takes
    // them in. A run stops after a bounded time of slices (src/jobs/late-points.ts): run it as the ticks would, until all is taken in.
    await app.takeInLatePoints();
  }, 180_000);
  afterAll(() => app?.close());

  const query = async (input: Record<string, unknown>) => {
    const answer = await app.gql<Answer, unknown>(QUERY, { input }, key);
    expect(answer.errors).toBeUndefined();
    return answer.data!.metricAggregates;
  };

  test.each(Object.keys(SHAPES))('%s: every percentile of every hour, and of the 3 hours merged, within α of percentile_cont', async (shape) => {
    const mine = points.filter((p) => p.name === `dist.${shape}`);
    const check = (values: number[], bucket: Record<string, number>) => {
      for (const [field, q] of [['p50', 0.5], ['p90', 0.9], ['p95', 0.95], ['p99', 0.99]] as const) {
        const want = exact(values, q);
        // The bound (src/query/sketch.ts): α of the larger neighbour; ≤ 1 % of the exact value when they share a sign.
        expect(Math.abs(bucket[field]! - want.value), `${shape} ${field}`).toBeLessThanOrEqual(ALPHA * Math.max(Math.abs(want.lo), Math.abs(want.hi)) * (1 + 1e-9));
        if (Math.sign(want.lo) === Math.sign(want.hi)) expect(Math.abs(bucket[field]! - want.value) / Math.abs(want.value)).toBeLessThanOrEqual(0.01);
      }
      expect(bucket.count).toBe(values.length);
      expect(bucket.min).toBe(Math.min(...values));
      expect(bucket.max).toBe(Math.max(...values));
    };
    // Hourly, across the 4 series: from the 1h sketches merged over series (TimescaleDB).
    const hourly = await query({ metrics: [`dist.${shape}`], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR' });
    expect(hourly.metadata.source).toBe(engine === 'embedded' ? 'group_stats_1h+group_sketch_1h' : 'raw');
    expect(hourly.series[0]!.buckets).toHaveLength(3);
    hourly.series[0]!.buckets.forEach((bucket, h) => {
      check(mine.filter((p) => Date.parse(p.timestamp) >= T0 + h * HOUR && Date.parse(p.timestamp) < T0 + (h + 1) * HOUR).map((p) => p.value), bucket);
    });
    // The day: the 1d sketch, itself merged from 1h sketches.
    const daily = await query({ metrics: [`dist.${shape}`], from: iso(T0), to: iso(T0 + 24 * HOUR), granularity: 'DAY' });
    expect(daily.metadata.source).toBe(engine === 'embedded' ? 'group_stats_1d+group_sketch_1d' : 'raw');
    check(mine.map((p) => p.value), daily.series[0]!.buckets[0]!);
    // A ragged range: raw edges, 1m, 5m and 1h sketches merged into each bucket.
    const ragged = await query({ metrics: [`dist.${shape}`], from: iso(T0 + 7 * 60_000 + 30_000), to: iso(T0 + 3 * HOUR), granularity: 'DAY' });
    check(mine.filter((p) => Date.parse(p.timestamp) >= T0 + 7 * 60_000 + 30_000).map((p) => p.value), ragged.series[0]!.buckets[0]!);
  });

  test('the constant distribution is exact, and a series per group merges per group', async () => {
    const answer = await query({ metrics: ['dist.constant'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', groupBy: ['host'] });
    expect(answer.series.map((s) => s.tags.host)).toEqual(['h0', 'h1', 'h2', 'h3']);
    for (const s of answer.series) for (const b of s.buckets) expect([b.count, b.p50, b.p99]).toEqual([60, 42.5, 42.5]);
  });

  test('distribution points: weight, sum_adjust, min_value and max_value give exact count, sum, min and max at every level', async () => {
    const tenant = await app.createTenant('histograms');
    const at = T0 + 5 * HOUR + 90_000;
    const recorded = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RECORD, { m: [{ name: 'h.latency', type: 'HISTOGRAM', value: 4, timestamp: iso(at) }] }, tenant.adminKey);
    expect(recorded.data?.recordMetrics.accepted).toBe(1);
    const db = app.server.deps.db.kysely;
    const { id: seriesId } = await db.selectFrom('series').select('id').where('tenant_id', '=', tenant.tenantId).executeTakeFirstOrThrow();
    // One histogram point as OTLP would write it: buckets 1.5 × 3 and 7 × 2, exact sum 18.9 (so
    // sum_adjust = 18.9 − 18.5 = 0.4), exact min 1.1 and max 9.3.
    await sql`insert into points (tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value) values
      (${tenant.tenantId}, ${seriesId}, ${iso(at + 1000)}, 1.5, ${randomUUID()}, 3, null, null, null),
      (${tenant.tenantId}, ${seriesId}, ${iso(at + 1000)}, 7, ${randomUUID()}, 2, 0.4, 1.1, 9.3)`.execute(db);
    // Written past the write path, so no range was recorded for the late-points job: the
    // aggregates are recomputed over these times as a purge has them recomputed.
    await app.server.deps.aggregates.afterWrite([new Date(at + 1000)]);
    const q = (granularity: string, from: number, to: number) =>
      app.gql<Answer, unknown>(QUERY, { input: { metrics: ['h.latency'], from: iso(from), to: iso(to), granularity } }, tenant.adminKey).then((a) => a.data!.metricAggregates);
    const hourStart = T0 + 5 * HOUR;
    for (const answer of [await q('MINUTE', at - 30_000, at + 60_000), await q('HOUR', hourStart, hourStart + HOUR), await q('DAY', T0, T0 + 24 * HOUR)]) {
      const b = answer.series[0]!.buckets[0]!;
      expect([b.count, b.min, b.max]).toEqual([6, 1.1, 9.3]);
      expect(b.sum).toBeCloseTo(4 + 18.9, 9);
      // Observations 1.5 ×3, 4, 7 ×2 → p50 at rank 2.5, between 1.5 and 4 (cell representatives).
      expect(Math.abs(b.p50! - 2.75)).toBeLessThanOrEqual(ALPHA * 4);
      // Rank 5 is the exact max.
      expect(b.p99).toBeLessThanOrEqual(9.3);
    }
  });

  test("one tenant's values near 1.5e308 break neither its own sums nor another tenant's aggregates", async () => {
    const a = await app.createTenant('huge');
    const b = await app.createTenant('calm');
    // Recent enough to be materialised by the next refresh (behind the 1 minute level's 10 minute lag).
    const minute = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
    const write = (token: string, values: number[]) =>
      app.gql<{ recordMetrics: { accepted: number; failed: unknown[] } }, unknown>(
        RECORD,
        { m: values.map((value, i) => ({ name: 'm', type: 'GAUGE', value, timestamp: iso(minute + 1000 * (i + 1)) })) },
        token,
      );
    expect((await write(b.adminKey, [3, 5])).data?.recordMetrics).toEqual({ accepted: 2, failed: [] });
    expect((await write(a.adminKey, [1.5e308, 1.6e308])).data?.recordMetrics).toEqual({ accepted: 2, failed: [] });
    // The refresh recomputes both tenants' minute: it must succeed, twice.
    await app.server.deps.aggregates.refreshAll();
    await app.server.deps.aggregates.refreshAll();
    await app.takeInLatePoints();
    const read = (token: string) =>
      app.gql<Answer, unknown>(QUERY, { input: { metrics: ['m'], from: iso(minute), to: iso(minute + 60_000), granularity: 'MINUTE' } }, token).then((r) => {
        expect(r.errors).toBeUndefined();
        return r.data!.metricAggregates;
      });
    const calm = await read(b.adminKey);
    expect(calm.metadata.source).toBe(engine === 'embedded' ? 'stats_1m+sketch_1m' : 'raw');
    expect(calm.series[0]!.buckets.map((x) => [x.count, x.sum, x.min, x.max, x.p50])).toEqual([[2, 8, 3, 5, 4]]);
    if (engine === 'embedded') {
      const materialised = await sql<{ n: number }>`select count(*)::int as n from stats_1m where tenant_id = ${b.tenantId}`.execute(app.server.deps.db.kysely);
      expect(materialised.rows[0]!.n).toBe(1);
    }
    // The huge tenant's own bucket: exact count, extremes and percentiles; its sum counts each value as 1e200 (the stated clamp).
    const huge = (await read(a.adminKey)).series[0]!.buckets[0]!;
    expect([huge.count, huge.min, huge.max, huge.sum]).toEqual([2, 1.5e308, 1.6e308, 2e200]);
    expect(huge.p50).toBeCloseTo(1.55e308, -300);
  });
});
