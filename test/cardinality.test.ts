/**
 * Cardinality budgets: a point that would create a series beyond a budget fails on its own
 * (LIMIT_EXCEEDED naming the budget), points of existing series still land, racing writers
 * never exceed a budget, and `usage` shows what the budget goes to.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphql } from './gql/index.js';
import { RecordMetrics } from './operations.js';
import { codes, ENGINES, OPERATOR_TOKEN, startApp, type TestApp } from './harness.js';

const SetTenantLimits = graphql(`
  mutation SetTenantLimits($input: SetTenantLimitsInput!) { setTenantLimits(input: $input) { maxSeries maxSeriesPerMetric maxTagValues } }
`);
const RecordWithMessages = graphql(`
  mutation RecordWithMessages($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code message } } }
`);
const Usage = graphql(`
  query Usage { usage { series budgets { maxSeries maxSeriesPerMetric maxTagValues } metrics { metric series } topTagKeys { metric key values } } }
`);

describe.each(ENGINES)('cardinality budgets on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(engine, { MAX_SERIES: '50', MAX_SERIES_PER_METRIC: '20', MAX_TAG_VALUES: '10' });
  });
  afterAll(() => app.close());

  const point = (name: string, tags: Record<string, string>) => ({ name, type: 'GAUGE' as const, value: 1, tags });

  test('only the operator sets budgets, within bounds, for a tenant that exists', async () => {
    const { tenantId, adminKey } = await app.createTenant();
    expect(codes(await app.gql(SetTenantLimits, { input: { tenantId, maxSeries: 5 } }, adminKey))).toEqual(['FORBIDDEN']);
    expect(codes(await app.gql(SetTenantLimits, { input: { tenantId, maxSeries: 0 } }, OPERATOR_TOKEN))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await app.gql(SetTenantLimits, { input: { tenantId: '00000000-0000-4000-8000-000000000000', maxSeries: 5 } }, OPERATOR_TOKEN))).toEqual(['NOT_FOUND']);
    expect((await app.gql(SetTenantLimits, { input: { tenantId, maxSeries: 5 } }, OPERATOR_TOKEN)).data!.setTenantLimits).toEqual({ maxSeries: 5, maxSeriesPerMetric: 20, maxTagValues: 10 });
  });

  test('each budget refuses exactly the points that would create a series beyond it; the rest land', async () => {
    const { tenantId, adminKey } = await app.createTenant();
    await app.gql(SetTenantLimits, { input: { tenantId, maxSeries: 5, maxSeriesPerMetric: 3, maxTagValues: 2 } }, OPERATOR_TOKEN);
    const first = await app.gql(RecordMetrics, { metrics: [point('a', { host: 'h1' }), point('a', { host: 'h2' })] }, adminKey);
    expect(first.data!.recordMetrics.failed).toEqual([]);

    const second = (await app.gql(RecordWithMessages, {
      metrics: [
        point('a', { host: 'h1' }), // 0: an existing series
        point('a', { host: 'h3' }), // 1: a third value of host on a
        point('a', { dc: 'x' }), //    2: a's third series
        point('a', { dc: 'y' }), //    3: a's fourth series
        point('b', { k: '1' }), //     4: series 4 of the tenant
        point('b', { k: '2' }), //     5: series 5
        point('c', { z: '1' }), //     6: series 6
        point('b', { k: '1' }), //     7: the series item 4 created
      ],
    }, adminKey)).data!.recordMetrics;
    expect(second.accepted).toBe(5);
    expect(second.failed.map((f) => [f.index, f.code])).toEqual([
      [1, 'LIMIT_EXCEEDED'],
      [3, 'LIMIT_EXCEEDED'],
      [6, 'LIMIT_EXCEEDED'],
    ]);
    expect(second.failed[0]!.message).toContain('max tag values 2');
    expect(second.failed[1]!.message).toContain('max series per metric 3');
    expect(second.failed[2]!.message).toContain('max series 5');

    const usage = (await app.gql(Usage, {}, adminKey)).data!.usage;
    expect(usage).toEqual({
      series: 5,
      budgets: { maxSeries: 5, maxSeriesPerMetric: 3, maxTagValues: 2 },
      metrics: [
        { metric: 'a', series: 3 },
        { metric: 'b', series: 2 },
      ],
      topTagKeys: [
        { metric: 'a', key: 'host', values: 2 },
        { metric: 'b', key: 'k', values: 2 },
        { metric: 'a', key: 'dc', values: 1 },
      ],
    });
    // A point of an existing series still lands with every budget used up.
    expect((await app.gql(RecordMetrics, { metrics: [point('b', { k: '2' })] }, adminKey)).data!.recordMetrics).toMatchObject({ accepted: 1, failed: [] });
  });

  test('writers racing for the last slots never exceed the budget', async () => {
    const { tenantId, adminKey } = await app.createTenant();
    await app.gql(SetTenantLimits, { input: { tenantId, maxSeries: 4 } }, OPERATOR_TOKEN);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => app.gql(RecordMetrics, { metrics: [point(`race.${i}`, { i: String(i) })] }, adminKey)),
    );
    const accepted = results.reduce((n, r) => n + r.data!.recordMetrics.accepted, 0);
    expect(accepted).toBe(4);
    expect(results.flatMap((r) => r.data!.recordMetrics.failed.map((f) => f.code)).sort()).toEqual(Array(8).fill('LIMIT_EXCEEDED'));
    expect((await app.gql(Usage, {}, adminKey)).data!.usage.series).toBe(4);
  });

  test('another tenant’s usage is its own', async () => {
    const { adminKey } = await app.createTenant();
    expect((await app.gql(Usage, {}, adminKey)).data!.usage).toEqual({ series: 0, budgets: { maxSeries: 50, maxSeriesPerMetric: 20, maxTagValues: 10 }, metrics: [], topTagKeys: [] });
  });
});
