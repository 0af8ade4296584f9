/**
 * The late-points job and the aggregate refresh in bounded slices (src/jobs/late-points.ts,
 * src/query/refresh.ts): on the embedded engine each statement holds the only connection, so no
 * slice may cover more than one window (an hour; one bucket at the 1 h and 1 d levels) of a few
 * metrics. The plan is checked as a table; then a job given hours of late points of six metrics
 * (two units of at most 4 metrics), and only a few slices per run, is followed run by run: every slice within its bound, the
 * points counted exactly by every query in between, and all of it in the aggregates at the end.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createLatePoints, METRICS_PER_SLICE, planSlices, type Slice } from '../src/jobs/late-points.js';
import { createLogger } from '../src/log.js';
import { DAY, HOUR, MINUTE } from '../src/query/plan.js';
import { REFRESH_SLICE_MS, sliceRanges, sliceWidth } from '../src/query/refresh.js';
import { createAggregateCatalog } from '../src/query/aggregate-catalog.js';
import { ENGINES, sharedEmbedded, startApp, type TestApp } from './harness.js';
import { RecordMetrics } from './operations.js';

// Tests here run the late-points job until every range is taken in (app.takeInLatePoints): its
// runs hand the embedded engine back between slices, so a drain takes about twice its work, and
// on a machine running both engines' suites at once that passed the 30 s default.
vi.setConfig({ testTimeout: 180_000 });
afterAll(() => vi.resetConfig());

const T = Date.UTC(2026, 10, 2); // a Monday, 00:00 UTC
const iso = (ms: number) => new Date(ms).toISOString();

describe('sliceRanges', () => {
  test.each([
    ['5m', [[10 * HOUR + 7 * MINUTE, 12 * HOUR + 2 * MINUTE]], [[10 * HOUR + 5 * MINUTE, 11 * HOUR], [11 * HOUR, 12 * HOUR], [12 * HOUR, 12 * HOUR + 5 * MINUTE]]],
    ['1m', [[30_000, 90_000], [2 * MINUTE, 3 * MINUTE]], [[0, 3 * MINUTE]]],
    ['1m', [[0, MINUTE], [HOUR + MINUTE, HOUR + 2 * MINUTE]], [[0, MINUTE], [HOUR + MINUTE, HOUR + 2 * MINUTE]]],
    ['1h', [[10 * HOUR + 1, 12 * HOUR]], [[10 * HOUR, 11 * HOUR], [11 * HOUR, 12 * HOUR]]],
    ['1d', [[10 * HOUR, DAY + 2 * HOUR]], [[0, DAY], [DAY, 2 * DAY]]],
    ['1d', [[5, 5]], []],
  ] as const)('%s %j → %j', (level, ranges, expected) => {
    const out = sliceRanges(ranges.map(([from, to]) => ({ from: T + from, to: T + to })), level);
    expect(out.map((s) => [s.from - T, s.to - T])).toEqual(expected);
  });
});

describe('planSlices', () => {
  const ranges = [
    // metric 1: 10:07–11:20; metrics 2–6: 10:30–10:31; metric 7: two days later
    { metricId: 1, from: T + 10 * HOUR + 7 * MINUTE, to: T + 11 * HOUR + 20 * MINUTE },
    ...[2, 3, 4, 5, 6].map((metricId) => ({ metricId, from: T + 10 * HOUR + 30 * MINUTE, to: T + 10 * HOUR + 31 * MINUTE })),
    { metricId: 7, from: T + 2 * DAY + 5 * HOUR, to: T + 2 * DAY + 5 * HOUR + 1 },
  ];
  const slices = planSlices(ranges);

  test('every slice is one aggregate over at most one window of its level, of at most METRICS_PER_SLICE metrics', () => {
    for (const s of slices) {
      expect(s.to - s.from).toBeGreaterThan(0);
      expect(s.to - s.from).toBeLessThanOrEqual(sliceWidth(s.level));
      // Within one window: it never crosses a multiple of the width.
      expect(Math.floor(s.from / sliceWidth(s.level))).toBe(Math.floor((s.to - 1) / sliceWidth(s.level)));
      expect(s.metricIds.length).toBeLessThanOrEqual(METRICS_PER_SLICE);
      expect(s.aggregate.endsWith(`_${s.level}`)).toBe(true);
    }
  });

  test('levels in refresh order, the series’ aggregates before the tag groups’, oldest window first', () => {
    const order = ['1m', '5m', '1h', '1d'];
    const kinds = ['stats', 'sketch', 'group_stats', 'group_sketch'];
    const key = (s: Slice) => [order.indexOf(s.level), kinds.indexOf(s.aggregate.replace(/_(1m|5m|1h|1d)$/, '')), s.from];
    const keys = slices.map(key);
    const sorted = [...keys].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
    expect(keys).toEqual(sorted);
  });

  test('every metric’s range is covered at every aggregate of every level', () => {
    for (const r of ranges) {
      for (const level of ['1m', '5m', '1h', '1d'] as const) {
        for (const need of sliceRanges([r], level)) {
          const aggregates = new Set(slices.filter((s) => s.level === level && s.metricIds.includes(r.metricId) && s.from <= need.from && s.to >= need.to).map((s) => s.aggregate));
          expect(aggregates.size).toBe(level === '1h' || level === '1d' ? 4 : 2);
        }
      }
    }
  });

  test('the 1 m level of the example, exactly', () => {
    expect(slices.filter((s) => s.aggregate === 'stats_1m').map((s) => [iso(s.from), iso(s.to), s.metricIds])).toEqual([
      [iso(T + 10 * HOUR + 7 * MINUTE), iso(T + 11 * HOUR), [1, 2, 3, 4]],
      [iso(T + 10 * HOUR + 7 * MINUTE), iso(T + 11 * HOUR), [5, 6]],
      [iso(T + 11 * HOUR), iso(T + 11 * HOUR + 20 * MINUTE), [1]],
      [iso(T + 2 * DAY + 5 * HOUR), iso(T + 2 * DAY + 5 * HOUR + MINUTE), [7]],
    ]);
    expect(REFRESH_SLICE_MS).toBe(HOUR);
  });
});

test('every continuous aggregate is recomputed from a narrowed source: its definition is cut around the level below (or the points)', async () => {
  const catalog = await createAggregateCatalog((await sharedEmbedded()).kysely)();
  const sources = Object.fromEntries([...catalog].map(([view, t]) => [view, t.source && [t.source.relation, t.source.alias, t.source.time]]));
  expect(sources).toEqual({
    stats_1m: ['points', 'points', '"time"'],
    sketch_1m: ['points', 'points', '"time"'],
    stats_5m: ['stats_1m', 'stats_1m', 'bucket'],
    sketch_5m: ['sketch_1m', 'sketch_1m', 'bucket'],
    stats_1h: ['stats_1m', 'stats_1m', 'bucket'],
    sketch_1h: ['sketch_1m', 'sketch_1m', 'bucket'],
    stats_1d: ['stats_1h', 'stats_1h', 'bucket'],
    sketch_1d: ['sketch_1h', 'sketch_1h', 'bucket'],
    group_stats_1h: ['stats_1h', 'a', 'bucket'],
    group_sketch_1h: ['sketch_1h', 'a', 'bucket'],
    group_stats_1d: ['stats_1d', 'a', 'bucket'],
    group_sketch_1d: ['sketch_1d', 'a', 'bucket'],
  });
}, 120_000);

describe.each(ENGINES)('a large late range on %s', (engine) => {
  let app: TestApp;
  let tenant = { tenantId: '', adminKey: '' };
  const timescale = engine === 'embedded';
  const METRICS = ['s.a', 's.b', 's.c', 's.d', 's.e', 's.f'];
  let H = NaN;

  beforeAll(async () => {
    H = Math.floor(Date.now() / HOUR) * HOUR - 3 * DAY;
    // Its own engine: the job handles every tenant's rows in bucket order, and a shared engine holds
    // other suites' rows, which the per-run accounting below would count as this tenant's.
    app = await startApp(engine, { LATE_POINTS_CRON: 'off', QUERY_CACHE_SIZE: '0' }, { ownEngine: true });
    tenant = await app.createTenant();
  }, 120_000);
  afterAll(() => app?.close());

  const rowsLeft = async () =>
    (await sql<{ n: number }>`select count(*)::int as n from aggregate_invalidations where tenant_id = ${tenant.tenantId}::uuid`.execute(app.server.deps.db.kysely)).rows[0]!.n;

  /** Points of every metric, one every 10 minutes over 5 hours from H + 5 min: value = minute index. */
  const points = () =>
    METRICS.flatMap((name) => Array.from({ length: 30 }, (_, i) => ({ name, type: 'GAUGE' as const, value: i, tags: { host: `h${i % 3}` }, timestamp: iso(H + 5 * MINUTE + i * 10 * MINUTE) })));

  async function counts(): Promise<{ perHour: number[][]; sources: string[] }> {
    const response = await app.gql<{ metricAggregates: { series: Array<{ buckets: Array<{ count: number; sum: number }> }>; metadata: { sources: string[] } } }, unknown>(
      `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { buckets { count sum } } metadata { sources } } }`,
      { input: { metrics: METRICS, from: iso(H), to: iso(H + 6 * HOUR), granularity: 'HOUR' } },
    tenant.adminKey,
    );
    expect(response.errors).toBeUndefined();
    const series = response.data!.metricAggregates.series;
    return { perHour: series.map((s) => s.buckets.map((b) => b.count)), sources: response.data!.metricAggregates.metadata.sources };
  }

  test('is recomputed in bounded slices over several runs, exact in every query between them, and all of it in the end', async () => {
    const recorded = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: points() }, tenant.adminKey);
    expect(recorded.errors).toBeUndefined();
    // Six metrics × the hours H … H + 4: one row each.
    expect(await rowsLeft()).toBe(30);
    const recordedRanges = (
      await sql<{ metric_id: string; lo: Date; hi: Date }>`select metric_id::text, lo, hi from aggregate_invalidations where tenant_id = ${tenant.tenantId}::uuid`.execute(app.server.deps.db.kysely)
    ).rows.map((r) => ({ metricId: Number(r.metric_id), from: new Date(r.lo).getTime(), to: new Date(r.hi).getTime() + 1 }));
    // Per metric (three hosts together), six points in each of the five hours.
    const exact = { perHour: METRICS.map(() => [6, 6, 6, 6, 6]) };

    const seen: Slice[] = [];
    const job = createLatePoints({ db: app.server.deps.db, log: createLogger('silent'), slicesPerRun: 7, afterSlice: (_, slice) => seen.push(slice) });
    let runs = 0;
    for (; runs < 200 && (await rowsLeft()) > 0; runs++) {
      const before = { slices: seen.length, rows: await rowsLeft() };
      const handled = await job.refreshPending();
      // A run stops after its budget, between units (a tenant's rows of at most 4 metrics): a unit's rows are deleted once all of its slices are done.
      expect(handled).toBeGreaterThan(0);
      expect(await rowsLeft()).toBe(before.rows - handled);
      if (timescale) expect(seen.length).toBeGreaterThan(before.slices);
      // Exact at every step: the ranges not yet deleted are read from raw points.
      expect((await counts()).perHour).toEqual(exact.perHour);
    }
    expect(await rowsLeft()).toBe(0);
    const done = await counts();
    expect(done.perHour).toEqual(exact.perHour);
    expect(done.sources).not.toContain(timescale ? 'raw' : 'stats_1h');
    if (!timescale) return;

    // Several runs, each slice within its window, of at most METRICS_PER_SLICE metrics, and every metric's hours covered at every aggregate.
    expect(runs).toBeGreaterThanOrEqual(2);
    for (const s of seen) {
      expect(s.to - s.from).toBeLessThanOrEqual(sliceWidth(s.level));
      expect(s.metricIds.length).toBeLessThanOrEqual(METRICS_PER_SLICE);
    }
    const planned = planSlices(recordedRanges);
    const key = (s: Slice) => `${s.aggregate} ${s.from} ${s.to} ${s.metricIds.join(',')}`;
    expect(new Set(seen.map(key))).toEqual(new Set(planned.map(key)));
  }, 300_000);
});

describe('a new database’s first late points (embedded)', () => {
  let app: TestApp;
  let tenant = { tenantId: '', adminKey: '' };
  const NEVER = '-210866803200000000';

  beforeAll(async () => {
    // Its own engine: no aggregate of it has ever been refreshed. The scheduled refresh is set to
    // a tick that does not come during the test, so only the job can refresh.
    app = await startApp('embedded', { LATE_POINTS_CRON: 'off', AGGREGATE_REFRESH_CRON: '0 0 0 1 1 *', QUERY_CACHE_SIZE: '0' }, { ownEngine: true });
    tenant = await app.createTenant();
  }, 120_000);
  afterAll(() => app?.close());

  const watermark = async (view: string) =>
    (
      await sql<{ w: string }>`select _timescaledb_functions.cagg_watermark(mat_hypertable_id)::text as w from _timescaledb_catalog.continuous_agg where user_view_name = ${view}`.execute(
        app.server.deps.db.kysely,
      )
    ).rows[0]!.w;

  test('have every level materialised before a bucket is recomputed from one (the job refreshes first), and are exact', async () => {
    const H = Math.floor(Date.now() / HOUR) * HOUR - 3 * DAY;
    const points = ['f.a', 'f.b'].flatMap((name) => Array.from({ length: 12 }, (_, i) => ({ name, type: 'GAUGE' as const, value: i, tags: { host: `h${i % 2}` }, timestamp: iso(H + i * 5 * MINUTE) })));
    expect((await app.gql(RecordMetrics, { metrics: points }, tenant.adminKey)).errors).toBeUndefined();
    // Nothing materialised yet: a recompute of group_sketch_1h would read sketch_1h in real time, all of it.
    expect(await watermark('sketch_1h')).toBe(NEVER);
    expect(await watermark('stats_1h')).toBe(NEVER);

    await app.takeInLatePoints();

    // The job has the levels refreshed before it recomputes (its own recomputes never move a watermark).
    for (const view of ['stats_1m', 'sketch_1m', 'stats_1h', 'sketch_1h']) expect(Number(await watermark(view))).toBeGreaterThan(H * 1000);
    const left = await sql<{ n: number }>`select count(*)::int as n from aggregate_invalidations where tenant_id = ${tenant.tenantId}::uuid`.execute(app.server.deps.db.kysely);
    expect(left.rows[0]!.n).toBe(0);
    const response = await app.gql<{ metricAggregates: { series: Array<{ buckets: Array<{ count: number; sum: number }> }> } }, unknown>(
      `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { buckets { count sum } } } }`,
      { input: { metrics: ['f.a', 'f.b'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' } },
      tenant.adminKey,
    );
    expect(response.errors).toBeUndefined();
    // Per metric: 12 points, values 0 … 11.
    expect(response.data!.metricAggregates.series.map((s) => s.buckets)).toEqual([[{ count: 12, sum: 66 }], [{ count: 12, sum: 66 }]]);
  }, 300_000);

  test('the refresh leaves changes behind its watermark to the late-points job (no second recompute), and forgets them from TimescaleDB’s log once taken in', async () => {
    // Every level gets a watermark past 50 hours ago (a watermark is the end of the newest
    // bucket materialised, so each level needs a point there). Ten points an hour apart, 4 days
    // back: behind every level's watermark.
    expect((await app.gql(RecordMetrics, { metrics: [{ name: 'behind.prime', type: 'GAUGE', value: 1, timestamp: iso(Date.now() - 50 * HOUR) }] }, tenant.adminKey)).errors).toBeUndefined();
    await app.server.deps.aggregates.refreshAll();
    const start = Math.floor(Date.now() / HOUR) * HOUR - 4 * DAY;
    const points = Array.from({ length: 10 }, (_, i) => ({ name: 'behind.a', type: 'GAUGE' as const, value: i + 1, timestamp: iso(start + i * HOUR + 30 * MINUTE) }));
    expect((await app.gql(RecordMetrics, { metrics: points }, tenant.adminKey)).errors).toBeUndefined();
    const db = app.server.deps.db.kysely;
    /** stats_1m's entries in TimescaleDB's invalidation logs that overlap the ten hours. */
    const logged = async () =>
      (
        await sql<{ n: number }>`
          select count(*)::int as n from (
            select l.lowest_modified_value lo, l.greatest_modified_value hi from _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
            join _timescaledb_catalog.continuous_agg c on c.mat_hypertable_id = l.materialization_id where c.user_view_name = 'stats_1m'
            union all
            select l.lowest_modified_value, l.greatest_modified_value from _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l
            join _timescaledb_catalog.continuous_agg c on c.raw_hypertable_id = l.hypertable_id where c.user_view_name = 'stats_1m'
          ) x where x.lo <= ${BigInt(start + 10 * HOUR) * 1000n}::bigint and x.hi >= ${BigInt(start) * 1000n}::bigint`.execute(db)
      ).rows[0]!.n;
    const answer = async () => {
      const response = await app.gql<{ metricAggregates: { series: Array<{ buckets: Array<{ count: number; sum: number }> }>; metadata: { sources: string[] } } }, unknown>(
        `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { buckets { count sum } } metadata { sources } } }`,
        { input: { metrics: ['behind.a'], from: iso(start), to: iso(start + 10 * HOUR), granularity: 'MINUTE' } },
        tenant.adminKey,
      );
      expect(response.errors).toBeUndefined();
      return response.data!.metricAggregates;
    };
    expect(await logged()).toBeGreaterThan(0);

    await app.server.deps.aggregates.refreshAll();
    // Still logged: the refresh did not recompute them (the job will). Exact meanwhile, from raw points.
    expect(await logged()).toBeGreaterThan(0);
    const before = await answer();
    expect(before.series[0]!.buckets.map((b) => [b.count, b.sum])).toEqual(points.map((p) => [1, p.value]));
    expect(before.metadata.sources).toContain('raw');

    await app.takeInLatePoints();
    await app.server.deps.aggregates.refreshAll();
    // Taken in by the job: the log's entries are dropped, and the answer is the aggregates'.
    expect(await logged()).toBe(0);
    const after = await answer();
    expect(after.series[0]!.buckets.map((b) => [b.count, b.sum])).toEqual(points.map((p) => [1, p.value]));
    expect(after.metadata.sources).toEqual(['stats_1m']);
    // The days too (within the 1 d level's policy window of 35 days, behind its watermark): the
    // job recomputed them, per tenant; no refresh would have.
    const day = Math.floor(start / DAY) * DAY;
    const days = await app.gql<{ metricAggregates: { series: Array<{ buckets: Array<{ start: string; count: number; sum: number }> }>; metadata: { sources: string[] } } }, unknown>(
      `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { buckets { start count sum } } metadata { sources } } }`,
      { input: { metrics: ['behind.a'], from: iso(day), to: iso(day + 2 * DAY), granularity: 'DAY' } },
      tenant.adminKey,
    );
    expect(days.errors).toBeUndefined();
    const buckets = days.data!.metricAggregates.series[0]!.buckets;
    const expected = [day, day + DAY]
      .map((d) => points.filter((p) => Date.parse(p.timestamp) >= d && Date.parse(p.timestamp) < d + DAY))
      .map((ps, i) => ({ start: iso(day + i * DAY), count: ps.length, sum: ps.reduce((n, p) => n + p.value, 0) }))
      .filter((b) => b.count > 0);
    expect(buckets).toEqual(expected);
    expect(days.data!.metricAggregates.metadata.sources).not.toContain('raw');
  }, 300_000);

  test('weeks of late hours not yet taken in: a definition and a metric over them are exact, and the engine survives (one union branch per source, not per late range)', async () => {
    // One point an hour over 25 days ending 3 days ago: 600 late ranges, each an hour apart. Read
    // before the job, every range is answered from raw points and the rest from the levels; a
    // branch per piece once nested deep enough to overflow the embedded engine's stack.
    const end = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
    const start = end - 25 * DAY;
    const points = Array.from({ length: 600 }, (_, i) => ({ name: 'deep.a', type: 'GAUGE' as const, value: 1, timestamp: iso(start + i * HOUR + 30 * MINUTE) }));
    for (let i = 0; i < points.length; i += 300) expect((await app.gql(RecordMetrics, { metrics: points.slice(i, i + 300) }, tenant.adminKey)).errors).toBeUndefined();
    expect((await app.gql(`mutation { createMetricDefinition(input: { name: "deep.double", formula: "sum(deep.a) * 2" }) { definition { name } } }`, {}, tenant.adminKey)).errors).toBeUndefined();
    const left = await sql<{ n: number }>`select count(*)::int as n from aggregate_invalidations where tenant_id = ${tenant.tenantId}::uuid`.execute(app.server.deps.db.kysely);
    expect(left.rows[0]!.n).toBe(600);
    for (const granularity of ['DAY', 'HOUR']) {
      const response = await app.gql<{ metricAggregates: { series: Array<{ metric: string; buckets: Array<{ count: number; value: number | null }> }> } }, unknown>(
        `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { metric buckets { count value } } } }`,
        { input: { metrics: ['deep.a', 'deep.double'], from: iso(start), to: iso(end), granularity } },
        tenant.adminKey,
      );
      expect(response.errors).toBeUndefined();
      const [metric, definition] = response.data!.metricAggregates.series;
      const perBucket = granularity === 'DAY' ? 24 : 1;
      expect(metric!.buckets.map((b) => b.count)).toEqual(Array(600 / perBucket).fill(perBucket));
      expect(definition!.metric).toBe('deep.double');
      expect(definition!.buckets.map((b) => b.value)).toEqual(Array(600 / perBucket).fill(2 * perBucket));
    }
  }, 300_000);
});

describe('slice sizes and engine time (embedded)', () => {
  let app: TestApp;
  let tenant = { tenantId: '', adminKey: '' };

  beforeAll(async () => {
    app = await startApp('embedded', { LATE_POINTS_CRON: 'off', QUERY_CACHE_SIZE: '0' }, { ownEngine: true });
    tenant = await app.createTenant();
  }, 120_000);
  afterAll(() => app?.close());

  test('each aggregate’s slices start at one window (a size learnt on a cheap aggregate is not the next one’s), and a slice is timed from when it has the engine, not while it waits in line', async () => {
    // Two metrics, a point every 10 minutes over 24 late hours ending 3 days ago: 24 one-hour windows per level.
    const end = Math.floor(Date.now() / HOUR) * HOUR - 3 * DAY;
    const points = ['z.a', 'z.b'].flatMap((name) => Array.from({ length: 144 }, (_, i) => ({ name, type: 'HISTOGRAM' as const, value: i, tags: { host: `h${i % 2}` }, timestamp: iso(end - 24 * HOUR + i * 10 * MINUTE) })));
    expect((await app.gql(RecordMetrics, { metrics: points }, tenant.adminKey)).errors).toBeUndefined();

    const deps = app.server.deps;
    const groups: Array<{ group: readonly Slice[]; heldMs: number; waitedMs: number }> = [];
    let held: Promise<unknown> | undefined;
    const job = createLatePoints({
      db: deps.db,
      log: createLogger('silent'),
      materialiseLevels: () => deps.aggregates.refreshAll(),
      afterGroup: (_, group, time) => {
        groups.push({ group, ...time });
        // After the first group, another caller holds the engine for 400 ms: a next slice waits in line for it.
        held ??= deps.db.kysely.connection().execute(() => new Promise((resolve) => setTimeout(resolve, 400)));
      },
    });
    await job.refreshPending({ tenantIds: [tenant.tenantId] });
    await held;
    expect(groups.length).toBeGreaterThan(3);

    // The first group of each aggregate and metrics is one window; later ones grow while cheap.
    const firsts = new Map<string, number>();
    for (const { group } of groups) {
      const key = `${group[0]!.aggregate}:${group[0]!.metricIds.join()}`;
      if (!firsts.has(key)) firsts.set(key, group.length);
    }
    expect(new Set(firsts.values())).toEqual(new Set([1]));
    expect(Math.max(...groups.map((g) => g.group.length))).toBeGreaterThan(1);

    // The slice that waited for the held engine counts that wait as waited, not held.
    const waiting = groups.find((g) => g.waitedMs >= 350);
    expect(waiting).toBeDefined();
    expect(waiting!.heldMs).toBeLessThan(waiting!.waitedMs);
  }, 300_000);
});
