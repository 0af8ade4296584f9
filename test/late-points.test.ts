/**
 * Late points that never wait, on both engines: a point stamped behind the aggregates'
 * watermarks is in the very next query (exact count, sum, min, max; percentiles as the
 * aggregates give them), answered from raw points until the late-points job has recomputed
 * the tenant's buckets; a burst makes one recorded row per metric and hour; a range written
 * again while the job runs stays recorded; tenant B never sees A's rows nor gets A's raw-point
 * fallback; one tenant's retention does not keep another's late points out of the aggregates;
 * report rollups older than the re-roll window take late points in; a cached answer never hides
 * a write, also across two instances sharing Redis.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { withTenant } from '../src/db/tenant.js';
import { createLatePoints } from '../src/jobs/late-points.js';
import { createLogger } from '../src/log.js';
import { createQueryCache } from '../src/query/cache.js';
import { Redis } from 'ioredis';
import { ENGINES, startApp, TEST_REDIS_URL, type TestApp } from './harness.js';
import { RecordMetric, RecordMetrics } from './operations.js';

// Tests here run the late-points job until every range is taken in (app.takeInLatePoints): its
// runs hand the embedded engine back between slices, so a drain takes about twice its work, and
// on a machine running both engines' suites at once that passed the 30 s default.
vi.setConfig({ testTimeout: 180_000 });
afterAll(() => vi.resetConfig());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
/**
 * The hour three days back: every point of the tests below is behind every watermark. Taken
 * when the file's tests start (beforeAll), not when the module loads: a run that waits for a
 * worker would otherwise stamp its points from a clock read minutes earlier.
 */
let H = NaN;
beforeAll(() => {
  H = Math.floor(Date.now() / HOUR) * HOUR - 3 * DAY;
});

const AGGREGATES = `
  query Aggregates($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      series { tags buckets { start count sum min max p50 p99 } }
      metadata { sources fromCache }
    }
  }`;
const STATS = `
  query Stats($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      series { tags buckets { start count sum min max } }
      metadata { sources fromCache downsampled }
    }
  }`;
const REPORT = `
  query Report($input: MetricReportInput!) {
    metricReport(input: $input) { sources groups { rows { start count sum } } }
  }`;
const BACKFILL = `
  mutation Backfill($input: BackfillReportRollupsInput!) {
    backfillReportRollups(input: $input) { status error }
  }`;
const SET_RETENTION = `
  mutation SetRetention($input: SetRetentionInput!) { setRetention(input: $input) { rawDays } }`;

type Bucket = { start: string; count: number; sum: number; min: number; max: number; p50?: number; p99?: number };
type Answer = { series: Array<{ tags: Record<string, string>; buckets: Bucket[] }>; metadata: { sources: string[]; fromCache: boolean; downsampled?: boolean } };

const point = (name: string, value: number, time: number, tags: Record<string, string> = { host: 'a' }) => ({ name, type: 'HISTOGRAM' as const, value, tags, timestamp: iso(time) });

async function query(app: TestApp, key: string, input: Record<string, unknown>, document = AGGREGATES): Promise<Answer> {
  const response = await app.gql<{ metricAggregates: Answer }, unknown>(document, { input }, key);
  expect(response.errors).toBeUndefined();
  return response.data!.metricAggregates;
}

async function record(app: TestApp, key: string, points: Array<ReturnType<typeof point>>) {
  const response = await app.gql(RecordMetrics, { metrics: points }, key);
  expect(response.errors).toBeUndefined();
  expect(response.data!.recordMetrics.failed).toEqual([]);
}

/**
 * Runs the late-points job. On the embedded engine it keeps this process's event loop busy (the
 * engine runs here, in WASM), past the server's keep-alive timeout: test/setup-engine.ts makes
 * every test request use a fresh connection, so no request lands on a socket being closed.
 */
async function runJob(app: TestApp): Promise<number> {
  return app.takeInLatePoints();
}

/** The transaction's tenant's recorded ranges, as the application role sees them. */
async function invalidations(app: TestApp, tenantId: string) {
  return withTenant(app.server.deps.db.kysely, tenantId, async (trx) => {
    const { rows } = await sql<{ bucket: Date; lo: Date; hi: Date; generation: number }>`
      select bucket, lo, hi, generation::int as generation from aggregate_invalidations order by bucket`.execute(trx);
    return rows.map((r) => ({ bucket: iso(new Date(r.bucket).getTime()), lo: iso(new Date(r.lo).getTime()), hi: iso(new Date(r.hi).getTime()), generation: r.generation }));
  });
}

describe.each(ENGINES)('late points on %s', (engine) => {
  let app: TestApp;
  const a = { tenantId: '', adminKey: '' };
  const b = { tenantId: '', adminKey: '' };
  const timescale = engine === 'embedded';
  /** A's `lat`: 1…20 in the hour H (one a minute from H + 1 min); B's `lat`: 100 at H + 30 min. */
  const seed = () => Array.from({ length: 20 }, (_, i) => point('lat', i + 1, H + (i + 1) * MINUTE));

  beforeAll(async () => {
    // The job runs only when a test runs it; no cache, so every answer is read from the database.
    app = await startApp(engine, { LATE_POINTS_CRON: 'off', QUERY_CACHE_SIZE: '0' });
    Object.assign(a, await app.createTenant());
    Object.assign(b, await app.createTenant());
    await record(app, a.adminKey, seed());
    await record(app, b.adminKey, [point('lat', 100, H + 30 * MINUTE)]);
    await runJob(app);
  }, 120_000);
  afterAll(() => app?.close());

  const hour = () => ({ metrics: ['lat'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' });

  test('a late point is in the next query, read from raw points until the job has recomputed the aggregates', async () => {
    const before = await query(app, a.adminKey, hour());
    expect(before.metadata.sources).toEqual(timescale ? ['group_stats_1h', 'group_sketch_1h'] : ['raw']);
    expect(before.series[0]!.buckets.map((x) => [x.count, x.sum, x.min, x.max])).toEqual([[20, 210, 1, 20]]);

    await record(app, a.adminKey, [point('lat', 1000, H + 30 * MINUTE + 5_000), point('lat', 2000, H + 30 * MINUTE + 6_000)]);
    const single = await app.gql(RecordMetric, { input: point('lat', 3000, H + 45 * MINUTE) }, a.adminKey);
    expect(single.errors).toBeUndefined();

    const after = await query(app, a.adminKey, hour());
    // Exact: 20 + 3 points. percentile_cont of 1…20, 1000, 2000, 3000: p50 at rank 11 is 12,
    // p99 at rank 21.78 is 2000 + 0.78 · 1000 = 2780 (within the sketch's 1 %).
    const [bucket] = after.series[0]!.buckets;
    expect([bucket!.count, bucket!.sum, bucket!.min, bucket!.max]).toEqual([23, 6210, 1, 3000]);
    expect(Math.abs(bucket!.p50! - 12) / 12).toBeLessThanOrEqual(0.01);
    expect(Math.abs(bucket!.p99! - 2780) / 2780).toBeLessThanOrEqual(0.01);
    expect(after.metadata.sources).toContain('raw');
    // Two writes into one hour of one metric: one row, widened, generation 2.
    expect(await invalidations(app, a.tenantId)).toEqual([{ bucket: iso(H), lo: iso(H + 30 * MINUTE + 5_000), hi: iso(H + 45 * MINUTE), generation: 2 }]);

    expect(await runJob(app)).toBe(1);
    expect(await invalidations(app, a.tenantId)).toEqual([]);
    const refreshed = await query(app, a.adminKey, hour());
    expect(refreshed.metadata.sources).toEqual(timescale ? ['group_stats_1h', 'group_sketch_1h'] : ['raw']);
    expect(refreshed.series).toEqual(after.series);
  });

  // Every level answers the point's bucket exactly: the planner cuts the recorded range out of each.
  test.each([
    ['MINUTE', MINUTE],
    ['FIVE_MINUTES', 5 * MINUTE],
    ['HOUR', HOUR],
    ['DAY', DAY],
  ] as const)('at %s granularity the late point is counted before and after the job', async (granularity, width) => {
    const metric = `lvl.${granularity.toLowerCase()}`;
    const t = H + 17 * MINUTE + 30_000;
    await record(app, a.adminKey, [point(metric, 1, t - 10 * MINUTE), point(metric, 2, t + 20 * MINUTE)]);
    await runJob(app);
    const input = { metrics: [metric], from: iso(H - DAY), to: iso(H + DAY), granularity };
    const counts = (answer: Answer) => answer.series[0]!.buckets.map((x) => [x.start, x.count, x.sum]);
    const start = (ms: number) => iso(Math.floor(ms / width) * width);
    const expected = (late: boolean) => {
      const points = [[t - 10 * MINUTE, 1], [t + 20 * MINUTE, 2], ...(late ? [[t, 4]] : [])];
      const byStart = new Map<string, [number, number]>();
      for (const [time, value] of points) {
        const key = start(time!);
        const [n, s] = byStart.get(key) ?? [0, 0];
        byStart.set(key, [n + 1, s + value!]);
      }
      return [...byStart].sort(([x], [y]) => (x < y ? -1 : 1)).map(([key, [n, s]]) => [key, n, s]);
    };
    expect(counts(await query(app, a.adminKey, input, STATS))).toEqual(expected(false));
    await record(app, a.adminKey, [point(metric, 4, t)]);
    expect(counts(await query(app, a.adminKey, input, STATS))).toEqual(expected(true));
    await runJob(app);
    const refreshed = await query(app, a.adminKey, input, STATS);
    expect(counts(refreshed)).toEqual(expected(true));
    expect(refreshed.metadata.sources).not.toContain(timescale ? 'raw' : 'stats_1m');
  });

  test('a burst of late points makes one row per metric and hour, not one per point', async () => {
    const burst = Array.from({ length: 300 }, (_, i) => point('burst', i, H + 10 * MINUTE + i * 20_000, { host: `h${i % 7}` }));
    await record(app, a.adminKey, burst);
    const rows = await invalidations(app, a.tenantId);
    // 300 points, 20 s apart from H + 10 min: the hours H and H + 1 h.
    expect(rows).toEqual([
      { bucket: iso(H), lo: iso(H + 10 * MINUTE), hi: iso(H + 10 * MINUTE + 149 * 20_000), generation: 1 },
      { bucket: iso(H + HOUR), lo: iso(H + 10 * MINUTE + 150 * 20_000), hi: iso(H + 10 * MINUTE + 299 * 20_000), generation: 1 },
    ]);
    const answer = await query(app, a.adminKey, { metrics: ['burst'], from: iso(H), to: iso(H + 2 * HOUR), granularity: 'HOUR' }, STATS);
    expect(answer.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([
      [150, (149 * 150) / 2],
      [150, (150 + 299) * 75],
    ]);
    await runJob(app);
    expect(await invalidations(app, a.tenantId)).toEqual([]);
  });

  test('current points record nothing', async () => {
    await record(app, a.adminKey, [point('now', 1, Date.now()), point('now', 2, Date.now() - MINUTE)]);
    expect(await invalidations(app, a.tenantId)).toEqual([]);
  });

  test('a range written again while the job recomputes it stays recorded, and the next run takes it in', async () => {
    let interleaved = false;
    const job = createLatePoints({
      db: app.server.deps.db,
      log: createLogger('silent'),
      // Between the recomputation and the delete: a write into the same hour of the same metric.
      beforeDelete: async () => {
        if (interleaved) return;
        interleaved = true;
        await record(app, a.adminKey, [point('race', 50, H + 40 * MINUTE)]);
      },
    });
    await record(app, a.adminKey, [point('race', 10, H + 20 * MINUTE)]);
    expect(await job.refreshPending({ tenantIds: [a.tenantId] })).toBe(0);
    expect(await invalidations(app, a.tenantId)).toEqual([{ bucket: iso(H), lo: iso(H + 20 * MINUTE), hi: iso(H + 40 * MINUTE), generation: 2 }]);
    const input = { metrics: ['race'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' };
    expect((await query(app, a.adminKey, input, STATS)).series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 60]]);
    expect(await job.refreshPending({ tenantIds: [a.tenantId] })).toBe(1);
    const answer = await query(app, a.adminKey, input, STATS);
    expect(answer.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 60]]);
    expect(answer.metadata.sources).toEqual(timescale ? ['group_stats_1h'] : ['raw']);
  });

  test('tenant B never sees A’s recorded ranges and never reads raw points for them', async () => {
    await record(app, a.adminKey, [point('lat', 5000, H + 31 * MINUTE)]);
    expect(await invalidations(app, a.tenantId)).toHaveLength(1);
    expect(await invalidations(app, b.tenantId)).toEqual([]);
    // B's `lat` over the same hour: its own point only, from the aggregates.
    const answer = await query(app, b.adminKey, hour());
    expect(answer.series[0]!.buckets.map((x) => [x.count, x.sum, x.min, x.max, x.p50])).toEqual([[1, 100, 100, 100, 100]]);
    expect(answer.metadata.sources).toEqual(timescale ? ['group_stats_1h', 'group_sketch_1h'] : ['raw']);
    // The application role may record ranges, never delete them (only the job does), nor write another tenant's.
    await expect(withTenant(app.server.deps.db.kysely, a.tenantId, (trx) => sql`delete from aggregate_invalidations`.execute(trx))).rejects.toMatchObject({ code: '42501' });
    await expect(
      withTenant(app.server.deps.db.kysely, b.tenantId, (trx) =>
        sql`update aggregate_invalidations set generation = 0 returning 1`.execute(trx).then((r) => r.rows.length),
      ),
    ).resolves.toBe(0);
    await runJob(app);
  });

  test('a batch with a late point and a bad one stores the late point (and its range), and fails the other with BAD_USER_INPUT', async () => {
    const response = await app.gql(RecordMetrics, { metrics: [point('mixed', 7, H + 5 * MINUTE), point('mixed', 8, Date.parse('1969-12-31T23:00:00Z'))] }, a.adminKey);
    expect(response.data!.recordMetrics.accepted).toBe(1);
    expect(response.data!.recordMetrics.failed.map((f: { index: number; code: string }) => [f.index, f.code])).toEqual([[1, 'BAD_USER_INPUT']]);
    expect(await invalidations(app, a.tenantId)).toEqual([{ bucket: iso(H), lo: iso(H + 5 * MINUTE), hi: iso(H + 5 * MINUTE), generation: 1 }]);
    const answer = await query(app, a.adminKey, { metrics: ['mixed'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' }, STATS);
    expect(answer.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[1, 7]]);
    await runJob(app);
  });

  test('report rollups older than the re-roll window take late points in: read from raw at once, re-rolled by the job', async () => {
    // 60 days back: a month and its weeks far older than REPORT_ROLLUP_LOOKBACK_DAYS (3).
    const today = Math.floor(Date.now() / DAY) * DAY;
    const monthStart = Date.UTC(new Date(today - 60 * DAY).getUTCFullYear(), new Date(today - 60 * DAY).getUTCMonth(), 1);
    const monthEnd = Date.UTC(new Date(monthStart).getUTCFullYear(), new Date(monthStart).getUTCMonth() + 1, 1);
    const days = Math.round((monthEnd - monthStart) / DAY);
    await record(app, a.adminKey, Array.from({ length: days }, (_, d) => point('orders', d + 1, monthStart + d * DAY + 12 * HOUR)));
    await runJob(app);
    // The month before too: a report reads it for the first period's growth.
    const previous = Date.UTC(new Date(monthStart).getUTCFullYear(), new Date(monthStart).getUTCMonth() - 1, 1);
    const backfill = await app.gql<{ backfillReportRollups: { status: string } }, unknown>(BACKFILL, { input: { from: iso(previous), to: iso(monthEnd) } }, a.adminKey);
    expect(backfill.data?.backfillReportRollups.status).toBe('COMPLETED');
    const report = async (period: string) => {
      const response = await app.gql<{ metricReport: { sources: string[]; groups: Array<{ rows: Array<{ start: string; count: number; sum: number }> }> } }, unknown>(
        REPORT,
        { input: { metric: 'orders', period, from: iso(monthStart), to: iso(monthEnd - 1) } },
        a.adminKey,
      );
      expect(response.errors).toBeUndefined();
      return response.data!.metricReport;
    };
    const total = (days * (days + 1)) / 2;
    const month = await report('MONTH');
    expect(month.sources).toEqual(['rollup_month']);
    expect(month.groups[0]!.rows.map((r) => [r.start, r.count, r.sum])).toEqual([[iso(monthStart), days, total]]);

    // Late: 1000 on the 10th of that month.
    const late = monthStart + 9 * DAY + 15 * HOUR;
    await record(app, a.adminKey, [point('orders', 1000, late)]);
    const fresh = await report('MONTH');
    expect(fresh.sources).toContain('raw');
    expect(fresh.groups[0]!.rows.map((r) => [r.count, r.sum])).toEqual([[days + 1, total + 1000]]);

    await runJob(app);
    const rerolled = await report('MONTH');
    expect(rerolled.sources).toEqual(['rollup_month']);
    expect(rerolled.groups[0]!.rows.map((r) => [r.count, r.sum])).toEqual([[days + 1, total + 1000]]);
    // The week holding it (Monday to Monday, inside the month), and on PostgreSQL its day, were rolled again too.
    const weeks = await report('WEEK');
    expect(weeks.sources).toContain('rollup_week');
    const week = weeks.groups[0]!.rows.find((r) => Date.parse(r.start) <= late && late < Date.parse(r.start) + 7 * DAY)!;
    const first = (Date.parse(week.start) - monthStart) / DAY;
    expect([week.count, week.sum]).toEqual([8, Array.from({ length: 7 }, (_, i) => first + i + 1).reduce((x, y) => x + y, 0) + 1000]);
    if (!timescale) {
      const day = (await report('DAY')).groups[0]!.rows.find((r) => r.start === iso(monthStart + 9 * DAY))!;
      expect([day.count, day.sum]).toEqual([2, 10 + 1000]);
    }
  }, 120_000); // a month of days: two late-points jobs over ~30 day buckets, in slices, up to ~30 s under load
});

describe.each(ENGINES)('one tenant’s retention and another’s late points on %s', (engine) => {
  let app: TestApp;
  const short = { tenantId: '', adminKey: '' };
  const long = { tenantId: '', adminKey: '' };
  const timescale = engine === 'embedded';
  let NOW = NaN;
  let OLD = NaN;

  beforeAll(async () => {
    NOW = Math.floor(Date.now() / HOUR) * HOUR;
    OLD = NOW - 40 * DAY + 10 * MINUTE;
    // An engine of its own: a retention run works through every tenant of its engine, and on the
    // worker's shared one that is whatever the files before this one wrote (the test timed out
    // at 30 s beside a CPU hog once it had most of a run's data to go through).
    app = await startApp(engine, { LATE_POINTS_CRON: 'off', QUERY_CACHE_SIZE: '0' }, { ownEngine: true });
    Object.assign(short, await app.createTenant());
    Object.assign(long, await app.createTenant());
  }, 600_000);
  afterAll(() => app?.close());

  test('after a retention run, a tenant that keeps 100 years gets points 40 days old into its aggregates; a 7-day tenant’s hourly data stays', async () => {
    for (const [tenant, days] of [[short, 7], [long, 36_500]] as const) {
      const set = await app.gql(SET_RETENTION, { input: { rawDays: days, minuteDays: days, fiveMinuteDays: days, hourDays: Math.max(days, 365), dayDays: Math.max(days, 1825) } }, tenant.adminKey);
      expect(set.errors).toBeUndefined();
    }
    await record(app, short.adminKey, [point('cpu', 1, OLD)]);
    await record(app, long.adminKey, [point('cpu', 2, OLD)]);
    await runJob(app);
    await app.server.deps.retention.retain(new Date(NOW));

    // Late, after the retention run: 40 and 20 days old.
    await record(app, long.adminKey, [point('cpu', 3, OLD + 5 * MINUTE), point('cpu', 4, NOW - 20 * DAY)]);
    const input = { metrics: ['cpu'], from: iso(OLD - 10 * MINUTE), to: iso(OLD + 50 * MINUTE), granularity: 'HOUR' };
    const fresh = await query(app, long.adminKey, input, STATS);
    expect(fresh.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 5]]);
    await runJob(app);
    const aggregated = await query(app, long.adminKey, input, STATS);
    expect(aggregated.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 5]]);
    expect(aggregated.metadata.sources).toEqual(timescale ? ['group_stats_1h'] : ['raw']);
    const twenty = await query(app, long.adminKey, { metrics: ['cpu'], from: iso(NOW - 21 * DAY), to: iso(NOW - 19 * DAY), granularity: 'DAY' }, STATS);
    expect(twenty.series[0]!.buckets.reduce((n, x) => n + x.count, 0)).toBe(1);
    if (timescale) expect(twenty.metadata.sources).not.toContain('raw');

    // The short-lived tenant's raw point is gone; its hourly aggregate is kept (on TimescaleDB), untouched by the long tenant's recomputation.
    const kept = await query(app, short.adminKey, input, STATS);
    expect(kept.series[0]?.buckets.map((x) => [x.count, x.sum]) ?? []).toEqual(timescale ? [[1, 1]] : []);
    if (timescale) expect(kept.metadata).toMatchObject({ sources: ['group_stats_1h'], downsampled: true });
  }, 120_000); // two late-points jobs and a retention run: up to ~40 s under load
});

describe.each(ENGINES)('the query cache and writes on %s', (engine) => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
  });

  test('an identical query right after a write is answered afresh, with the new point', async () => {
    const app = await startApp(engine, { LATE_POINTS_CRON: 'off' });
    apps.push(app);
    const { adminKey } = await app.createTenant();
    await record(app, adminKey, [point('cached', 1, H + MINUTE)]);
    // A range days old: cached for QUERY_CACHE_HISTORICAL_TTL_MS (60 s) before this change.
    const input = { metrics: ['cached'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' };
    expect((await query(app, adminKey, input, STATS)).metadata.fromCache).toBe(false);
    expect((await query(app, adminKey, input, STATS)).metadata.fromCache).toBe(true);
    await record(app, adminKey, [point('cached', 2, H + 2 * MINUTE)]);
    const after = await query(app, adminKey, input, STATS);
    expect(after.metadata.fromCache).toBe(false);
    expect(after.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 3]]);
    // A write of another metric leaves this answer cached.
    await record(app, adminKey, [point('other', 9, H + MINUTE)]);
    expect((await query(app, adminKey, input, STATS)).metadata.fromCache).toBe(true);
  }, 120_000);

  test.runIf(engine === 'postgres' && TEST_REDIS_URL)('across two instances sharing Redis, a write on one retires the answer the other cached', async () => {
    const first = await startApp(engine, { LATE_POINTS_CRON: 'off', REDIS_URL: TEST_REDIS_URL! });
    apps.push(first);
    const second = await startApp(engine, { LATE_POINTS_CRON: 'off', REDIS_URL: TEST_REDIS_URL!, DATABASE_URL: first.databaseUrl! });
    apps.push(second);
    const { adminKey } = await first.createTenant(`shared-${randomUUID().slice(0, 8)}`);
    await record(first, adminKey, [point('shared', 1, H + MINUTE)]);
    const input = { metrics: ['shared'], from: iso(H), to: iso(H + HOUR), granularity: 'HOUR' };
    expect((await query(second, adminKey, input, STATS)).metadata.fromCache).toBe(false);
    expect((await query(first, adminKey, input, STATS)).metadata.fromCache).toBe(true);
    await record(first, adminKey, [point('shared', 2, H + 2 * MINUTE)]);
    const after = await query(second, adminKey, input, STATS);
    expect(after.metadata.fromCache).toBe(false);
    expect(after.series[0]!.buckets.map((x) => [x.count, x.sum])).toEqual([[2, 3]]);
  }, 120_000);
});

/**
 * The cache's one-round-trip lookup: an entry carries the write generations it was made under,
 * so one made before a write (even one stored after it, by a slow query) is never served.
 */
describe.each([['in-process', undefined], ['redis', TEST_REDIS_URL]] as const)('the query cache stamps answers with generations (%s)', (_name, url) => {
  test.runIf(_name === 'in-process' || url)('an answer is served under the generations it was made with, and not once a write bumped them', async () => {
    const redis = url ? new Redis(url) : undefined;
    try {
      const cache = createQueryCache({ redis, size: 10, maxBytes: 1_000_000, log: createLogger('silent') });
      const [tenant, other] = [randomUUID(), randomUUID()];
      const key = `${tenant}:answer`;
      const before = await cache.lookup(tenant, ['cpu'], key);
      expect(before.value).toBeUndefined();
      await cache.set(key, 'old', 60_000, before.written);
      expect(await cache.lookup(tenant, ['cpu'], key)).toEqual({ written: before.written, value: 'old' });
      // Another tenant's and another metric's writes retire nothing.
      await cache.touch(other, ['cpu']);
      await cache.touch(tenant, ['mem']);
      expect((await cache.lookup(tenant, ['cpu'], key)).value).toBe('old');
      await cache.touch(tenant, ['cpu']);
      const after = await cache.lookup(tenant, ['cpu'], key);
      expect(after.value).toBeUndefined();
      expect(after.written).not.toBe(before.written);
      // A slow query that read before the write stores its answer after it: still not served.
      await cache.set(key, 'stale', 60_000, before.written);
      expect((await cache.lookup(tenant, ['cpu'], key)).value).toBeUndefined();
      await cache.set(key, 'fresh', 60_000, after.written);
      expect((await cache.lookup(tenant, ['cpu'], key)).value).toBe('fresh');
      // A definition's answer follows every write of the tenant (ANY_METRIC).
      const any = await cache.lookup(tenant, ['*'], `${tenant}:definition`);
      await cache.set(`${tenant}:definition`, 'defined', 60_000, any.written);
      await cache.touch(tenant, ['disk']);
      expect((await cache.lookup(tenant, ['*'], `${tenant}:definition`)).value).toBeUndefined();
    } finally {
      redis?.disconnect();
    }
  });
});
