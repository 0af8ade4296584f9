/**
 * Tenants are isolated in the database (DESIGN.md §2). Tenant A writes; tenant B then reads
 * every query path and sees nothing of A. Straight at the database, as the application role
 * with B's tenant set, B can neither read A's rows nor write rows for A, and the points
 * hypertable, its chunks and the continuous aggregates refuse it outright. Under 50
 * concurrent requests of both tenants on the real pool, no answer crosses.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../src/db/tables.js';
import { APP_ROLE, withTenant } from '../src/db/tenant.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { ApiKeys, MetricPoints, RecordMetric, RevokeApiKey, Tenant } from './operations.js';

/** The tenant-wide queries, and the raw points of the metric tenant A wrote. */
const EveryQuery = graphql(`
  query IsolationEveryQuery {
    tenant { id name }
    apiKeys { id }
    metrics { name type }
    metricPoints(input: { metric: "secret.metric" }) { points { id value tags } nextCursor }
    tagged: metricPoints(input: { metric: "secret.metric", tags: { customer: "acme" } }) { points { id } }
  }
`);

/** The queries about one metric, one document each: an error in one must not hide another. */
const AboutMetric = {
  aggregates: graphql(`
    query IsolationAggregates($metric: String!) {
      metricAggregates(input: { metrics: [$metric], from: "2026-01-01T00:00:00Z", to: "2026-01-01T01:00:00Z", granularity: MINUTE }) {
        series { metric tags buckets { count sum } }
      }
    }
  `),
  latestValue: graphql(`
    query IsolationLatestValue($metric: String!) {
      latestValue(metric: $metric) { value timestamp }
    }
  `),
  tagKeys: graphql(`
    query IsolationTagKeys($metric: String!) {
      tagKeys(metric: $metric)
    }
  `),
  tagValues: graphql(`
    query IsolationTagValues($metric: String!) {
      tagValues(metric: $metric, key: "customer")
    }
  `),
};

const ConcurrentRead = graphql(`
  query IsolationConcurrentRead {
    tenant { id }
    metrics { name }
    metricPoints(input: { metric: "concurrent", limit: 1000 }) { points { value tags } }
  }
`);

describe.each(ENGINES)('tenant isolation on %s', (engine) => {
  let app: TestApp;
  let db: Kysely<Database>;
  const a = { tenantId: '', adminKey: '', viewerKeyId: '', pointIds: [] as string[] };
  const b = { tenantId: '', adminKey: '' };

  beforeAll(async () => {
    app = await startApp(engine);
    db = app.server.deps.db.kysely;
    Object.assign(a, await app.createTenant('tenant-a'));
    Object.assign(b, await app.createTenant('tenant-b'));
    a.viewerKeyId = (await app.createKey(a.adminKey, 'VIEWER')).id;
    for (const [value, second] of [
      [42, '00'],
      [43, '30'],
    ] as const) {
      const recorded = await app.gql(
        RecordMetric,
        { input: { id: randomUUID(), name: 'secret.metric', value, type: 'COUNTER', unit: 'requests', tags: { customer: 'acme' }, timestamp: `2026-01-01T00:00:${second}.000Z` } },
        a.adminKey,
      );
      a.pointIds.push(recorded.data!.recordMetric.id);
    }
    // Points older than the tenant's raw retention (30 days) are read from the aggregate levels,
    // which take late points in through the late-points job.
    await app.takeInLatePoints();
  });
  afterAll(() => app?.close());

  describe('through the API', () => {
    test('tenant A sees its own data through every query (the control)', async () => {
      const seen = await app.gql(EveryQuery, {}, a.adminKey);
      expect(seen.errors).toBeUndefined();
      expect(seen.data).toMatchObject({
        tenant: { id: a.tenantId, name: 'tenant-a' },
        metrics: [{ name: 'secret.metric', type: 'COUNTER' }],
        metricPoints: { points: [{ id: a.pointIds[1], value: 43, tags: { customer: 'acme' } }, { id: a.pointIds[0], value: 42, tags: { customer: 'acme' } }], nextCursor: null },
        tagged: { points: [{ id: a.pointIds[1] }, { id: a.pointIds[0] }] },
      });
      expect(seen.data!.apiKeys).toHaveLength(2);
      const metric = 'secret.metric';
      expect(await app.gql(AboutMetric.aggregates, { metric }, a.adminKey)).toEqual({ data: { metricAggregates: { series: [{ metric, tags: {}, buckets: [{ count: 2, sum: 85 }] }] } } });
      expect(await app.gql(AboutMetric.latestValue, { metric }, a.adminKey)).toEqual({ data: { latestValue: { value: 85, timestamp: '2026-01-01T00:00:30.000Z' } } });
      expect(await app.gql(AboutMetric.tagKeys, { metric }, a.adminKey)).toEqual({ data: { tagKeys: ['customer'] } });
      expect(await app.gql(AboutMetric.tagValues, { metric }, a.adminKey)).toEqual({ data: { tagValues: ['acme'] } });
    });

    test('tenant B sees nothing of A through every query', async () => {
      const [bKey] = (await app.gql(ApiKeys, {}, b.adminKey)).data!.apiKeys;
      const seen = await app.gql(EveryQuery, {}, b.adminKey);
      expect(seen).toEqual({
        data: {
          tenant: { id: b.tenantId, name: 'tenant-b' },
          apiKeys: [{ id: bKey!.id }],
          metrics: [],
          metricPoints: { points: [], nextCursor: null },
          tagged: { points: [] },
        },
      });
    });

    test.each(Object.keys(AboutMetric) as Array<keyof typeof AboutMetric>)("%s about A's metric answers B exactly as about a metric nobody wrote", async (query) => {
      const document = AboutMetric[query] as (typeof AboutMetric)['tagKeys'];
      const secret = JSON.stringify(await app.gql(document, { metric: 'secret.metric' }, b.adminKey));
      const never = JSON.stringify(await app.gql(document, { metric: 'never.written' }, b.adminKey));
      expect(secret.replaceAll('secret.metric', 'never.written')).toBe(never);
      expect(secret).not.toMatch(/acme|customer|42|43|85/);
    });

    test("a cursor taken from A's pages shows B nothing", async () => {
      const page = await app.gql(MetricPoints, { input: { metric: 'secret.metric', limit: 1 } }, a.adminKey);
      const after = page.data!.metricPoints.nextCursor;
      expect(after).not.toBeNull();
      expect(await app.gql(MetricPoints, { input: { metric: 'secret.metric', after } }, b.adminKey)).toMatchObject({ data: { metricPoints: { points: [], nextCursor: null } } });
    });

    test("B reusing A's client id and metric name stores B's own point and leaves A's alone", async () => {
      const input = { id: a.pointIds[0]!, name: 'secret.metric', value: -7, type: 'GAUGE' as const, timestamp: '2026-01-01T00:00:10.000Z' };
      const recorded = await app.gql(RecordMetric, { input }, b.adminKey);
      // Not a duplicate: telling B that A already used this id would leak it. Not a type
      // conflict either: A's secret.metric is a COUNTER, B's is B's own.
      expect(recorded.data!.recordMetric).toMatchObject({ id: a.pointIds[0], duplicate: false, point: { type: 'GAUGE', value: -7 } });
      const bPoints = await app.gql(MetricPoints, { input: { metric: 'secret.metric' } }, b.adminKey);
      expect(bPoints.data!.metricPoints.points.map((p) => [p.id, p.value, p.type])).toEqual([[a.pointIds[0], -7, 'GAUGE']]);
      const aPoints = await app.gql(MetricPoints, { input: { metric: 'secret.metric' } }, a.adminKey);
      expect(aPoints.data!.metricPoints.points.map((p) => [p.id, p.value, p.type])).toEqual([
        [a.pointIds[1], 43, 'COUNTER'],
        [a.pointIds[0], 42, 'COUNTER'],
      ]);
    });

    test("B's admin cannot revoke A's key: NOT_FOUND, and the key still works", async () => {
      const viewer = await app.createKey(a.adminKey, 'VIEWER');
      const revoked = await app.gql(RevokeApiKey, { id: viewer.id }, b.adminKey);
      expect(codes(revoked)).toEqual(['NOT_FOUND']);
      expect((await app.gql(Tenant, {}, viewer.key)).data).toEqual({ tenant: { id: a.tenantId, name: 'tenant-a' } });
    });
  });

  describe('in the database, as the application role with tenant B set', () => {
    const asB = <T>(work: Parameters<typeof withTenant<T>>[2]) => withTenant(db, b.tenantId, work);
    /** A's first series, read by the connecting (owner) role, which is not bound by the policies. */
    const aSeriesId = async () => (await db.selectFrom('series').select('id').where('tenant_id', '=', a.tenantId).executeTakeFirstOrThrow()).id;

    test('runs as a role that owns nothing, is not superuser and has no BYPASSRLS', async () => {
      const facts = await asB(async (trx) => {
        const { rows } = await sql<{ user: string; super: boolean; bypass: boolean; owned: number; tenant: string }>`
          select current_user as user, r.rolsuper as super, r.rolbypassrls as bypass,
                 (select count(*)::int from pg_class where relowner = r.oid) as owned,
                 current_setting('app.tenant_id') as tenant
          from pg_roles r where r.rolname = current_user`.execute(trx);
        return rows[0];
      });
      expect(facts).toEqual({ user: APP_ROLE, super: false, bypass: false, owned: 0, tenant: b.tenantId });
    });

    test("reads no row of A's from any table it may read", async () => {
      const seen = await asB(async (trx) => ({
        tenants: await trx.selectFrom('tenants').select('id').execute(),
        apiKeys: await trx.selectFrom('api_keys').select('tenant_id').execute(),
        metrics: await trx.selectFrom('metrics').select('tenant_id').execute(),
        series: await trx.selectFrom('series').select('tenant_id').execute(),
        pointIds: await trx.selectFrom('point_ids').select('tenant_id').execute(),
        points: await trx.selectFrom('tenant_points').select('tenant_id').execute(),
      }));
      expect(seen.tenants).toEqual([{ id: b.tenantId }]);
      for (const rows of [seen.apiKeys, seen.metrics, seen.series, seen.pointIds, seen.points]) {
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.filter((row) => row.tenant_id !== b.tenantId)).toEqual([]);
      }
      // The owner role sees A's rows in the same tables: they exist, B just cannot see them.
      const owned = await sql<{ points: number; ids: number }>`
        select (select count(*)::int from points where tenant_id = ${a.tenantId}) as points,
               (select count(*)::int from point_ids where tenant_id = ${a.tenantId}) as ids`.execute(db);
      expect(owned.rows).toEqual([{ points: 2, ids: 2 }]);
    });

    const point = (tenantId: string, seriesId: number) => ({ tenant_id: tenantId, series_id: seriesId, time: '2026-01-01T00:00:05Z', value: 666, id: randomUUID() });

    test("cannot insert a point for A: the write view's check option refuses it", async () => {
      const seriesId = await aSeriesId();
      await expect(asB((trx) => trx.insertInto('tenant_point_writes').values(point(a.tenantId, seriesId)).execute())).rejects.toThrow(
        'new row violates check option for view "tenant_point_writes"',
      );
    });

    test("cannot hang its own point on A's series, or on a series that does not exist: the check option refuses both", async () => {
      const seriesId = await aSeriesId();
      const ownSeriesId = (await db.selectFrom('series').select('id').where('tenant_id', '=', b.tenantId).executeTakeFirstOrThrow()).id;
      for (const id of [seriesId, 2 ** 40]) {
        const refused = asB((trx) => trx.insertInto('tenant_point_writes').values(point(b.tenantId, id)).execute());
        await expect(refused).rejects.toThrow('new row violates check option for view "tenant_point_writes"');
        await expect(refused).rejects.toMatchObject({ code: '44000' });
      }
      // The same insert on its own series is taken: the check refused the series, not the row.
      await asB((trx) => trx.insertInto('tenant_point_writes').values(point(b.tenantId, ownSeriesId)).execute());
      const owned = await sql<{ points: number }>`select count(*)::int as points from points where series_id = ${seriesId} and tenant_id = ${b.tenantId}`.execute(db);
      expect(owned.rows).toEqual([{ points: 0 }]);
    });

    test('cannot write through the read view, nor read through the write view', async () => {
      const seriesId = await aSeriesId();
      const { tenant_id, series_id, time, value, id } = point(b.tenantId, seriesId);
      await expect(asB((trx) => sql`insert into tenant_points (tenant_id, series_id, time, value, id) values (${tenant_id}, ${series_id}, ${time}, ${value}, ${id})`.execute(trx))).rejects.toThrow(
        'permission denied for view tenant_points',
      );
      await expect(asB((trx) => sql`select * from tenant_point_writes`.execute(trx))).rejects.toThrow('permission denied for view tenant_point_writes');
    });

    test.each([
      ['metrics', (trx: Kysely<Database>, tenantId: string) => trx.insertInto('metrics').values({ tenant_id: tenantId, name: 'planted', type: 'GAUGE', unit: null }).execute()],
      ['api_keys', (trx: Kysely<Database>, tenantId: string) => trx.insertInto('api_keys').values({ tenant_id: tenantId, name: 'backdoor', role: 'ADMIN', prefix: 'mg_x', key_hash: randomUUID() }).execute()],
      ['point_ids', (trx: Kysely<Database>, tenantId: string) => trx.insertInto('point_ids').values({ tenant_id: tenantId, id: randomUUID() }).execute()],
      ['tenants', (trx: Kysely<Database>) => trx.insertInto('tenants').values({ id: randomUUID(), name: 'squatter' }).execute()],
    ])('cannot insert into %s for another tenant: row-level security refuses it', async (table, insert) => {
      await expect(asB((trx) => insert(trx, a.tenantId))).rejects.toThrow(`new row violates row-level security policy for table "${table}"`);
    });

    test("cannot change or delete points, even its own", async () => {
      for (const view of ['tenant_points', 'tenant_point_writes']) {
        await expect(asB((trx) => sql`update ${sql.table(view)} set value = 0`.execute(trx))).rejects.toThrow(`permission denied for view ${view}`);
        await expect(asB((trx) => sql`delete from ${sql.table(view)}`.execute(trx))).rejects.toThrow(`permission denied for view ${view}`);
      }
    });

    test('is refused the points table itself', async () => {
      await expect(asB((trx) => sql`select * from points`.execute(trx))).rejects.toThrow('permission denied for table points');
      await expect(asB((trx) => sql`insert into points (tenant_id, series_id, time, value, id) values (${a.tenantId}, 1, now(), 1, gen_random_uuid())`.execute(trx))).rejects.toThrow(
        'permission denied for table points',
      );
    });

    test("is refused every chunk of the points hypertable and every continuous aggregate (TimescaleDB)", async () => {
      const timescale = app.server.deps.db.timescale;
      expect(timescale).toBe(engine === 'embedded');
      const relations: string[] = [];
      if (timescale) {
        const chunks = await sql<{ chunk: string }>`select show_chunks('points')::text as chunk`.execute(db);
        const aggregates = await sql<{ view: string; materialized: string }>`
          select format('%I.%I', view_schema, view_name) as view,
                 format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) as materialized
          from timescaledb_information.continuous_aggregates`.execute(db);
        expect(chunks.rows.length).toBeGreaterThan(0);
        expect(aggregates.rows.length).toBeGreaterThan(0);
        relations.push(...chunks.rows.map((r) => r.chunk), ...aggregates.rows.flatMap((r) => [r.view, r.materialized]));
      }
      for (const relation of relations) {
        await expect(asB((trx) => sql`select * from ${sql.raw(relation)}`.execute(trx)), relation).rejects.toThrow(/permission denied for (schema|table|view|materialized view)/);
      }
      // The owner reads A's rows in the first chunk: there was something to refuse.
      if (relations[0]) expect((await sql`select * from ${sql.raw(relations[0])}`.execute(db)).rows.length).toBeGreaterThan(0);
    });

    /**
     * For each aggregate: A's materialised rows exist (the owner reads the aggregate itself), A
     * reads them all through its tenant_* view, and B reads exactly its own rows there (B wrote
     * a point too), none of whose `column` is one of A's.
     */
    async function viewsShowEachTenantItsOwn(aggregates: string[], column: 'series_id' | 'metric_id', ofA: Set<number>) {
      await app.server.deps.aggregates.refreshAll();
      for (const aggregate of aggregates) {
        const owned = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(aggregate)} where tenant_id = ${a.tenantId}`.execute(db);
        expect(owned.rows[0]!.n, aggregate).toBeGreaterThan(0);
        const asA = await withTenant(db, a.tenantId, (trx) => sql`select * from ${sql.table(`tenant_${aggregate}`)}`.execute(trx));
        expect(asA.rows.length, `tenant_${aggregate} as A`).toBe(owned.rows[0]!.n);
        const ofB = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(aggregate)} where tenant_id = ${b.tenantId}`.execute(db);
        const seen = await asB((trx) => sql<Record<string, string>>`select * from ${sql.table(`tenant_${aggregate}`)}`.execute(trx));
        expect(seen.rows.length, `tenant_${aggregate} as B`).toBe(ofB.rows[0]!.n);
        expect(seen.rows.filter((row) => ofA.has(Number(row[column]))), `tenant_${aggregate} as B`).toEqual([]);
      }
    }

    test("reads none of A's stats or sketches through any tenant_stats_* or tenant_sketch_* view, while A reads its own (TimescaleDB)", async () => {
      if (!app.server.deps.db.timescale) return;
      const aSeries = new Set((await db.selectFrom('series').select('id').where('tenant_id', '=', a.tenantId).execute()).map((r) => Number(r.id)));
      await viewsShowEachTenantItsOwn(['1m', '5m', '1h', '1d'].flatMap((level) => [`stats_${level}`, `sketch_${level}`]), 'series_id', aSeries);
    });

    test("reads none of A's tag-group aggregates through any tenant_group_* view, while A reads its own (TimescaleDB)", async () => {
      if (!app.server.deps.db.timescale) return;
      const aMetrics = new Set((await db.selectFrom('metrics').select('id').where('tenant_id', '=', a.tenantId).execute()).map((r) => Number(r.id)));
      await viewsShowEachTenantItsOwn(['1h', '1d'].flatMap((level) => [`group_stats_${level}`, `group_sketch_${level}`]), 'metric_id', aMetrics);
      // The series' tag rows behind them are the owner's alone.
      await expect(asB((trx) => sql`select * from series_groups limit 1`.execute(trx))).rejects.toThrow(/permission denied/);
    });

    test('with no tenant set, the application role sees no row at all', async () => {
      const seen = await db.transaction().execute(async (trx) => {
        await sql`select set_config('role', ${APP_ROLE}, true)`.execute(trx);
        return {
          tenants: await trx.selectFrom('tenants').select('id').execute(),
          apiKeys: await trx.selectFrom('api_keys').select('id').execute(),
          metrics: await trx.selectFrom('metrics').select('id').execute(),
          points: await trx.selectFrom('tenant_points').select('id').execute(),
        };
      });
      expect(seen).toEqual({ tenants: [], apiKeys: [], metrics: [], points: [] });
    });
  });

  test('50 concurrent requests alternating two tenants never cross', async () => {
    const keys = [a.adminKey, b.adminKey];
    const tenantIds = [a.tenantId, b.tenantId];
    // Writes and reads of both tenants at once: request i belongs to tenant i % 2.
    const burst = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 4 < 2
          ? app.gql(RecordMetric, { input: { name: 'concurrent', value: i, type: 'GAUGE', tags: { request: String(i) }, timestamp: '2026-01-01T00:00:00.000Z' } }, keys[i % 2])
          : app.gql(ConcurrentRead, {}, keys[i % 2]),
      ),
    );
    burst.forEach((response, i) => {
      expect(response.errors, `request ${i}`).toBeUndefined();
      const data = response.data!;
      if ('recordMetric' in data) expect(data.recordMetric.point.value).toBe(i);
      else {
        expect(data.tenant.id).toBe(tenantIds[i % 2]);
        expect(data.metricPoints.points.filter((p) => Number(p.tags.request) % 2 !== i % 2)).toEqual([]);
      }
    });
    if (engine === 'postgres') expect(app.server.deps.db.pool!.totalCount).toBeGreaterThan(1);

    // Afterwards, 50 concurrent reads: each tenant has exactly its own 13 or 12 writes.
    const written = (parity: number) => Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 4 < 2 && i % 2 === parity);
    const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => app.gql(ConcurrentRead, {}, keys[i % 2])));
    reads.forEach((response, i) => {
      expect(response.data!.tenant.id).toBe(tenantIds[i % 2]);
      expect(response.data!.metricPoints.points.map((p) => p.value).sort((x, y) => x - y)).toEqual(written(i % 2));
    });
  }, 120_000); // 50 requests queued on the one embedded connection: 16–24 s beside a CPU hog in a full run
});
