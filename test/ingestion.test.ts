/**
 * Recording points and reading them back: visibility, idempotency, the raw read's
 * pagination and filters, and the metric listing. Each test owns a tenant, so none sees
 * another's points.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ENGINES, startApp, type GraphQLResponse, type TestApp } from './harness.js';
import { MetricPoints, Metrics, RecordMetric, RecordMetrics } from './operations.js';
import type { MetricInput, MetricPointsQuery } from './gql/graphql.js';

describe.each(ENGINES)('ingestion on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(engine);
  });
  afterAll(() => app?.close());

  const newTenantKey = async () => (await app.createTenant()).adminKey;

  test('a recorded point is readable as soon as the mutation returns', async () => {
    const key = await newTenantKey();
    const recorded = await app.gql(RecordMetric, { input: { name: 'cpu.usage', value: 42.5, type: 'GAUGE', tags: { host: 'a' }, unit: 'percent', timestamp: '2026-01-01T00:00:00.000Z' } }, key);
    expect(recorded.errors).toBeUndefined();
    const id = recorded.data!.recordMetric.id;
    const point = { id, metric: 'cpu.usage', type: 'GAUGE', unit: 'percent', tags: { host: 'a' }, timestamp: '2026-01-01T00:00:00.000Z', value: 42.5 };
    expect(recorded.data).toEqual({ recordMetric: { id, duplicate: false, point } });

    const points = await app.gql(MetricPoints, { input: { metric: 'cpu.usage' } }, key);
    expect(points).toEqual({ data: { metricPoints: { points: [point], nextCursor: null } } });
  });

  test('a point without a timestamp is stamped with the server time', async () => {
    const key = await newTenantKey();
    const before = Date.now();
    const recorded = await app.gql(RecordMetric, { input: { name: 'now.stamped', value: 1, type: 'GAUGE' } }, key);
    const stamped = Date.parse(recorded.data!.recordMetric.point.timestamp);
    expect(stamped).toBeGreaterThanOrEqual(before - 1_000);
    expect(stamped).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(recorded.data!.recordMetric.point.tags).toEqual({});
  });

  test('a batch stores every item in one call, in input order', async () => {
    const key = await newTenantKey();
    const metrics: MetricInput[] = [1, 2, 3].map((i) => ({ id: randomUUID(), name: 'req.count', value: i, type: 'COUNTER', tags: { route: `/r${i}` }, timestamp: `2026-01-01T00:00:0${i}.000Z` }));
    const result = await app.gql(RecordMetrics, { metrics }, key);
    expect(result).toEqual({ data: { recordMetrics: { accepted: 3, duplicates: 0, ids: metrics.map((m) => m.id), failed: [] } } });

    const points = await app.gql(MetricPoints, { input: { metric: 'req.count' } }, key);
    expect(points.data!.metricPoints.points.map((p) => [p.id, p.value, p.tags])).toEqual([
      [metrics[2]!.id, 3, { route: '/r3' }],
      [metrics[1]!.id, 2, { route: '/r2' }],
      [metrics[0]!.id, 1, { route: '/r1' }],
    ]);
    const listed = await app.gql(Metrics, {}, key);
    expect(listed).toEqual({ data: { metrics: [{ name: 'req.count', type: 'COUNTER', unit: null, seriesCount: 3 }] } });
  });

  describe('idempotency: an item resent with the same client id is stored once', () => {
    test('recordMetric twice: the second call reports a duplicate and stores nothing', async () => {
      const key = await newTenantKey();
      const id = randomUUID();
      const input = { id, name: 'jobs.done', value: 1, type: 'COUNTER' as const, timestamp: '2026-01-01T00:00:00.000Z' };
      const first = await app.gql(RecordMetric, { input }, key);
      const second = await app.gql(RecordMetric, { input }, key);
      expect(first.data!.recordMetric).toMatchObject({ id, duplicate: false });
      expect(second.data!.recordMetric).toMatchObject({ id, duplicate: true });
      // The same UUID in capitals is the same id.
      const shouted = await app.gql(RecordMetric, { input: { ...input, id: id.toUpperCase() } }, key);
      expect(shouted.data!.recordMetric).toMatchObject({ id, duplicate: true });

      const points = await app.gql(MetricPoints, { input: { metric: 'jobs.done' } }, key);
      expect(points.data!.metricPoints.points.map((p) => [p.id, p.value])).toEqual([[id, 1]]);
    });

    test('a batch with an id already stored, and one id twice inside it, stores each id once', async () => {
      const key = await newTenantKey();
      const [stored, fresh] = [randomUUID(), randomUUID()];
      const item = (id: string, value: number): MetricInput => ({ id, name: 'queue.depth', value, type: 'GAUGE', timestamp: '2026-01-01T00:00:00.000Z' });
      await app.gql(RecordMetric, { input: item(stored, 1) }, key);

      const batch = [item(stored, 1), item(fresh, 2), item(fresh, 2)];
      const result = await app.gql(RecordMetrics, { metrics: batch }, key);
      expect(result).toEqual({ data: { recordMetrics: { accepted: 3, duplicates: 2, ids: [stored, fresh, fresh], failed: [] } } });

      const again = await app.gql(RecordMetrics, { metrics: batch }, key);
      expect(again).toEqual({ data: { recordMetrics: { accepted: 3, duplicates: 3, ids: [stored, fresh, fresh], failed: [] } } });

      const points = await app.gql(MetricPoints, { input: { metric: 'queue.depth' } }, key);
      expect(points.data!.metricPoints.points.map((p) => p.id).sort()).toEqual([stored, fresh].sort());
    });

    test('items without an id are never duplicates of each other', async () => {
      const key = await newTenantKey();
      const item: MetricInput = { name: 'clicks', value: 1, type: 'COUNTER', timestamp: '2026-01-01T00:00:00.000Z' };
      const result = await app.gql(RecordMetrics, { metrics: [item, item] }, key);
      expect(result.data!.recordMetrics).toMatchObject({ accepted: 2, duplicates: 0 });
      const [a, b] = result.data!.recordMetrics.ids;
      expect(a).not.toEqual(b);
      const points = await app.gql(MetricPoints, { input: { metric: 'clicks' } }, key);
      expect(points.data!.metricPoints.points).toHaveLength(2);
    });
  });

  describe('metricPoints', () => {
    // 24 points over 6 distinct instants (4 per instant: ties the cursor must break by id),
    // alternating between hosts a and b.
    const instants = [0, 1, 2, 3, 4, 5].map((m) => `2026-02-01T00:0${m}:00.000Z`);
    const items: MetricInput[] = instants.flatMap((timestamp, t) =>
      [0, 1, 2, 3].map((j) => ({ id: randomUUID(), name: 'disk.io', value: t * 10 + j, type: 'GAUGE' as const, tags: { host: j % 2 ? 'b' : 'a', disk: `d${j}` }, timestamp })),
    );
    let key: string;
    beforeAll(async () => {
      key = await newTenantKey();
      const result = await app.gql(RecordMetrics, { metrics: items }, key);
      expect(result.data!.recordMetrics.accepted).toBe(24);
      // Another metric of the same tenant must never show up in disk.io's pages.
      await app.gql(RecordMetric, { input: { name: 'disk.free', value: 99, type: 'GAUGE', tags: { host: 'a' }, timestamp: instants[2] } }, key);
    });

    /** Newest first; within one instant, by id descending. */
    const expectedOrder = (selected: MetricInput[]) =>
      [...selected].sort((x, y) => (y.timestamp! > x.timestamp! ? 1 : y.timestamp! < x.timestamp! ? -1 : String(y.id) > String(x.id) ? 1 : -1)).map((i) => i.id);

    test('pages of 5 follow nextCursor through every point once, newest first, then null', async () => {
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let after: string | null = null;
      do {
        const page: GraphQLResponse<MetricPointsQuery> = await app.gql(MetricPoints, { input: { metric: 'disk.io', limit: 5, after } }, key);
        expect(page.errors).toBeUndefined();
        seen.push(...page.data!.metricPoints.points.map((p) => p.id));
        pageSizes.push(page.data!.metricPoints.points.length);
        after = page.data!.metricPoints.nextCursor;
      } while (after && pageSizes.length < 10);
      expect(pageSizes).toEqual([5, 5, 5, 5, 4]);
      expect(seen).toEqual(expectedOrder(items));
    });

    test('a page that ends exactly at the last point has no nextCursor', async () => {
      const page = await app.gql(MetricPoints, { input: { metric: 'disk.io', limit: 24 } }, key);
      expect(page.data!.metricPoints.points).toHaveLength(24);
      expect(page.data!.metricPoints.nextCursor).toBeNull();
    });

    test('tags select the series that have all of them', async () => {
      const hostB = await app.gql(MetricPoints, { input: { metric: 'disk.io', tags: { host: 'b' }, limit: 100 } }, key);
      expect(hostB.data!.metricPoints.points.map((p) => p.id)).toEqual(expectedOrder(items.filter((i) => (i.tags as { host: string }).host === 'b')));
      const oneDisk = await app.gql(MetricPoints, { input: { metric: 'disk.io', tags: { host: 'b', disk: 'd3' } } }, key);
      expect(oneDisk.data!.metricPoints.points.map((p) => p.value)).toEqual([53, 43, 33, 23, 13, 3]);
      const none = await app.gql(MetricPoints, { input: { metric: 'disk.io', tags: { host: 'a', disk: 'd3' } } }, key);
      expect(none.data!.metricPoints.points).toEqual([]);
    });

    test('from is inclusive and to is exclusive', async () => {
      const page = await app.gql(MetricPoints, { input: { metric: 'disk.io', from: instants[1], to: instants[3] } }, key);
      expect(page.data!.metricPoints.points.map((p) => p.timestamp)).toEqual([...Array(4).fill(instants[2]), ...Array(4).fill(instants[1])]);
    });

    test('an unknown metric has no points; a cursor not made by the server is BAD_USER_INPUT', async () => {
      expect(await app.gql(MetricPoints, { input: { metric: 'disk.unknown' } }, key)).toEqual({ data: { metricPoints: { points: [], nextCursor: null } } });
      const forged = await app.gql(MetricPoints, { input: { metric: 'disk.io', after: 'not-a-cursor' } }, key);
      expect(forged.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    });

    test('metrics lists names with type, unit and series count, filtered by prefix', async () => {
      expect(await app.gql(Metrics, {}, key)).toEqual({
        data: {
          metrics: [
            { name: 'disk.free', type: 'GAUGE', unit: null, seriesCount: 1 },
            { name: 'disk.io', type: 'GAUGE', unit: null, seriesCount: 4 },
          ],
        },
      });
      expect(await app.gql(Metrics, { prefix: 'disk.f' }, key)).toEqual({ data: { metrics: [{ name: 'disk.free', type: 'GAUGE', unit: null, seriesCount: 1 }] } });
      expect(await app.gql(Metrics, { prefix: 'cpu' }, key)).toEqual({ data: { metrics: [] } });
    });
  });

  test('a series gone from the database while its id is cached: the write is refused by the write view and taken again, stored on a new series', async () => {
    const { tenantId, adminKey } = await app.createTenant();
    const point = (value: number): MetricInput => ({ name: 'restored.gauge', value, type: 'GAUGE', tags: { host: 'a' }, timestamp: `2026-01-01T00:00:0${value}.000Z` });
    expect((await app.gql(RecordMetrics, { metrics: [point(1)] }, adminKey)).data?.recordMetrics).toMatchObject({ accepted: 1, failed: [] });
    // The series goes behind the service's back (as a restore from an earlier backup would
    // have it), while the service keeps its id cached for the one-round-trip write.
    const owner = app.server.deps.db.kysely;
    const gone = await owner.selectFrom('series').select('id').where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
    await owner.deleteFrom('points').where('series_id', '=', gone.id).execute();
    await owner.deleteFrom('series').where('id', '=', gone.id).execute();

    const again = await app.gql(RecordMetrics, { metrics: [point(2)] }, adminKey);
    expect(again.errors).toBeUndefined();
    expect(again.data?.recordMetrics).toMatchObject({ accepted: 1, failed: [] });
    const series = await owner.selectFrom('series').select(['id', 'tags']).where('tenant_id', '=', tenantId).execute();
    expect(series).toEqual([{ id: expect.any(Number), tags: { host: 'a' } }]);
    expect(series[0]!.id).not.toBe(gone.id);
    const points = await app.gql(MetricPoints, { input: { metric: 'restored.gauge' } }, adminKey);
    expect(points.data?.metricPoints.points.map((p) => [p.value, p.timestamp])).toEqual([[2, '2026-01-01T00:00:02.000Z']]);
  });
});
