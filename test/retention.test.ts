/**
 * Bounded storage: per-tenant retention removes exactly one tenant's expired rows and keeps the
 * rest (and the aggregates that outlive raw points answer older queries: downsampling);
 * compression keeps every answer identical and the compressed chunks out of the application
 * role's reach; purgeMetrics is ADMIN only, confirmed, and removes one tenant's points and
 * buckets, no one else's; storageStats reports sizes and the compression ratio.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../src/db/tables.js';
import { withTenant } from '../src/db/tenant.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { AuditLog, MetricPoints, RecordMetrics } from './operations.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Whole hours, so each point sits alone in its minute, hour and day buckets of the test. */
let NOW = NaN;
// The hour the tests start in (not when the module loads): every age below counts from it.
beforeAll(() => {
  NOW = Math.floor(Date.now() / HOUR) * HOUR;
});
const ago = (ms: number) => new Date(NOW - ms).toISOString();

const SetRetention = graphql(`
  mutation SetRetention($input: SetRetentionInput!) {
    setRetention(input: $input) { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults compressAfterHours }
  }
`);

const Retention = graphql(`
  query Retention {
    retention { rawDays minuteDays fiveMinuteDays hourDays dayDays defaults }
  }
`);

const Purge = graphql(`
  mutation PurgeMetrics($input: PurgeMetricsInput!, $confirm: Boolean!) {
    purgeMetrics(input: $input, confirm: $confirm) { deleted metrics olderThan }
  }
`);

const StorageStats = graphql(`
  query StorageStats {
    storageStats {
      raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio }
      aggregates { level rows bytes }
      totalBytes
    }
  }
`);

const Downsampled = graphql(`
  query Downsampled($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      series { metric tags buckets { start count sum min max last p50 } }
      metadata { source sources downsampled }
    }
  }
`);

/** One point per (metric, host) at each age. */
function points(metric: string, ages: number[], value: (age: number, host: string) => number) {
  return ages.flatMap((age) =>
    ['a', 'b'].map((host) => ({ id: randomUUID(), name: metric, type: 'GAUGE' as const, value: value(age, host), tags: { host }, timestamp: ago(age) })),
  );
}

const pointTimes = async (app: TestApp, key: string, metric: string) => {
  const page = await app.gql(MetricPoints, { input: { metric, limit: 1000 } }, key);
  expect(page.errors).toBeUndefined();
  return page.data!.metricPoints.points.map((p) => `${p.tags.host}@${(NOW - Date.parse(p.timestamp)) / DAY}d`).sort();
};

/** Every point of a metric, page by page: id, value, tags and time. */
async function everyPoint(app: TestApp, key: string, metric: string): Promise<string[]> {
  const all: string[] = [];
  let after: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof app.gql<any, any>>> = await app.gql(MetricPoints, { input: { metric, limit: 1000, after } }, key);
    all.push(...page.data!.metricPoints.points.map((p: { id: string; value: number; tags: Record<string, string>; timestamp: string }) => `${p.id} ${p.value} ${p.tags.host} ${p.timestamp}`));
    after = page.data!.metricPoints.nextCursor;
  } while (after);
  return all;
}

describe.each(ENGINES)('retention on %s', (engine) => {
  let app: TestApp;
  let db: Kysely<Database>;
  let timescale: boolean;
  const a = { tenantId: '', adminKey: '' };
  const b = { tenantId: '', adminKey: '' };
  const AGES = [40 * DAY, 10 * DAY, 3 * DAY];

  beforeAll(async () => {
    // No query cache: answers before and after a change must both come from the database.
    // Its own engine: whole chunks are dropped only when no other suite's tenant has points in them.
    app = await startApp(engine, { QUERY_CACHE_SIZE: '0' }, { ownEngine: true });
    db = app.server.deps.db.kysely;
    timescale = app.server.deps.db.timescale;
    Object.assign(a, await app.createTenant());
    Object.assign(b, await app.createTenant());
    for (const tenant of [a, b]) {
      const written = await app.gql(RecordMetrics, { metrics: points('cpu', AGES, (age, host) => age / DAY + (host === 'a' ? 0.5 : 0.25)) }, tenant.adminKey);
      expect(written.data?.recordMetrics.accepted).toBe(6);
    }
    // Late points (days old): taken into the aggregates by the late-points job before retention first runs.
    await app.gql(RecordMetrics, { metrics: points('old.gone', [20 * DAY], () => 5) }, a.adminKey);
    await app.takeInLatePoints();
  });
  afterAll(() => app?.close());

  test('retention settings: defaults, ADMIN changes them within bounds, null returns one to its default, and the change is audited', async () => {
    expect((await app.gql(Retention, {}, a.adminKey)).data!.retention).toEqual({
      rawDays: 30,
      minuteDays: 30,
      fiveMinuteDays: 90,
      hourDays: 365,
      dayDays: 1825,
      defaults: ['rawDays', 'minuteDays', 'fiveMinuteDays', 'hourDays', 'dayDays'],
    });
    const developer = await app.createKey(a.adminKey, 'DEVELOPER');
    expect(codes(await app.gql(SetRetention, { input: { rawDays: 10 } }, developer.key))).toEqual(['FORBIDDEN']);
    const tooShort = await app.gql(SetRetention, { input: { rawDays: 3, hourDays: 20 } }, a.adminKey);
    expect(codes(tooShort)).toEqual(['BAD_USER_INPUT']);
    expect(tooShort.errors![0]!.message).toBe('input.rawDays: rawDays must be 7-36500; input.hourDays: hourDays must be 36-36500');

    expect((await app.gql(SetRetention, { input: { rawDays: 7, minuteDays: 7, dayDays: 400 } }, a.adminKey)).data!.setRetention).toMatchObject({
      rawDays: 7,
      minuteDays: 7,
      dayDays: 400,
      defaults: ['fiveMinuteDays', 'hourDays'],
      compressAfterHours: timescale ? 48 : null,
    });
    const reset = await app.gql(SetRetention, { input: { dayDays: null } }, a.adminKey);
    expect(reset.data!.setRetention).toMatchObject({ rawDays: 7, minuteDays: 7, dayDays: 1825, defaults: ['fiveMinuteDays', 'hourDays', 'dayDays'] });
    const audited = await app.gql(AuditLog, { filter: { actions: ['RETENTION_CHANGED'] } }, a.adminKey);
    expect(audited.data!.auditLog.entries.map((e) => JSON.parse(e.details).after.dayDays)).toEqual([1825, 400]);
  });

  test('retention removes exactly the expired rows of each tenant and keeps the rest', async () => {
    expect(await pointTimes(app, a.adminKey, 'cpu')).toEqual(['a@10d', 'a@3d', 'a@40d', 'b@10d', 'b@3d', 'b@40d']);
    const report = await app.server.deps.retention.retain(new Date(NOW));
    // A keeps raw points 7 days, B 30 (the default): 40 days is gone for both, 10 days for A only.
    expect(await pointTimes(app, a.adminKey, 'cpu')).toEqual(['a@3d', 'b@3d']);
    expect(await pointTimes(app, b.adminKey, 'cpu')).toEqual(['a@10d', 'a@3d', 'b@10d', 'b@3d']);
    if (timescale) {
      // 40 days: the whole chunk dropped (every tenant's retention has passed); 10 days: A's rows deleted.
      expect(report.droppedChunks).toBeGreaterThanOrEqual(1);
      expect(report.deleted.raw).toBe(4); // cpu and old.gone, both hosts
      // A keeps 1 minute buckets 7 days: its 10 day old ones are gone; B's are kept.
      const minutes = async (tenantId: string) =>
        withTenant(db, tenantId, async (trx) => (await sql<{ n: number }>`select count(*)::int as n from tenant_stats_1m where bucket < ${ago(7 * DAY)}::timestamptz`.execute(trx)).rows[0]!.n);
      expect(await minutes(a.tenantId)).toBe(0);
      expect(await minutes(b.tenantId)).toBe(2);
    } else {
      expect(report.deleted.raw).toBe(8); // cpu at 10 and 40 days, old.gone at 20 days, both hosts
    }
    // A second run finds nothing more.
    const again = await app.server.deps.retention.retain(new Date(NOW));
    expect(again.deleted).toEqual({ raw: 0, '1m': 0, '5m': 0, '1h': 0, '1d': 0 });
  });

  test('a query older than the raw retention is answered from the aggregates kept, and says so', async () => {
    const input = { metrics: ['cpu'], from: ago(11 * DAY), to: ago(9 * DAY), granularity: 'HOUR' as const, groupBy: ['host'] };
    const answer = await app.gql(Downsampled, { input }, a.adminKey);
    expect(answer.errors).toBeUndefined();
    if (!timescale) {
      // Without TimescaleDB there are no aggregates: expired points are simply gone.
      expect(answer.data!.metricAggregates).toEqual({ series: [], metadata: { source: 'raw', sources: ['raw'], downsampled: false } });
      return;
    }
    expect(answer.data!.metricAggregates.metadata).toEqual({ source: 'group_stats_1h+group_sketch_1h', sources: ['group_stats_1h', 'group_sketch_1h'], downsampled: true });
    expect(answer.data!.metricAggregates.series.map((s) => [s.tags.host, s.buckets])).toEqual([
      ['a', [{ start: ago(10 * DAY), count: 1, sum: 10.5, min: 10.5, max: 10.5, last: 10.5, p50: 10.5 }]],
      ['b', [{ start: ago(10 * DAY), count: 1, sum: 10.25, min: 10.25, max: 10.25, last: 10.25, p50: 10.25 }]],
    ]);
    // B still has its raw points there: its answer reads them.
    const forB = await app.gql(Downsampled, { input: { ...input, granularity: 'MINUTE' } }, b.adminKey);
    expect(forB.data!.metricAggregates.metadata).toMatchObject({ downsampled: false, sources: expect.arrayContaining(['stats_1m']) });
  });

  test('purgeMetrics: FORBIDDEN to a DEVELOPER, refused without confirm, and an ADMIN purges only their own tenant', async () => {
    for (const tenant of [a, b]) {
      await app.gql(RecordMetrics, { metrics: [...points('gone', [2 * DAY, 1 * DAY], () => 1), ...points('kept', [2 * DAY], () => 2)] }, tenant.adminKey);
    }
    const input = { metrics: ['gone'], olderThan: ago(1.5 * DAY) };
    const developer = await app.createKey(a.adminKey, 'DEVELOPER');
    expect(codes(await app.gql(Purge, { input, confirm: true }, developer.key))).toEqual(['FORBIDDEN']);
    const unconfirmed = await app.gql(Purge, { input, confirm: false }, a.adminKey);
    expect(codes(unconfirmed)).toEqual(['BAD_USER_INPUT']);
    expect(unconfirmed.errors![0]!.message).toMatch(/confirm: true/);
    expect(codes(await app.gql(Purge, { input: { ...input, metrics: ['never.recorded'] }, confirm: true }, a.adminKey))).toEqual(['NOT_FOUND']);

    const purged = await app.gql(Purge, { input, confirm: true }, a.adminKey);
    expect(purged.data!.purgeMetrics).toEqual({ deleted: 2, metrics: ['gone'], olderThan: input.olderThan });
    expect(await pointTimes(app, a.adminKey, 'gone')).toEqual(['a@1d', 'b@1d']);
    expect(await pointTimes(app, a.adminKey, 'kept')).toEqual(['a@2d', 'b@2d']);
    expect(await pointTimes(app, b.adminKey, 'gone')).toEqual(['a@1d', 'a@2d', 'b@1d', 'b@2d']);

    // The aggregate buckets that held them are gone too; the other tenant's stay.
    const hourly = { metrics: ['gone'], from: ago(3 * DAY), to: ago(0), granularity: 'HOUR' as const };
    const counts = async (key: string) => (await app.gql(Downsampled, { input: hourly }, key)).data!.metricAggregates.series.flatMap((s) => s.buckets.map((x) => [x.start, x.count]));
    expect(await counts(a.adminKey)).toEqual([[ago(DAY), 2]]);
    expect(await counts(b.adminKey)).toEqual([
      [ago(2 * DAY), 2],
      [ago(DAY), 2],
    ]);
    if (timescale) {
      const materialised = await withTenant(db, a.tenantId, async (trx) =>
        (await sql<{ n: number }>`select count(*)::int as n from tenant_stats_1h h join series s on s.id = h.series_id join metrics m on m.id = s.metric_id
          where m.name = 'gone' and h.bucket < ${input.olderThan}::timestamptz`.execute(trx)).rows[0]!.n,
      );
      expect(materialised).toBe(0);
    }
    const audited = await app.gql(AuditLog, { filter: { actions: ['METRICS_PURGED'] } }, a.adminKey);
    expect(JSON.parse(audited.data!.auditLog.entries[0]!.details)).toMatchObject({ metrics: ['gone'], olderThan: input.olderThan, deleted: 2 });
  });

  test('purge below the refresh floor deletes the buckets directly: hourly data kept after raw is gone goes too', async () => {
    if (!timescale) return;
    // A keeps raw points 7 days: retention (above) deleted these, and kept their hourly buckets.
    expect(await pointTimes(app, a.adminKey, 'old.gone')).toEqual([]);
    const hourly = { metrics: ['old.gone'], from: ago(21 * DAY), to: ago(19 * DAY), granularity: 'HOUR' as const };
    const before = await app.gql(Downsampled, { input: hourly }, a.adminKey);
    expect(before.data!.metricAggregates.series.map((s) => s.buckets.map((x) => x.count))).toEqual([[2]]);
    const purged = await app.gql(Purge, { input: { metrics: ['old.gone'], olderThan: ago(0) }, confirm: true }, a.adminKey);
    expect(purged.data!.purgeMetrics.deleted).toBe(0); // no raw point left to delete…
    const after = await app.gql(Downsampled, { input: hourly }, a.adminKey);
    expect(after.data!.metricAggregates.series).toEqual([]); // …but its buckets are gone
  });

  test('compression keeps every answer identical; compressed chunks are out of the application role’s reach', async () => {
    if (!timescale) return;
    // A point a minute per host for 36 hours, 3 to 4.5 days ago: chunks old enough to compress.
    const ages = Array.from({ length: 36 * 60 }, (_, i) => 3 * DAY + i * 60_000 + 7_000);
    // Host b a second older than host a: the answers merge both hosts, and `last` of two points
    // at the very same time has no defined order (it flipped between two identical reads).
    const all = points('squeezed', ages, (age, host) => Math.round(500 + Math.sin(age / HOUR) * 400) / 10 + (host === 'a' ? 100 : 0)).map((p) =>
      p.tags.host === 'b' ? { ...p, timestamp: new Date(Date.parse(p.timestamp) - 1_000).toISOString() } : p,
    );
    for (let i = 0; i < all.length; i += 500) {
      expect((await app.gql(RecordMetrics, { metrics: all.slice(i, i + 500) }, b.adminKey)).data?.recordMetrics.accepted).toBe(Math.min(500, all.length - i));
    }
    const queries = [
      { metrics: ['squeezed'], from: ago(6 * DAY), to: ago(0), granularity: 'HOUR' as const, groupBy: ['host'] },
      { metrics: ['squeezed'], from: ago(5 * DAY + 13 * 60_000), to: ago(2 * DAY), granularity: 'MINUTE' as const },
      { metrics: ['squeezed', 'cpu'], from: ago(6 * DAY), to: ago(0), granularity: 'DAY' as const, filters: [{ key: 'host', equals: 'a' }] },
    ];
    // Sums to 12 significant digits: a sum adds its rows in the order the engine reads them,
    // and a compressed chunk hands them over in another order (the last bits of a float sum).
    const rounded = (series: Array<{ buckets: Array<{ sum?: number | null }> }>) =>
      series.map((s) => ({ ...s, buckets: s.buckets.map((x) => ({ ...x, sum: x.sum == null ? x.sum : Number(x.sum.toPrecision(12)) })) }));
    const ask = async () => ({
      aggregates: await Promise.all(queries.map(async (input) => rounded((await app.gql(Downsampled, { input }, b.adminKey)).data!.metricAggregates.series))),
      points: await everyPoint(app, b.adminKey, 'squeezed'),
    });
    const before = await ask();
    expect(before.points).toHaveLength(all.length);

    const compressed = await app.server.deps.retention.compress(new Date(NOW));
    expect(compressed).toBeGreaterThanOrEqual(2);
    // Identical, except that a sum of doubles may differ in its last bits when compressed chunks
    // hand the rows over in another order (10446.199999999995 vs …999: seen beside a CPU hog).
    const sumsClose = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(sumsClose)
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'sum' && typeof v === 'number' ? expect.closeTo(v, 6) : sumsClose(v)]))
          : value;
    expect(await ask()).toEqual(sumsClose(before));

    const stats = (await app.gql(StorageStats, {}, b.adminKey)).data!.storageStats;
    expect(stats.raw.compressedRows).toBeGreaterThanOrEqual(all.length);
    expect(stats.raw.compressionRatio).toBeGreaterThan(1);
    expect(stats.aggregates.map((x) => x.level)).toEqual(['1m', '5m', '1h', '1d']);
    expect(stats.totalBytes).toBeGreaterThan(stats.raw.bytes);

    const { rows } = await sql<{ name: string }>`
      select format('%I.%I', cc.schema_name, cc.table_name) as name from _timescaledb_catalog.chunk ch
      join _timescaledb_catalog.chunk cc on cc.id = ch.compressed_chunk_id`.execute(db);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const { name } of rows) {
      await expect(withTenant(db, b.tenantId, (trx) => sql`select * from ${sql.raw(name)}`.execute(trx))).rejects.toThrow(/permission denied for (schema|table)/);
    }
    // A late point into a compressed chunk goes in, and reads back.
    const late = await app.gql(RecordMetrics, { metrics: [{ name: 'squeezed', type: 'GAUGE', value: 1, tags: { host: 'c' }, timestamp: ago(4 * DAY) }] }, b.adminKey);
    expect(late.data!.recordMetrics.accepted).toBe(1);
    expect((await everyPoint(app, b.adminKey, 'squeezed')).filter((p) => p.includes(' c '))).toEqual([expect.stringContaining(` 1 c ${ago(4 * DAY)}`)]);
  }, 120_000); // 4 320 points written, 6 queries, compression of the engine's raw chunks: 23 s alone beside a CPU hog, 31 s in a full run

  test('storageStats is ADMIN only and counts only the caller’s tenant', async () => {
    const viewer = await app.createKey(a.adminKey, 'VIEWER');
    expect(codes(await app.gql(StorageStats, {}, viewer.key))).toEqual(['FORBIDDEN']);
    const fresh = await app.createTenant();
    const empty = (await app.gql(StorageStats, {}, fresh.adminKey)).data!.storageStats;
    expect(empty.raw).toEqual({ rows: 0, bytes: 0, compressedRows: 0, compressedBytes: 0, uncompressedBytes: 0, compressionRatio: null });
    expect(empty.aggregates.every((x) => x.rows === 0 && x.bytes === 0)).toBe(true);
    const mine = (await app.gql(StorageStats, {}, a.adminKey)).data!.storageStats;
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from points where tenant_id = ${a.tenantId}`.execute(db);
    expect(mine.raw.rows).toBe(rows[0]!.n);
    expect(mine.raw.bytes).toBeGreaterThan(0);
  });

  test('the retention job runs on its schedule once per tick and is logged in job_runs', async () => {
    const tick = new Date(NOW + 7 * 60_000);
    const run = await app.server.deps.scheduler.run('retention', tick, async (t) => {
      const report = await app.server.deps.retention.retain(t);
      return report.deleted.raw;
    });
    expect(run).toMatchObject({ job: 'retention', status: 'COMPLETED' });
    expect(await app.server.deps.scheduler.run('retention', tick, async () => 0)).toBeNull();
  });

  test('retention deletes finished runs older than JOB_RUNS_RETENTION_DAYS (30) from job_runs, and keeps newer ones and any still running', async () => {
    const run = (job: string, ageDays: number, status: 'COMPLETED' | 'FAILED' | 'RUNNING', tenantId: string | null) => ({
      job,
      tick: new Date(NOW - ageDays * DAY),
      started_at: new Date(NOW - ageDays * DAY),
      tenant_id: tenantId,
      status,
      instance: 'retention-test',
    });
    await db
      .insertInto('job_runs')
      .values([
        run('old.completed', 30.5, 'COMPLETED', null),
        run('old.failed', 45, 'FAILED', a.tenantId),
        run('old.running', 45, 'RUNNING', null),
        run('recent.completed', 29.5, 'COMPLETED', a.tenantId),
      ])
      .execute();
    const report = await app.server.deps.retention.retain(new Date(NOW));
    expect(report.jobRuns).toBe(2);
    const left = await db.selectFrom('job_runs').select('job').where('instance', '=', 'retention-test').orderBy('job').execute();
    expect(left.map((r) => r.job)).toEqual(['old.running', 'recent.completed']);
  });
});
