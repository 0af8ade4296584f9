/**
 * Compressed aggregate levels (migrations/0090, src/ops/retention.ts compress): once the
 * compression job has compressed every level's chunks, each query answers exactly as before;
 * a late point into a compressed range is counted exactly after the late-points job and the
 * refresh, and the chunk is compressed again by the next run; a purge and per-tenant retention
 * remove one tenant's buckets from compressed chunks and leave the other tenant's as they were.
 *
 * Embedded TimescaleDB only: without TimescaleDB there are no aggregates (the PostgreSQL arm's
 * answers read raw points, test/retention.test.ts covers them). Its own engine: the job here
 * compresses every chunk in the engine, and retention moves the engine's refresh floors.
 * Values are integers, so every sum is exact whatever order a compressed chunk hands its rows
 * over in, and answers compare whole.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withTenant } from '../src/db/tenant.js';
import { startApp, type TestApp } from './harness.js';
import { RecordMetrics } from './operations.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
/** Midnight four days back: the data below fills three hours from there. Taken when the tests start. */
let D = NaN;
beforeAll(() => {
  D = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;
});
/** The job's clock for "every level past its compression age" (1d: 35 days after the chunk's end; its chunks span 10 days). */
const aged = () => new Date(Date.now() + 60 * DAY);

const AGGREGATES = `
  query Aggregates($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      series { tags buckets { start count sum min max last p50 p99 } }
      metadata { sources }
    }
  }`;
const STORAGE = `
  query { storageStats { aggregates { level rows bytes compressedRows compressedBytes uncompressedBytes } } }`;
const PURGE = `
  mutation Purge($input: PurgeMetricsInput!) { purgeMetrics(input: $input, confirm: true) { deleted } }`;
const SET_RETENTION = `
  mutation SetRetention($input: SetRetentionInput!) { setRetention(input: $input) { minuteDays } }`;

interface Answer {
  series: Array<{ tags: Record<string, string>; buckets: Array<{ start: string; count: number; sum: number; min: number; max: number; last: number; p50: number; p99: number }> }>;
  metadata: { sources: string[] };
}

/** A point a minute for three hours from D, hosts a and b (b a second earlier: `last` of two hosts is then defined), integer values. */
function series(metric: string, offset = 0) {
  return Array.from({ length: 180 }, (_, i) =>
    ['a', 'b'].map((host) => ({
      name: metric,
      type: 'HISTOGRAM' as const,
      value: ((i * 7) % 50) + (host === 'a' ? 100 : 0) + offset,
      tags: { host, region: 'eu' },
      timestamp: iso(D + i * MINUTE + 5_000 - (host === 'b' ? 1_000 : 0)),
    })),
  ).flat();
}

describe('compressed aggregate levels on embedded', () => {
  let app: TestApp;
  const a = { tenantId: '', adminKey: '' };
  const b = { tenantId: '', adminKey: '' };

  const ask = async (key: string, input: Record<string, unknown>) => {
    const response = await app.gql<{ metricAggregates: Answer }, unknown>(AGGREGATES, { input }, key);
    expect(response.errors).toBeUndefined();
    return response.data!.metricAggregates;
  };
  const record = async (key: string, points: unknown[]) => {
    for (let i = 0; i < points.length; i += 500) {
      const response = await app.gql(RecordMetrics, { metrics: points.slice(i, i + 500) as never }, key);
      expect(response.data?.recordMetrics.failed).toEqual([]);
    }
  };
  /** Questions that read each level: 1m, 5m, the series' and tag groups' 1h and 1d. */
  const questions = (metric: string) => [
    { metrics: [metric], from: iso(D + 13 * MINUTE), to: iso(D + 41 * MINUTE), granularity: 'MINUTE', groupBy: ['host'] },
    { metrics: [metric], from: iso(D), to: iso(D + 3 * HOUR), granularity: 'FIVE_MINUTES', groupBy: ['host'] },
    { metrics: [metric], from: iso(D), to: iso(D + 3 * HOUR), granularity: 'HOUR' },
    { metrics: [metric], from: iso(D), to: iso(D + 3 * HOUR), granularity: 'HOUR', filters: [{ key: 'host', equals: 'a' }] },
    { metrics: [metric], from: iso(D), to: iso(D + DAY), granularity: 'DAY', groupBy: ['host'] },
    { metrics: [metric], from: iso(D - DAY), to: iso(D + 2 * DAY), granularity: 'DAY', groupBy: ['region'] },
  ];
  /** Whether every chunk of every aggregate holding [from, to) is compressed (and not partially). */
  const chunkStates = async (from: number, to: number) => {
    const { rows } = await sql<{ view_name: string; status: number }>`
      select a.view_name, ch.status from timescaledb_information.continuous_aggregates a
      join timescaledb_information.chunks c on c.hypertable_schema = a.materialization_hypertable_schema and c.hypertable_name = a.materialization_hypertable_name
      join _timescaledb_catalog.chunk ch on ch.schema_name = c.chunk_schema and ch.table_name = c.chunk_name
      where c.range_start < ${iso(to)}::timestamptz and c.range_end > ${iso(from)}::timestamptz
      order by a.view_name`.execute(app.server.deps.db.kysely);
    // status 1: compressed; 9: compressed, rows written since.
    return Object.fromEntries(rows.map((r) => [r.view_name, r.status]));
  };
  const everyView = (status: number) =>
    Object.fromEntries(
      ['group_sketch_1d', 'group_sketch_1h', 'group_stats_1d', 'group_stats_1h', 'sketch_1d', 'sketch_1h', 'sketch_1m', 'sketch_5m', 'stats_1d', 'stats_1h', 'stats_1m', 'stats_5m'].map((v) => [v, status]),
    );

  let before: Record<string, Answer[]> = {};

  beforeAll(async () => {
    app = await startApp('embedded', { LATE_POINTS_CRON: 'off', QUERY_CACHE_SIZE: '0', AGGREGATE_REFRESH: 'off' }, { ownEngine: true });
    Object.assign(a, await app.createTenant());
    Object.assign(b, await app.createTenant());
    for (const tenant of [a, b]) {
      for (const metric of ['kept', 'late', 'purged', 'retained']) await record(tenant.adminKey, series(metric, tenant === b ? 1000 : 0));
    }
    await app.takeInLatePoints();
    await app.server.deps.aggregates.refreshAll();
    before = {};
    for (const metric of ['kept', 'late', 'purged', 'retained']) {
      for (const tenant of [a, b]) before[`${metric} ${tenant.tenantId}`] = await Promise.all(questions(metric).map((q) => ask(tenant.adminKey, q)));
    }
    expect(await app.server.deps.retention.compress(aged())).toBeGreaterThanOrEqual(12 + 1);
  }, 180_000);
  afterAll(() => app?.close());

  test('every level is compressed, storageStats says so, and every answer is identical', async () => {
    expect(await chunkStates(D, D + 3 * HOUR)).toEqual(everyView(1));
    const levels = (await app.gql<{ storageStats: { aggregates: Array<{ level: string; rows: number; bytes: number; compressedRows: number; uncompressedBytes: number }> } }, unknown>(STORAGE, {}, a.adminKey)).data!
      .storageStats.aggregates;
    // Per level, 4 metrics × 2 hosts: 1m 180 buckets × (stats + sketch); 5m 36 × 2; 1h 3 × 2 + tag groups
    // (host a, host b, region eu, all: 4 per metric) × 3 × 2; 1d 1 × 2 + 4 × 2.
    expect(levels.map((l) => [l.level, l.rows, l.compressedRows])).toEqual([
      ['1m', 4 * 2 * 180 * 2, 4 * 2 * 180 * 2],
      ['5m', 4 * 2 * 36 * 2, 4 * 2 * 36 * 2],
      ['1h', 4 * (2 * 3 * 2 + 4 * 3 * 2), 4 * (2 * 3 * 2 + 4 * 3 * 2)],
      ['1d', 4 * (2 * 2 + 4 * 2), 4 * (2 * 2 + 4 * 2)],
    ]);
    // Smaller where chunks hold more than a few rows: 1m (720 rows per chunk and relation) and 5m
    // (144). At 1h and 1d (a dozen), a compressed chunk's fixed pages outweigh what it saves.
    for (const level of levels.slice(0, 2)) expect(level.bytes).toBeLessThan(level.uncompressedBytes / 2);
    for (const metric of ['kept', 'late', 'purged', 'retained']) {
      for (const tenant of [a, b]) expect(await Promise.all(questions(metric).map((q) => ask(tenant.adminKey, q)))).toEqual(before[`${metric} ${tenant.tenantId}`]);
    }
    // Tenant isolation through the views: B's rows only, from the same compressed chunks.
    const minutes = await withTenant(app.server.deps.db.kysely, b.tenantId, async (trx) =>
      (await sql<{ n: number; s: number }>`select count(*)::int as n, sum(s)::float8 as s from tenant_stats_1m`.execute(trx)).rows[0]!,
    );
    expect(minutes.n).toBe(4 * 2 * 180);
    expect(before[`kept ${b.tenantId}`]![0]!.series.flatMap((s) => s.buckets.map((x) => x.min)).every((v) => v >= 1000)).toBe(true);
  });

  test('a late point into a compressed range is counted exactly after the late-points job; the next run compresses the chunk again', async () => {
    const t = D + 97 * MINUTE + 30_000; // in the minute D + 97 min, hour D + 1 h
    await record(a.adminKey, [{ name: 'late', type: 'HISTOGRAM', value: 5000, tags: { host: 'a', region: 'eu' }, timestamp: iso(t) }]);
    expect(await app.takeInLatePoints()).toBeGreaterThanOrEqual(1);
    await app.server.deps.aggregates.refreshAll();
    // Written into the compressed chunks of every level (rows since compression: status 9).
    expect(await chunkStates(t, t + 1)).toMatchObject({ stats_1m: 9, sketch_1m: 9, stats_5m: 9, sketch_5m: 9, stats_1h: 9, sketch_1h: 9, group_stats_1h: 9, group_stats_1d: 9 });

    const [minute, fiveMinutes, hour, hourA, day] = before[`late ${a.tenantId}`]!;
    const expectWithLate = (answer: Answer, previous: Answer, start: number, tags?: Record<string, string>) => {
      const was = previous.series.find((s) => !tags || JSON.stringify(s.tags) === JSON.stringify(tags))!.buckets.find((x) => x.start === iso(start))!;
      const now = answer.series.find((s) => !tags || JSON.stringify(s.tags) === JSON.stringify(tags))!.buckets.find((x) => x.start === iso(start))!;
      expect([now.count, now.sum, now.min, now.max]).toEqual([was.count + 1, was.sum + 5000, was.min, 5000]);
    };
    const check = async () => {
      const answers = await Promise.all(questions('late').slice(0, 5).map((q) => ask(a.adminKey, q)));
      expect(answers.every((x) => !x.metadata.sources.includes('raw'))).toBe(true);
      expect(answers[0]).toEqual(minute); // the point's minute is outside this question's range
      expectWithLate(answers[1]!, fiveMinutes!, D + 95 * MINUTE, { host: 'a' });
      expectWithLate(answers[2]!, hour!, D + HOUR);
      expectWithLate(answers[3]!, hourA!, D + HOUR);
      expectWithLate(answers[4]!, day!, D, { host: 'a' });
      // Everything else as before: the other hours, and host b.
      expect(answers[2]!.series[0]!.buckets.filter((x) => x.start !== iso(D + HOUR))).toEqual(hour!.series[0]!.buckets.filter((x) => x.start !== iso(D + HOUR)));
      expect(answers[4]!.series.find((s) => s.tags.host === 'b')).toEqual(day!.series.find((s) => s.tags.host === 'b'));
      return answers;
    };
    const exact = await check();
    // The minute itself, from the 1 minute level: the point's own bucket.
    const own = await ask(a.adminKey, { metrics: ['late'], from: iso(D + 97 * MINUTE), to: iso(D + 98 * MINUTE), granularity: 'MINUTE', filters: [{ key: 'host', equals: 'a' }] });
    expect(own.series[0]!.buckets.map((x) => [x.count, x.max, x.last])).toEqual([[2, 5000, 5000]]);

    expect(await app.server.deps.retention.compress(aged())).toBeGreaterThanOrEqual(8);
    expect(await chunkStates(D, D + 3 * HOUR)).toEqual(everyView(1));
    expect(await check()).toEqual(exact);
    // B never saw any of it.
    expect(await Promise.all(questions('late').map((q) => ask(b.adminKey, q)))).toEqual(before[`late ${b.tenantId}`]);
  }, 120_000);

  test('purgeMetrics removes the tenant’s buckets from compressed chunks; the other tenant’s stay', async () => {
    const purged = await app.gql<{ purgeMetrics: { deleted: number } }, unknown>(PURGE, { input: { metrics: ['purged'], olderThan: iso(Date.now()) } }, a.adminKey);
    expect(purged.errors).toBeUndefined();
    expect(purged.data!.purgeMetrics.deleted).toBe(360);
    for (const answer of await Promise.all(questions('purged').map((q) => ask(a.adminKey, q)))) expect(answer.series).toEqual([]);
    expect(await Promise.all(questions('purged').map((q) => ask(b.adminKey, q)))).toEqual(before[`purged ${b.tenantId}`]);
    expect(await Promise.all(questions('kept').map((q) => ask(a.adminKey, q)))).toEqual(before[`kept ${a.tenantId}`]);
  }, 120_000);

  // Last: retention moves the engine's refresh floors a month ahead.
  test('retention deletes one tenant’s expired buckets from compressed chunks and keeps the other’s', async () => {
    await app.server.deps.retention.compress(aged());
    expect(await chunkStates(D, D + 3 * HOUR)).toEqual(everyView(1));
    const set = await app.gql(SET_RETENTION, { input: { minuteDays: 7, fiveMinuteDays: 7 } }, a.adminKey);
    expect(set.errors).toBeUndefined();
    // Twenty days on: A's 1 minute and 5 minute buckets (kept 7 days) have expired, B's (30 and 90 days) have not; no chunk is old enough to drop for both.
    const report = await app.server.deps.retention.retain(new Date(D + 20 * DAY));
    expect(report.droppedChunks).toBe(0);
    // kept, late (its late point is in a minute that had one), retained (purged has none left): stats and sketch, 2 hosts × 180 minutes and × 36 five minutes.
    expect(report.deleted['1m']).toBe(2 * 3 * 360);
    expect(report.deleted['5m']).toBe(2 * 3 * 72);
    const count = (tenantId: string, view: string) =>
      withTenant(app.server.deps.db.kysely, tenantId, async (trx) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(view)}`.execute(trx)).rows[0]!.n);
    for (const view of ['tenant_stats_1m', 'tenant_sketch_1m', 'tenant_stats_5m', 'tenant_sketch_5m']) expect(await count(a.tenantId, view)).toBe(0);
    expect(await count(b.tenantId, 'tenant_stats_1m')).toBe(4 * 360);
    expect(await count(b.tenantId, 'tenant_sketch_5m')).toBe(4 * 72);
    for (const metric of ['kept', 'retained']) {
      expect(await Promise.all(questions(metric).map((q) => ask(b.adminKey, q)))).toEqual(before[`${metric} ${b.tenantId}`]);
      // A's hourly and daily levels are kept (a year, five years), compressed as they were.
      expect((await Promise.all(questions(metric).slice(2).map((q) => ask(a.adminKey, q))))).toEqual(before[`${metric} ${a.tenantId}`]!.slice(2));
    }
  }, 120_000);
});
