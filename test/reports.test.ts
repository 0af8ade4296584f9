/**
 * metricReport on known data, on both engines: calendar periods in UTC and in a time zone
 * (with a 25-hour day), growth against the previous period, p95 within the sketch bound, a
 * definition's ratio of period sums; rollups written by the scheduled job (once per tick
 * across instances, logged) and by an ADMIN's backfill, giving the same answers faster.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createReportRollups, ROLLUP_JOB } from '../src/definitions/roll-up-reports.js';
import { withTenant } from '../src/db/tenant.js';
import { createScheduler } from '../src/jobs/scheduler.js';
import { createLogger } from '../src/log.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { CreateMetricDefinition, RecordMetric, RecordMetrics, Tenant } from './operations.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const at = (text: string) => Date.parse(text);

interface Point {
  name: string;
  type: 'COUNTER' | 'HISTOGRAM';
  value: number;
  tags: Record<string, string>;
  timestamp: string;
}

/**
 * From Monday 2026-09-21 to Sunday 2026-10-11 (three weeks across a month's end):
 *   orders{shop}  COUNTER  shop a: 100 + 10·d at 12:00 UTC of day d (d = 0 on 09-21); shop b: 50·(d % 3 + 1)
 *   latency       HISTOGRAM 24 observations a day, one per hour
 * plus orders{shop: "a"} 7 at 2026-10-01T22:30Z: 1 October in UTC, 2 October in Warsaw.
 */
const START = at('2026-09-21T00:00:00Z');
function dataset(): Point[] {
  const points: Point[] = [];
  for (let d = 0; d < 21; d++) {
    const noon = iso(START + d * DAY + 12 * HOUR);
    points.push({ name: 'orders', type: 'COUNTER', value: 100 + 10 * d, tags: { shop: 'a' }, timestamp: noon });
    points.push({ name: 'orders', type: 'COUNTER', value: 50 * ((d % 3) + 1), tags: { shop: 'b' }, timestamp: noon });
    for (let h = 0; h < 24; h++) points.push({ name: 'latency', type: 'HISTOGRAM', value: 10 + ((d * 24 + h) * 7.3) % 90, tags: {}, timestamp: iso(START + d * DAY + h * HOUR + 1000) });
  }
  points.push({ name: 'orders', type: 'COUNTER', value: 7, tags: { shop: 'a' }, timestamp: '2026-10-01T22:30:00.000Z' });
  return points;
}

/** Sum of `orders` in [from, to) for shops matching `shop`. */
function ordersIn(points: Point[], from: number, to: number, shop?: string): number {
  return points.filter((p) => p.name === 'orders' && (!shop || p.tags.shop === shop) && at(p.timestamp) >= from && at(p.timestamp) < to).reduce((a, p) => a + p.value, 0);
}

const growth = (previous: number, current: number) => ((current - previous) / Math.abs(previous)) * 100;

/** The same rows, numbers equal to 12 significant digits (rollups add in another order than the aggregates). */
function expectSameReport(actual: { groups: Array<{ tags: Record<string, string>; rows: Array<Record<string, unknown>> }> }, expected: typeof actual) {
  expect(actual.groups.map((g) => g.tags)).toEqual(expected.groups.map((g) => g.tags));
  actual.groups.forEach((group, i) =>
    group.rows.forEach((row, j) => {
      const want = expected.groups[i]!.rows[j]!;
      expect(Object.keys(row)).toEqual(Object.keys(want));
      for (const [key, value] of Object.entries(row)) {
        if (typeof value === 'number' && typeof want[key] === 'number') expect(value, key).toBeCloseTo(want[key] as number, 9);
        else expect(value, key).toEqual(want[key]);
      }
    }),
  );
}

const REPORT = graphql(`
  query Report($input: MetricReportInput!) {
    metricReport(input: $input) {
      metric type unit period timeZone sources
      definition { name version }
      groups { tags rows { start end count sum avg min max p95 value growth } }
    }
  }
`);

const BACKFILL = graphql(`
  mutation Backfill($input: BackfillReportRollupsInput!) {
    backfillReportRollups(input: $input) { job status rows rangeFrom rangeTo tenantScoped error }
  }
`);

const JOB_RUNS = graphql(`
  query JobRuns($job: String) {
    jobRuns(job: $job) { job tick status rows tenantScoped rangeFrom rangeTo durationMs error finishedAt }
  }
`);

type Row = { start: string; end: string; count: number; sum: number | null; avg: number | null; min: number | null; max: number | null; p95: number | null; value: number | null; growth: number | null };
type Report = { metric: string; type: string | null; period: string; timeZone: string; sources: string[]; definition: { name: string; version: number } | null; groups: Array<{ tags: Record<string, string>; rows: Row[] }> };

describe.each(ENGINES)('reports on %s', (engine) => {
  let app: TestApp;
  let admin: string;
  let other: string;
  const points = dataset();
  const timescale = engine === 'embedded';

  const report = async (input: Record<string, unknown>, key = admin): Promise<Report> => {
    const response = await app.send(REPORT, { input }, key);
    expect(response.errors).toBeUndefined();
    return response.data!.metricReport as Report;
  };

  beforeAll(async () => {
    // No scheduled rollups here: the tests run the job themselves, at ticks they choose. Its own
    // engine: taking in months of late points recomputes each day of the group levels, about a
    // second each on a fresh engine, and several times that on a worker's shared engine after
    // other suites' data (no autovacuum in PGlite), which passed this hook's bound in CI.
    app = await startApp(engine, { REPORT_ROLLUP_CRON: 'off' }, { ownEngine: true });
    admin = (await app.createTenant()).adminKey;
    other = (await app.createTenant()).adminKey;
    for (let i = 0; i < points.length; i += 500) {
      const response = await app.gql(RecordMetrics, { metrics: points.slice(i, i + 500) }, admin);
      expect(response.data?.recordMetrics.failed).toEqual([]);
    }
    // The data is months old: late points, in the aggregates once the late-points job has run (src/jobs/late-points.ts).
    await app.takeInLatePoints();
  }, 120_000);
  afterAll(() => app?.close());

  test('DAY in UTC: count, sum, avg, min, max per day and growth against the day before', async () => {
    const result = await report({ metric: 'orders', period: 'DAY', from: '2026-09-30T00:00:00Z', to: '2026-10-03T00:00:00Z', groupBy: ['shop'] });
    expect(result).toMatchObject({ metric: 'orders', type: 'COUNTER', period: 'DAY', timeZone: 'UTC', definition: null });
    expect(result.groups.map((g) => g.tags)).toEqual([{ shop: 'a' }, { shop: 'b' }]);
    const [a, b] = result.groups;
    expect(a!.rows.map((r) => [r.start, r.end])).toEqual([
      ['2026-09-30T00:00:00.000Z', '2026-10-01T00:00:00.000Z'],
      ['2026-10-01T00:00:00.000Z', '2026-10-02T00:00:00.000Z'],
      ['2026-10-02T00:00:00.000Z', '2026-10-03T00:00:00.000Z'],
    ]);
    // shop a: day 9 (09-30) 190, day 10 (10-01) 200 + the 22:30 point 7, day 11 210; growth against day 8 (180) for the first
    expect(a!.rows.map((r) => [r.count, r.sum, r.min, r.max, r.value])).toEqual([
      [1, 190, 190, 190, 190],
      [2, 207, 7, 200, 207],
      [1, 210, 210, 210, 210],
    ]);
    expect(a!.rows.map((r) => r.growth)).toEqual([growth(180, 190), growth(190, 207), growth(207, 210)]);
    expect(a!.rows[1]!.avg).toBe(103.5);
    // shop b: 50·(d % 3 + 1): d 8 → 150, 9 → 50, 10 → 100, 11 → 150
    expect(b!.rows.map((r) => [r.sum, r.growth])).toEqual([
      [50, growth(150, 50)],
      [100, 100],
      [150, 50],
    ]);
    expect(result.sources).toEqual(timescale ? ['stats_1d', 'sketch_1d'] : ['raw']);
  });

  test('WEEK starts on Monday, MONTH on the 1st; the first period’s growth compares with the one before it', async () => {
    const weeks = await report({ metric: 'orders', period: 'WEEK', from: '2026-09-30T00:00:00Z', to: '2026-10-08T00:00:00Z' });
    const w = [at('2026-09-21T00:00:00Z'), at('2026-09-28T00:00:00Z'), at('2026-10-05T00:00:00Z'), at('2026-10-12T00:00:00Z')];
    expect(weeks.groups[0]!.rows.map((r) => [r.start, r.sum, r.growth])).toEqual([
      [iso(w[1]!), ordersIn(points, w[1]!, w[2]!), growth(ordersIn(points, w[0]!, w[1]!), ordersIn(points, w[1]!, w[2]!))],
      [iso(w[2]!), ordersIn(points, w[2]!, w[3]!), growth(ordersIn(points, w[1]!, w[2]!), ordersIn(points, w[2]!, w[3]!))],
    ]);
    const months = await report({ metric: 'orders', period: 'MONTH', from: '2026-09-15T00:00:00Z', to: '2026-10-02T00:00:00Z' });
    const m = [at('2026-08-01T00:00:00Z'), at('2026-09-01T00:00:00Z'), at('2026-10-01T00:00:00Z'), at('2026-11-01T00:00:00Z')];
    expect(months.groups[0]!.rows.map((r) => [r.start, r.end, r.count, r.sum, r.growth])).toEqual([
      [iso(m[1]!), iso(m[2]!), 20, ordersIn(points, m[1]!, m[2]!), null], // nothing in August: no growth
      [iso(m[2]!), iso(m[3]!), 23, ordersIn(points, m[2]!, m[3]!), growth(ordersIn(points, m[1]!, m[2]!), ordersIn(points, m[2]!, m[3]!))],
    ]);
  });

  test('a time zone moves the boundaries, and a day with the clocks changed has 25 hours', async () => {
    const warsaw = await report({ metric: 'orders', period: 'DAY', from: '2026-10-01T00:00:00+02:00', to: '2026-10-03T00:00:00+02:00', groupBy: ['shop'], timeZone: 'Europe/Warsaw' });
    expect(warsaw.timeZone).toBe('Europe/Warsaw');
    // the 22:30 UTC point is on 2 October in Warsaw
    expect(warsaw.groups[0]!.rows.map((r) => [r.start, r.sum])).toEqual([
      ['2026-09-30T22:00:00.000Z', 200],
      ['2026-10-01T22:00:00.000Z', 217],
    ]);
    expect(warsaw.sources).toEqual(timescale ? ['stats_1h', 'sketch_1h'] : ['raw']);
    const change = await report({ metric: 'orders', period: 'DAY', from: '2026-10-24T12:00:00Z', to: '2026-10-26T12:00:00Z', timeZone: 'Europe/Warsaw' });
    // 25 October has 25 hours in Warsaw (CEST → CET); no points then, so every count is 0.
    expect(change.groups[0]!.rows.map((r) => [r.start, r.end, r.count])).toEqual([
      ['2026-10-23T22:00:00.000Z', '2026-10-24T22:00:00.000Z', 0],
      ['2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z', 0],
      ['2026-10-25T23:00:00.000Z', '2026-10-26T23:00:00.000Z', 0],
    ]);
    const weekInTokyo = await report({ metric: 'orders', period: 'WEEK', from: '2026-10-05T00:00:00+09:00', to: '2026-10-06T00:00:00+09:00', timeZone: 'Asia/Tokyo' });
    expect(weekInTokyo.groups[0]!.rows.map((r) => [r.start, r.end])).toEqual([['2026-10-04T15:00:00.000Z', '2026-10-11T15:00:00.000Z']]);
  });

  test('p95 is within the sketch bound; avg, min and max are exact', async () => {
    const result = await report({ metric: 'latency', period: 'WEEK', from: '2026-09-21T00:00:00Z', to: '2026-10-12T00:00:00Z' });
    expect(result.groups[0]!.rows).toHaveLength(3);
    result.groups[0]!.rows.forEach((row, i) => {
      const values = points.filter((p) => p.name === 'latency' && at(p.timestamp) >= START + i * 7 * DAY && at(p.timestamp) < START + (i + 1) * 7 * DAY).map((p) => p.value).sort((x, y) => x - y);
      const rank = 0.95 * (values.length - 1);
      const exact = values[Math.floor(rank)]! + (rank - Math.floor(rank)) * (values[Math.ceil(rank)]! - values[Math.floor(rank)]!);
      expect(row.count).toBe(168);
      expect(Math.abs(row.p95! - exact) / exact).toBeLessThanOrEqual(0.01);
      expect(row.min).toBe(values[0]);
      expect(row.max).toBe(values.at(-1));
      expect(row.avg).toBeCloseTo(values.reduce((a, v) => a + v, 0) / values.length, 9);
      expect(row.value).toBe(row.avg); // not a COUNTER: growth compares averages
    });
  });

  test('a definition’s value is the ratio of the period’s sums; its stats summarise its daily values', async () => {
    await app.send(CreateMetricDefinition, { input: { name: 'share.a', formula: 'sum(orders{shop="a"}) / sum(orders)' } }, admin);
    const result = await report({ metric: 'share.a', period: 'WEEK', from: '2026-09-28T00:00:00Z', to: '2026-10-05T00:00:00Z' });
    expect(result).toMatchObject({ metric: 'share.a', type: null, definition: { name: 'share.a', version: 1 } });
    const [from, to] = [at('2026-09-28T00:00:00Z'), at('2026-10-05T00:00:00Z')];
    const daily = Array.from({ length: 7 }, (_, d) => ordersIn(points, from + d * DAY, from + (d + 1) * DAY, 'a') / ordersIn(points, from + d * DAY, from + (d + 1) * DAY));
    const row = result.groups[0]!.rows[0]!;
    expect(row.value).toBeCloseTo(ordersIn(points, from, to, 'a') / ordersIn(points, from, to), 12);
    expect(row.count).toBe(7);
    expect(row.avg).toBeCloseTo(daily.reduce((a, v) => a + v, 0) / 7, 12);
    expect(row.avg).not.toBeCloseTo(row.value!, 3); // an average of ratios is another number
    expect([row.min, row.max]).toEqual([Math.min(...daily), Math.max(...daily)]);
    const previous = ordersIn(points, from - 7 * DAY, from, 'a') / ordersIn(points, from - 7 * DAY, from);
    expect(row.growth).toBeCloseTo(growth(previous, row.value!), 9);
  });

  test('bad input: an unknown time zone, too many periods, an unknown metric', async () => {
    const zone = await app.send(REPORT, { input: { metric: 'orders', period: 'DAY', from: '2026-10-01T00:00:00Z', timeZone: 'Mars/Olympus' } }, admin);
    expect(zone.errors?.[0]).toMatchObject({ message: 'input.timeZone: timeZone must be an IANA time zone name, e.g. Europe/Warsaw or UTC', extensions: { code: 'BAD_USER_INPUT' } });
    const long = await app.send(REPORT, { input: { metric: 'orders', period: 'DAY', from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, admin);
    expect(codes(long)).toEqual(['LIMIT_EXCEEDED']);
    expect(codes(await app.send(REPORT, { input: { metric: 'nope', period: 'DAY', from: '2026-10-01T00:00:00Z' } }, admin))).toEqual(['NOT_FOUND']);
  });

  test('an ADMIN’s backfill writes rollups that give the same report, logged in jobRuns', async () => {
    const input = { metric: 'latency', period: 'WEEK', from: '2026-09-21T00:00:00Z', to: '2026-10-12T00:00:00Z' };
    const before = await report(input);
    const developer = (await app.createKey(admin, 'DEVELOPER')).key;
    expect(codes(await app.gql(BACKFILL, { input: { from: '2026-09-01T00:00:00Z', to: '2026-11-01T00:00:00Z' } }, developer))).toEqual(['FORBIDDEN']);

    const run = await app.gql(BACKFILL, { input: { from: '2026-08-01T00:00:00Z', to: '2026-11-01T00:00:00Z' } }, admin);
    expect(run.data!.backfillReportRollups).toMatchObject({ job: 'reports.backfill', status: 'COMPLETED', tenantScoped: true, rangeFrom: '2026-08-01T00:00:00.000Z', rangeTo: '2026-11-01T00:00:00.000Z', error: null });
    expect(run.data!.backfillReportRollups.rows).toBeGreaterThan(0);

    const after = await report(input);
    expect(after.sources).toEqual(['rollup_week']);
    expectSameReport(after, before);
    const months = await report({ ...input, metric: 'orders', period: 'MONTH' });
    expect(months.sources).toEqual(['rollup_month']);
    const days = await report({ ...input, metric: 'orders', period: 'DAY', from: '2026-10-01T00:00:00Z', to: '2026-10-03T00:00:00Z' });
    expect(days.sources).toEqual(timescale ? ['stats_1d', 'sketch_1d'] : ['rollup_day']);
    expect(days.groups[0]!.rows.map((r) => r.sum)).toEqual([200 + 7 + 100, 210 + 150]);
    // In a time zone, periods are not the UTC ones the rollups hold.
    expect((await report({ ...input, timeZone: 'Europe/Warsaw' })).sources).not.toContain('rollup_week');

    const runs = await app.gql(JOB_RUNS, { job: 'reports.backfill' }, admin);
    expect(runs.data!.jobRuns).toHaveLength(1);
    expect(runs.data!.jobRuns[0]).toMatchObject({ job: 'reports.backfill', status: 'COMPLETED', tenantScoped: true, error: null });
    expect(runs.data!.jobRuns[0]!.durationMs).toBeGreaterThan(0);
    expect(codes(await app.gql(JOB_RUNS, {}, developer))).toEqual(['FORBIDDEN']);
    // Another tenant sees neither the run nor the rollups.
    expect((await app.gql(JOB_RUNS, { job: 'reports.backfill' }, other)).data!.jobRuns).toEqual([]);
    const otherId = (await app.gql(Tenant, {}, other)).data!.tenant.id;
    const seen = await withTenant(app.server.deps.db.kysely, otherId, (trx) => sql<{ n: number }>`select count(*)::int as n from report_rollup_stats`.execute(trx));
    expect(seen.rows[0]!.n).toBe(0);
    expect(codes(await app.send(REPORT, { input }, other))).toEqual(['NOT_FOUND']);
  });

  test('the scheduled job runs once per tick across instances, is logged, and re-rolls recent periods to take in late points', async () => {
    const kysely = app.server.deps.db.kysely;
    const log = createLogger('silent');
    const [a, b] = [createScheduler(kysely, log, 'instance-a'), createScheduler(kysely, log, 'instance-b')];
    const rollups = createReportRollups(kysely, a, { timescale, lookbackDays: 3 });
    // 6 October, 12:00: the week of 28 September ended within the last 3 days.
    const tick = new Date('2026-10-06T12:00:00Z');
    const work = () => rollups.rollUpRecent(tick);
    const [first, second] = await Promise.all([a.run(ROLLUP_JOB, tick, work), b.run(ROLLUP_JOB, tick, work)]);
    expect([first, second].filter((r) => r === null)).toHaveLength(1);
    expect((first ?? second)!).toMatchObject({ job: ROLLUP_JOB, status: 'COMPLETED', error: null });
    const { rows } = await sql<{ status: string; instance: string; tenant_id: string | null }>`
      select status, instance, tenant_id from job_runs where job = ${ROLLUP_JOB} and tick = ${tick.toISOString()}::timestamptz`.execute(kysely);
    expect(rows).toEqual([{ status: 'COMPLETED', instance: first ? 'instance-a' : 'instance-b', tenant_id: null }]);
    const runs = await app.gql(JOB_RUNS, { job: ROLLUP_JOB }, admin);
    // The run is service-wide: a tenant's jobRuns lists only its own tenant's runs.
    expect(runs.data!.jobRuns.map((r) => [r.tick, r.status, r.tenantScoped])).toEqual([]);

    const week = { metric: 'orders', period: 'WEEK', from: '2026-09-28T00:00:00Z', to: '2026-10-05T00:00:00Z' };
    const rolled = await report(week);
    expect(rolled.sources).toEqual(['rollup_week']);
    // A point stamped within the lookback arrives late: the next report has it (its range is read from raw points until the late-points job has run),
    await app.gql(RecordMetric, { input: { name: 'orders', type: 'COUNTER', value: 1000, tags: { shop: 'a' }, timestamp: '2026-10-04T08:00:00Z' } }, admin);
    expect((await report(week)).groups[0]!.rows[0]!.sum).toBe(rolled.groups[0]!.rows[0]!.sum! + 1000);
    // and so does the rollup the next tick writes.
    await app.takeInLatePoints();
    const next = new Date(tick.getTime() + 15 * 60_000);
    await a.run(ROLLUP_JOB, next, () => rollups.rollUpRecent(next));
    const rerolled = await report(week);
    expect(rerolled.sources).toEqual(['rollup_week']);
    expect(rerolled.groups[0]!.rows[0]!.sum).toBe(rolled.groups[0]!.rows[0]!.sum! + 1000);
  });
});
