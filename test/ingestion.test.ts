import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ENGINES, codes, startApp, type TestApp } from './harness.js';

const RECORD = `mutation($input: MetricInput!) { recordMetric(input: $input) { id duplicate point { metric value tags timestamp type } } }`;
const POINTS = `query($input: MetricPointsInput!) { metricPoints(input: $input) { points { id value tags timestamp } nextCursor } }`;

describe.each(ENGINES)('ingestion on %s', (engine) => {
  let app: TestApp;
  let key: string;
  beforeAll(async () => {
    app = await startApp(engine);
    key = (await app.createTenant()).adminKey;
  });
  afterAll(() => app?.close());

  test('a recorded point is readable as soon as the mutation returns', async () => {
    const recorded = await app.gql(RECORD, { input: { name: 'cpu.usage', value: 42.5, type: 'GAUGE', tags: { host: 'a' }, timestamp: '2026-01-01T00:00:00.000Z' } }, key);
    expect(recorded.errors).toBeUndefined();
    const points = await app.gql<any, any>(POINTS, { input: { metric: 'cpu.usage' } }, key);
    expect(points.data.metricPoints.points).toEqual([{ id: (recorded.data as any).recordMetric.id, value: 42.5, tags: { host: 'a' }, timestamp: '2026-01-01T00:00:00.000Z' }]);
  });
});
