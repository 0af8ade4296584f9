/**
 * A newcomer's typos, told as such: an unknown groupBy key, a misspelt metric (with the name
 * meant), a subscription to a metric that does not exist, a timestamp in epoch milliseconds.
 * Tenant B is never offered tenant A's names.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { codes, startApp, type TestApp } from './harness.js';
import { openRawSocket, refusal } from './ws-raw.js';

const AGGREGATES = `query Q($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { metric tags buckets { count } } } }`;
const FROM = '2026-01-01T00:00:00Z';
const TO = '2026-01-01T01:00:00Z';
const query = (metrics: string[], groupBy?: string[]) => ({ input: { metrics, from: FROM, to: TO, granularity: 'HOUR', ...(groupBy ? { groupBy } : {}) } });

describe('typos', () => {
  let app: TestApp;
  let a: { tenantId: string; adminKey: string };
  let b: { tenantId: string; adminKey: string };

  beforeAll(async () => {
    app = await startApp('embedded');
    a = await app.createTenant();
    b = await app.createTenant();
    const points = [
      { name: 'http.requests', value: 1, type: 'COUNTER', tags: { route: '/a', status: '200' }, timestamp: '2026-01-01T00:10:00Z' },
      { name: 'http.requests', value: 1, type: 'COUNTER', tags: { route: '/b', status: '500' }, timestamp: '2026-01-01T00:20:00Z' },
      { name: 'http.latency', value: 12.5, type: 'HISTOGRAM', unit: 'ms', tags: { route: '/a' }, timestamp: '2026-01-01T00:10:00Z' },
    ];
    const stored = await app.gql(`mutation R($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`, { m: points } as never, a.adminKey);
    expect(stored).toEqual({ data: { recordMetrics: { accepted: 3 } } });
    // Points from 2026-01-01 are older than the raw retention: the late-points job takes them into the aggregates.
    await app.takeInLatePoints();
    // The job takes in every range recorded in this worker's shared engine, not only these.
  }, 240_000);
  afterAll(() => app?.close());

  test('an unknown groupBy key is BAD_USER_INPUT naming the known keys and the likely one', async () => {
    const result = await app.gql(AGGREGATES, query(['http.requests'], ['rout']) as never, a.adminKey);
    expect(codes(result)).toEqual(['BAD_USER_INPUT']);
    expect(result.errors![0]!.message).toBe("groupBy key 'rout' is not a tag of http.requests; its tag keys are route, status (did you mean 'route'?)");
    expect(result.errors![0]!.extensions).toMatchObject({ key: 'rout', knownKeys: ['route', 'status'], suggestion: 'route' });
  });

  test('a known groupBy key answers, also over a range with no points (the catalog, not the answer, decides)', async () => {
    const grouped = await app.gql(AGGREGATES, query(['http.requests'], ['route']) as never, a.adminKey);
    expect((grouped.data as any).metricAggregates.series.map((s: any) => [s.tags, s.buckets[0].count])).toEqual([
      [{ route: '/a' }, 1],
      [{ route: '/b' }, 1],
    ]);
    const empty = await app.gql(AGGREGATES, { input: { ...query(['http.requests'], ['status']).input, from: '2025-01-01T00:00:00Z', to: '2025-01-01T01:00:00Z' } } as never, a.adminKey);
    expect(empty.errors).toBeUndefined();
  });

  test('a misspelt metric is NOT_FOUND with the name meant; tenant B is not offered A’s name', async () => {
    const mine = await app.gql(AGGREGATES, query(['http.requsts']) as never, a.adminKey);
    expect(codes(mine)).toEqual(['NOT_FOUND']);
    expect(mine.errors![0]!.message).toMatch(/^metric 'http\.requsts' does not exist in this tenant.*; did you mean 'http\.requests'\?$/);
    expect(mine.errors![0]!.extensions).toMatchObject({ metric: 'http.requsts', suggestion: 'http.requests' });

    const theirs = await app.gql(AGGREGATES, query(['http.requsts']) as never, b.adminKey);
    expect(codes(theirs)).toEqual(['NOT_FOUND']);
    expect(theirs.errors![0]!.message).not.toContain('did you mean');
    expect(theirs.errors![0]!.extensions!.suggestion).toBeUndefined();
  });

  test('latestValue of a misspelt metric suggests too', async () => {
    const result = await app.gql(`{ latestValue(metric: "http.latncy") { value } }`, {}, a.adminKey);
    expect(codes(result)).toEqual(['NOT_FOUND']);
    expect(result.errors![0]!.extensions).toMatchObject({ suggestion: 'http.latency' });
  });

  test.each([
    ['epoch milliseconds as a variable', { input: { ...query(['http.requests']).input, from: 1767225600000 } }, '"2026-01-01T00:00:00.000Z"'],
    ['epoch seconds as a variable', { input: { ...query(['http.requests']).input, from: 1767225600 } }, '"2026-01-01T00:00:00.000Z"'],
  ])('a DateTime given as %s is BAD_USER_INPUT showing the ISO string to send', async (_, variables, iso) => {
    const result = await app.gql(AGGREGATES, variables as never, a.adminKey);
    expect(codes(result)).toEqual(['BAD_USER_INPUT']);
    expect(result.errors![0]!.message).toContain(`send ${iso}`);
    expect(result.errors![0]!.message).toContain('e.g. 2024-05-01T12:00:00Z');
  });

  test('a DateTime literal written as a number shows the ISO string too', async () => {
    const result = await app.gql(`{ metricAggregates(input: { metrics: ["http.requests"], from: 1767225600000 }) { granularity } }`, {}, a.adminKey);
    expect(codes(result)).toEqual(['BAD_USER_INPUT']);
    expect(result.errors![0]!.message).toContain('send "2026-01-01T00:00:00.000Z" (in JavaScript: new Date(1767225600000).toISOString())');
  });

  describe('subscriptions say so instead of waiting', () => {
    const LIVE = (metric: string, groupBy = '') => `subscription { liveAggregates(input: { metrics: ["${metric}"], from: "${FROM}", granularity: HOUR${groupBy} }) { initial } }`;
    const RECORDED = (metric: string) => `subscription { metricRecorded(filter: { metrics: ["${metric}"] }) { point { value } } }`;
    const errorOf = async (key: string, query: string) => {
      const socket = await openRawSocket(app, { authorization: `Bearer ${key}` });
      try {
        socket.send({ type: 'subscribe', id: 's', payload: { query } });
        const message = await socket.next((m) => m.id === 's');
        return refusal(message) ?? message.type;
      } finally {
        socket.close();
      }
    };

    test('liveAggregates of an unknown metric: NOT_FOUND with the name meant; of a known one: the initial result', async () => {
      expect(await errorOf(a.adminKey, LIVE('http.requsts'))).toEqual([
        ['NOT_FOUND', "metric 'http.requsts' does not exist in this tenant (neither recorded nor defined); did you mean 'http.requests'?"],
      ]);
      expect(await errorOf(b.adminKey, LIVE('http.requsts'))).toEqual([['NOT_FOUND', "metric 'http.requsts' does not exist in this tenant (neither recorded nor defined)"]]);
      expect(await errorOf(a.adminKey, LIVE('http.requests'))).toBe('next');
    });

    test('liveAggregates with an unknown groupBy key: BAD_USER_INPUT', async () => {
      expect(await errorOf(a.adminKey, LIVE('http.requests', ', groupBy: ["stauts"]'))).toEqual([
        ['BAD_USER_INPUT', "groupBy key 'stauts' is not a tag of http.requests; its tag keys are route, status (did you mean 'status'?)"],
      ]);
    });

    test('metricRecorded of a near miss is NOT_FOUND; a name nothing resembles waits for its first point', async () => {
      expect(await errorOf(a.adminKey, RECORDED('http.request'))).toEqual([
        [
          'NOT_FOUND',
          "metric 'http.request' is not recorded in this tenant; did you mean 'http.requests'? (A name nothing resembles is taken as a new metric: the subscription waits for its first point.)",
        ],
      ]);
      // A name nothing in tenant B resembles: accepted, and its first point arrives.
      const socket = await openRawSocket(app, { authorization: `Bearer ${b.adminKey}` });
      socket.send({ type: 'subscribe', id: 'new', payload: { query: RECORDED('queue.depth') } });
      const record = () => app.gql(`mutation { recordMetric(input: { name: "queue.depth", value: 3, type: GAUGE }) { id } }`, {}, b.adminKey);
      expect(await socket.nextAfter(record, (m) => m.id === 'new')).toEqual({ type: 'next', id: 'new', payload: { data: { metricRecorded: { point: { value: 3 } } } } });
      socket.close();
    });
  });
});
