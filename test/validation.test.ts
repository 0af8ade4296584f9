/**
 * Every bad input of MetricInput is BAD_USER_INPUT and stores nothing: alone (recordMetric)
 * the request fails; inside a batch (recordMetrics) that item fails and the others are stored.
 * Values GraphQL itself cannot coerce (a string for a Float, an unknown enum value) fail the
 * whole request. Also the batch size limit and a metric's fixed type and unit.
 */
import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphql } from './gql/index.js';
import type { MetricInput } from './gql/graphql.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { MetricPoints, Metrics, RecordMetric, RecordMetrics } from './operations.js';

const RecordHugeLiteral = graphql(`
  mutation RecordHugeLiteral {
    recordMetric(input: { name: "bad.case", value: 1e400, type: GAUGE }) { id }
  }
`);

const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
const manyTags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const good = { name: 'bad.case', value: 1, type: 'GAUGE', timestamp: '2026-01-01T00:00:00.000Z' } as const;

/** Item-level rules (zod, per item): [what is wrong, the item, what the message says]. */
const badItems: Array<[string, Record<string, unknown>, RegExp]> = [
  ['an empty name', { ...good, name: '' }, /name: name must not be empty/],
  ['a name of 256 characters', { ...good, name: 'a'.repeat(256) }, /name: name must be at most 255 characters/],
  ['a name starting with a digit', { ...good, name: '1cpu' }, /name: name must start with a letter/],
  ['a name with a space', { ...good, name: 'cpu usage' }, /name: name must start with a letter and contain only/],
  ['a name with a slash', { ...good, name: 'cpu/usage' }, /name: name must start with a letter and contain only/],
  ['a name with a non-ASCII letter', { ...good, name: 'cpü' }, /name: name must start with a letter and contain only/],
  ['tags that are a list', { ...good, tags: ['host'] }, /tags: tags must be an object of string values/],
  ['tags that are a string', { ...good, tags: 'host=a' }, /tags: tags must be an object of string values/],
  ['21 tags', { ...good, tags: manyTags(21) }, /tags: tags may have at most 20 keys; got 21/],
  ['a tag key of 51 characters', { ...good, tags: { ['k'.repeat(51)]: 'v' } }, /tags: tag keys must be 1-50 characters/],
  ['an empty tag key', { ...good, tags: { '': 'v' } }, /tags: tag keys must be 1-50 characters/],
  ['a tag value of 101 characters', { ...good, tags: { host: 'v'.repeat(101) } }, /tags: tag "host" is longer than 100 characters/],
  ['a number as a tag value', { ...good, tags: { host: 1 } }, /tags: tag "host" must be a string; got number/],
  ['null as a tag value', { ...good, tags: { host: null } }, /tags: tag "host" must be a string; got null/],
  ['a boolean as a tag value', { ...good, tags: { host: true } }, /tags: tag "host" must be a string; got boolean/],
  ['an object as a tag value', { ...good, tags: { host: { name: 'a' } } }, /tags: tag "host" must be a string; got object/],
  // JSON.parse makes __proto__ an own key, as a server parsing a request body would see it.
  ['a __proto__ tag key', { ...good, tags: JSON.parse('{"__proto__": "x"}') }, /tags: tag key "__proto__" is not allowed/],
  ['a constructor tag key', { ...good, tags: { constructor: 'x' } }, /tags: tag key "constructor" is not allowed/],
  ['a prototype tag key', { ...good, tags: { prototype: 'x' } }, /tags: tag key "prototype" is not allowed/],
  // A getter: "11 minutes from now" is computed when the request is built, not when this file
  // loads (a slow engine start once let the clock catch up and the point was stored).
  [
    'a timestamp 11 minutes in the future',
    {
      ...good,
      get timestamp() {
        return minutesFromNow(11);
      },
    },
    /timestamp: timestamp is more than 10 minutes in the future/,
  ],
  ['a timestamp before 1970', { ...good, timestamp: '1969-12-31T23:59:59.000Z' }, /timestamp: timestamp is before 1970-01-01/],
  ['a unit of 51 characters', { ...good, unit: 'u'.repeat(51) }, /unit: unit must be at most 50 characters/],
  ['an empty unit', { ...good, unit: '' }, /unit: /],
  ['an id that is not a UUID', { ...good, id: 'point-1' }, /id: id must be a UUID/],
  ['a number as id', { ...good, id: 12345 }, /id: id must be a UUID/],
  ['a negative COUNTER value', { ...good, type: 'COUNTER', value: -1 }, /value: a COUNTER value is an increment and must be >= 0/],
  ['a slightly negative COUNTER value', { ...good, type: 'COUNTER', value: -0.001 }, /value: a COUNTER value is an increment and must be >= 0/],
];

/** Values GraphQL cannot coerce to MetricInput: the whole request is refused. */
const uncoercible: Array<[string, Record<string, unknown>, RegExp]> = [
  ['"NaN" as value', { ...good, value: 'NaN' }, /Float cannot represent non numeric value: "NaN"/],
  ['"Infinity" as value', { ...good, value: 'Infinity' }, /Float cannot represent non numeric value: "Infinity"/],
  ['"42" as value', { ...good, value: '42' }, /Float cannot represent non numeric value: "42"/],
  ['null as value', { ...good, value: null }, /Expected non-nullable type "Float!" not to be null/],
  ['no value', { name: 'bad.case', type: 'GAUGE' }, /Field "value" of required type "Float!" was not provided/],
  ['an unknown type', { ...good, type: 'METER' }, /Value "METER" does not exist in "MetricType" enum/],
  ['a type in lower case', { ...good, type: 'gauge' }, /Value "gauge" does not exist in "MetricType" enum/],
  ['a number as name', { ...good, name: 42 }, /String cannot represent a non string value: 42/],
  ['a timestamp without an offset', { ...good, timestamp: '2026-01-01T00:00:00' }, /DateTime must be an ISO 8601 string with a time zone offset/],
  ['a timestamp that is not a date', { ...good, timestamp: 'yesterday' }, /DateTime must be an ISO 8601 string with a time zone offset/],
  ['February 30th', { ...good, timestamp: '2026-02-30T00:00:00Z' }, /DateTime 2026-02-30T00:00:00Z is not a real date/],
  ['an unknown field', { ...good, host: 'a' }, /Field "host" is not defined by type "MetricInput"/],
];

describe.each(ENGINES)('input validation on %s', (engine) => {
  let app: TestApp;
  let key: string;
  beforeAll(async () => {
    app = await startApp(engine);
    key = (await app.createTenant()).adminKey;
  });
  afterAll(() => app?.close());

  /** The names of the tenant's metrics: a stored point always has one. */
  const metricNames = async (token = key) => (await app.gql(Metrics, {}, token)).data!.metrics.map((m) => m.name);

  describe('recordMetric refuses the request and stores nothing', () => {
    test.each([...badItems, ...uncoercible])('%s', async (_, input, message) => {
      const result = await app.send(RecordMetric, { input }, key);
      expect(codes(result)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.message).toMatch(message);
      expect(result.data ?? null).toBeNull();
      expect(await metricNames()).toEqual([]);
    });

    test('a non-finite number written into the query (1e400) is refused too', async () => {
      const result = await app.gql(RecordHugeLiteral, {}, key);
      expect(codes(result)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.message).toMatch(/^input\.value: /);
      expect(await metricNames()).toEqual([]);
    });

    test('a number too large for a double in the JSON variables (1e400 parses as Infinity) is refused', async () => {
      const body = `{"query": ${JSON.stringify(print(RecordMetric))}, "variables": {"input": {"name": "bad.case", "value": 1e400, "type": "GAUGE"}}}`;
      const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
      const result = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(result.errors.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors[0]!.message).toMatch(/Float cannot represent non numeric value: Infinity/);
      expect(await metricNames()).toEqual([]);
    });

    test('the edges of every rule are accepted', async () => {
      const tenant = (await app.createTenant()).adminKey;
      const edges: MetricInput[] = [
        { name: 'a'.repeat(255), value: 0, type: 'COUNTER' },
        { name: 'A1._-z', value: -1.5e300, type: 'GAUGE', unit: 'u'.repeat(50), timestamp: minutesFromNow(9) },
        { name: 'edge.tags', value: 1, type: 'HISTOGRAM', tags: { ...manyTags(19), ['k'.repeat(50)]: 'v'.repeat(100) } },
        { name: 'edge.time', value: 1, type: 'SUMMARY', timestamp: '1970-01-01T00:00:00.000+00:00', id: randomUUID().toUpperCase() },
        { name: 'edge.leap', value: 1, type: 'GAUGE', timestamp: '2024-02-29T23:59:59.999+05:30' },
      ];
      for (const input of edges) {
        const result = await app.gql(RecordMetric, { input }, tenant);
        expect(result.errors, input.name).toBeUndefined();
        expect(result.data!.recordMetric.point).toMatchObject({ metric: input.name, value: input.value, type: input.type });
      }
      expect((await metricNames(tenant)).sort()).toEqual(edges.map((e) => e.name).sort());
    });
  });

  describe('recordMetrics stores the good items and reports each bad one', () => {
    const goodItem = (): MetricInput => ({ id: randomUUID(), name: 'good.item', value: 2, type: 'GAUGE', timestamp: '2026-01-01T00:00:00.000Z' });

    test.each(badItems)('%s, between two good items', async (_, bad, _message) => {
      const [first, last] = [goodItem(), goodItem()];
      const badId = randomUUID();
      const result = await app.send(RecordMetrics, { metrics: [first, { ...bad, id: bad.id ?? badId }, last] }, key);
      expect(result).toEqual({
        data: { recordMetrics: { accepted: 2, duplicates: 0, ids: [first.id, last.id], failed: [{ index: 1, id: String(bad.id ?? badId), code: 'BAD_USER_INPUT' }] } },
      });
      expect(await metricNames()).toEqual(['good.item']);
    });

    test('a batch of good and bad items stores exactly the good ones', async () => {
      const tenant = (await app.createTenant()).adminKey;
      const ids = Array.from({ length: 6 }, () => randomUUID());
      const metrics = [
        { id: ids[0], name: 'mixed', value: 1, type: 'GAUGE', timestamp: '2026-01-01T00:00:01.000Z' },
        { id: ids[1], name: 'mixed', value: 2, type: 'GAUGE', tags: { host: 1 } },
        { id: ids[2], name: 'mixed', value: 3, type: 'GAUGE', timestamp: '2026-01-01T00:00:03.000Z' },
        { id: ids[3], name: '9lives', value: 4, type: 'GAUGE' },
        { name: 'mixed', value: 5, type: 'GAUGE', timestamp: minutesFromNow(60) },
        { id: ids[5], name: 'mixed', value: 6, type: 'GAUGE', timestamp: '2026-01-01T00:00:06.000Z' },
      ];
      const result = await app.send(RecordMetrics, { metrics }, tenant);
      expect(result).toEqual({
        data: {
          recordMetrics: {
            accepted: 3,
            duplicates: 0,
            ids: [ids[0], ids[2], ids[5]],
            failed: [
              { index: 1, id: ids[1], code: 'BAD_USER_INPUT' },
              { index: 3, id: ids[3], code: 'BAD_USER_INPUT' },
              { index: 4, id: null, code: 'BAD_USER_INPUT' },
            ],
          },
        },
      });
      const points = await app.gql(MetricPoints, { input: { metric: 'mixed' } }, tenant);
      expect(points.data!.metricPoints.points.map((p) => [p.id, p.value])).toEqual([
        [ids[5], 6],
        [ids[2], 3],
        [ids[0], 1],
      ]);
      expect(await metricNames(tenant)).toEqual(['mixed']);
    });

    test.each(uncoercible)('%s refuses the whole batch', async (_, bad, message) => {
      const result = await app.send(RecordMetrics, { metrics: [goodItem(), bad, goodItem()] }, key);
      expect(codes(result)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.message).toMatch(message);
      expect(result.data ?? null).toBeNull();
      expect(await metricNames()).not.toContain('bad.case');
    });
  });

  describe('batch size', () => {
    const items = (n: number, name: string): MetricInput[] =>
      Array.from({ length: n }, (_, i) => ({ name, value: i, type: 'GAUGE', tags: { i: String(i % 7) }, timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));

    test('501 items (MAX_BATCH_SIZE is 500) is LIMIT_EXCEEDED and stores nothing', async () => {
      const result = await app.gql(RecordMetrics, { metrics: items(501, 'too.many') }, key);
      expect(codes(result)).toEqual(['LIMIT_EXCEEDED']);
      expect(result.errors![0]!.message).toBe('A batch may hold at most 500 items; got 501. Split it.');
      expect(result.data ?? null).toBeNull();
      expect(await metricNames()).not.toContain('too.many');
    });

    test('500 items are all stored', async () => {
      const result = await app.gql(RecordMetrics, { metrics: items(500, 'just.enough') }, key);
      expect(result.data!.recordMetrics).toMatchObject({ accepted: 500, duplicates: 0, failed: [] });
      const points = await app.gql(MetricPoints, { input: { metric: 'just.enough', limit: 1000 } }, key);
      expect(points.data!.metricPoints.points.map((p) => p.value)).toEqual(Array.from({ length: 500 }, (_, i) => 499 - i));
    });
  });

  describe('a metric keeps its type and unit', () => {
    test('GAUGE after COUNTER is BAD_USER_INPUT for recordMetric; nothing is stored', async () => {
      const tenant = (await app.createTenant()).adminKey;
      const first = await app.gql(RecordMetric, { input: { name: 'cpu', value: 1, type: 'COUNTER', timestamp: '2026-01-01T00:00:00.000Z' } }, tenant);
      expect(first.errors).toBeUndefined();
      const second = await app.gql(RecordMetric, { input: { name: 'cpu', value: 1, type: 'GAUGE', timestamp: '2026-01-01T00:00:01.000Z' } }, tenant);
      expect(codes(second)).toEqual(['BAD_USER_INPUT']);
      expect(second.errors![0]!.message).toBe("metric 'cpu' is a COUNTER; it cannot record a GAUGE");
      const points = await app.gql(MetricPoints, { input: { metric: 'cpu' } }, tenant);
      expect(points.data!.metricPoints.points.map((p) => [p.type, p.timestamp])).toEqual([['COUNTER', '2026-01-01T00:00:00.000Z']]);
    });

    test('in a batch, each conflicting item fails alone; a new metric takes the type of its first item', async () => {
      const tenant = (await app.createTenant()).adminKey;
      await app.gql(RecordMetric, { input: { name: 'cpu', value: 1, type: 'COUNTER', unit: 'ms', timestamp: '2026-01-01T00:00:00.000Z' } }, tenant);
      const ids = Array.from({ length: 6 }, () => randomUUID());
      const at = '2026-01-01T00:01:00.000Z';
      const result = await app.gql(
        RecordMetrics,
        {
          metrics: [
            { id: ids[0], name: 'cpu', value: 1, type: 'GAUGE', timestamp: at },
            { id: ids[1], name: 'cpu', value: 2, type: 'COUNTER', timestamp: at },
            { id: ids[2], name: 'latency', value: 3, type: 'HISTOGRAM', timestamp: at },
            { id: ids[3], name: 'latency', value: 4, type: 'SUMMARY', timestamp: at },
            { id: ids[4], name: 'cpu', value: 5, type: 'COUNTER', unit: 's', timestamp: at },
            { id: ids[5], name: 'cpu', value: 6, type: 'COUNTER', unit: 'ms', timestamp: at },
          ],
        },
        tenant,
      );
      expect(result).toEqual({
        data: {
          recordMetrics: {
            accepted: 3,
            duplicates: 0,
            ids: [ids[1], ids[2], ids[5]],
            failed: [
              { index: 0, id: ids[0], code: 'BAD_USER_INPUT' },
              { index: 3, id: ids[3], code: 'BAD_USER_INPUT' },
              { index: 4, id: ids[4], code: 'BAD_USER_INPUT' },
            ],
          },
        },
      });
      expect((await app.gql(Metrics, {}, tenant)).data!.metrics).toEqual([
        { name: 'cpu', type: 'COUNTER', unit: 'ms', seriesCount: 1 },
        { name: 'latency', type: 'HISTOGRAM', unit: null, seriesCount: 1 },
      ]);
      const cpu = await app.gql(MetricPoints, { input: { metric: 'cpu' } }, tenant);
      expect(cpu.data!.metricPoints.points.map((p) => p.value).sort()).toEqual([1, 2, 6]);
    });
  });
});
