/**
 * Metric definitions through the API on known data, on both engines: exact values of ratios
 * per bucket and group, counter rates, percentiles within the sketch bound, division by zero,
 * versions, visibility per role, tenant isolation, and hostile formulas that reach nothing.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withTenant } from '../src/db/tenant.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, startApp, type TestApp } from './harness.js';
import { CreateMetricDefinition, DeleteMetricDefinition, RecordMetric, RecordMetrics, Tenant, UpdateMetricDefinition } from './operations.js';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString();

interface Point {
  name: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM';
  value: number;
  tags: Record<string, string>;
  timestamp: string;
}

/**
 * Three hours, one point per minute per series:
 *   http.requests{route}         COUNTER: /a 10, /b 20 per minute; /c 0 (so its error rate divides by zero)
 *   http.errors{route, status}   COUNTER: /a 500 every third minute, /a 404 two a minute, /b 503 every other minute, /c 500 one a minute
 *   http.latency{route}          HISTOGRAM: a spread of values per route
 *   cpu{host}                    GAUGE: host a 50 + i % 7, host b 40 + i % 5
 *   sessions{user}               COUNTER: 3 users in hour 0, 5 in hour 1, none in hour 2
 */
function dataset(): Point[] {
  const points: Point[] = [];
  for (let i = 0; i < 180; i++) {
    const timestamp = iso(T0 + i * MINUTE);
    const add = (name: string, type: Point['type'], value: number, tags: Record<string, string>) => points.push({ name, type, value, tags, timestamp });
    add('http.requests', 'COUNTER', 10, { route: '/a' });
    add('http.requests', 'COUNTER', 20, { route: '/b' });
    add('http.requests', 'COUNTER', 0, { route: '/c' });
    if (i % 3 === 0) add('http.errors', 'COUNTER', 1, { route: '/a', status: '500' });
    add('http.errors', 'COUNTER', 2, { route: '/a', status: '404' });
    if (i % 2 === 0) add('http.errors', 'COUNTER', 1, { route: '/b', status: '503' });
    add('http.errors', 'COUNTER', 1, { route: '/c', status: '500' });
    add('http.errors', 'COUNTER', 1, { route: '/c', status: '1500' }); // not 5xx: the regex is anchored
    add('http.latency', 'HISTOGRAM', 5 + ((i * 37) % 100) * 1.5, { route: '/a' });
    add('http.latency', 'HISTOGRAM', 100 + ((i * 53) % 200), { route: '/b' });
    add('cpu', 'GAUGE', 50 + (i % 7), { host: 'a' });
    add('cpu', 'GAUGE', 40 + (i % 5), { host: 'b' });
    const users = i < 60 ? 3 : i < 120 ? 5 : 0;
    if (users > 0) add('sessions', 'COUNTER', 1, { user: `u${i % users}` });
  }
  return points;
}

/** Sum of values of `name` per hour from T0 whose tags satisfy `match`. */
function hourly(points: Point[], name: string, match: (tags: Record<string, string>) => boolean = () => true): number[] {
  const sums = [0, 0, 0];
  for (const p of points) if (p.name === name && match(p.tags)) sums[Math.floor((Date.parse(p.timestamp) - T0) / HOUR)]! += p.value;
  return sums;
}

function percentileCont(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const low = sorted[Math.floor(rank)]!;
  return low + (rank - Math.floor(rank)) * (sorted[Math.ceil(rank)]! - low);
}

const fiveXX = (tags: Record<string, string>) => /^5..$/.test(tags.status ?? '');

const AGGREGATES = graphql(`
  query DefinitionAggregates($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      series { metric type unit tags definition { name version } buckets { start count value avg last rate } }
      metadata { source fromCache }
    }
  }
`);

const PREVIEW = graphql(`
  query PreviewDefinition($input: PreviewMetricDefinitionInput!) {
    previewMetricDefinition(input: $input) {
      granularity
      metrics
      sources
      cost { series buckets cells limit }
      series { tags buckets { start end count value } }
    }
  }
`);

const DEFINITION = graphql(`
  query DefinitionByName($name: String!, $version: Int) {
    metricDefinition(name: $name, version: $version) {
      id name version latestVersion formula unit visibility createdBy
      versions { version formula }
    }
  }
`);

const DEFINITIONS = graphql(`
  query DefinitionList($prefix: String) {
    metricDefinitions(prefix: $prefix) { name version visibility }
  }
`);

const DEFINITIONS_WITH_VERSIONS = graphql(`
  query DefinitionListWithVersions {
    metricDefinitions { name latestVersion versions { version unit } }
  }
`);

const LATEST = graphql(`
  query DefinitionLatest($metric: String!, $tags: Tags) {
    latestValue(metric: $metric, tags: $tags) { metric type unit value timestamp }
  }
`);

const TAGS = graphql(`
  query DefinitionTags($metric: String!) {
    tagKeys(metric: $metric)
    tagValues(metric: $metric, key: "route")
  }
`);

type Series = { metric: string; type: string; unit: string | null; tags: Record<string, string>; definition: { name: string; version: number } | null; buckets: Array<{ start: string; count: number; value: number | null; avg: number | null; last: number | null; rate: number | null }> };

describe.each(ENGINES)('metric definitions on %s', (engine) => {
  let app: TestApp;
  let admin: string;
  let other: string;
  const points = dataset();
  const timescale = engine === 'embedded';

  const preview = async (formula: string, extra: Record<string, unknown> = {}, key = admin) => {
    const response = await app.send(PREVIEW, { input: { formula, from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', ...extra } }, key);
    expect(response.errors).toBeUndefined();
    return response.data!.previewMetricDefinition;
  };
  const previewError = async (formula: string, extra: Record<string, unknown> = {}) => {
    const response = await app.send(PREVIEW, { input: { formula, from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', ...extra } }, admin);
    expect(response.data).toBeNull();
    return response.errors![0]!;
  };
  const values = (series: { buckets: Array<{ value: number | null }> }) => series.buckets.map((b) => b.value);
  const define = async (key: string, input: { name: string; formula: string; [k: string]: unknown }) => {
    const response = await app.send(CreateMetricDefinition, { input }, key);
    if (!response.data) throw new Error(JSON.stringify(response.errors));
    return response.data.createMetricDefinition.definition;
  };
  const aggregates = async (input: Record<string, unknown>, key = admin) => {
    const response = await app.send(AGGREGATES, { input: { from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', ...input } }, key);
    return response as { data?: { metricAggregates: { series: Series[]; metadata: { source: string; fromCache: boolean } } } | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  };

  beforeAll(async () => {
    app = await startApp(engine, { QUERY_CACHE_SIZE: '0' });
    admin = (await app.createTenant()).adminKey;
    other = (await app.createTenant()).adminKey;
    for (let i = 0; i < points.length; i += 500) {
      const response = await app.gql(RecordMetrics, { metrics: points.slice(i, i + 500) }, admin);
      expect(response.data?.recordMetrics.failed).toEqual([]);
    }
    // The data is days old: late points, in the aggregates once the late-points job has run (src/jobs/late-points.ts).
    await app.takeInLatePoints();
  }, 120_000);
  afterAll(() => app?.close());

  test('an error rate is the ratio of sums per bucket and per group, and null where it divides by zero', async () => {
    const result = await preview('sum(http.errors{status=~"5.."}) / sum(http.requests) * 100', { groupBy: ['route'] });
    expect(result.metrics).toEqual(['http.errors', 'http.requests']);
    expect(result.series.map((s) => s.tags)).toEqual([{ route: '/a' }, { route: '/b' }, { route: '/c' }]);
    for (const [i, route] of ['/a', '/b'].entries()) {
      const errors = hourly(points, 'http.errors', (t) => t.route === route && fiveXX(t));
      const requests = hourly(points, 'http.requests', (t) => t.route === route);
      expect(values(result.series[i]!)).toEqual(errors.map((e, h) => (e / requests[h]!) * 100));
    }
    // /c has errors but 0 requests: null, not an error and not infinity
    expect(values(result.series[2]!)).toEqual([null, null, null]);
    expect(result.series[0]!.buckets.map((b) => [b.start, b.end])).toEqual([0, 1, 2].map((h) => [iso(T0 + h * HOUR), iso(T0 + (h + 1) * HOUR)]));
    expect(result.sources).toEqual(timescale ? ['stats_1h'] : ['raw']);
  });

  test('without groupBy the ratio is of the sums across groups, not an average of the groups’ ratios', async () => {
    const result = await preview('sum(http.errors{status=~"5.."}) / sum(http.requests)');
    const errors = hourly(points, 'http.errors', fiveXX);
    const requests = hourly(points, 'http.requests');
    expect(values(result.series[0]!)).toEqual(errors.map((e, h) => e / requests[h]!));
    const ofA = hourly(points, 'http.errors', (t) => t.route === '/a' && fiveXX(t))[0]! / hourly(points, 'http.requests', (t) => t.route === '/a')[0]!;
    const ofB = hourly(points, 'http.errors', (t) => t.route === '/b' && fiveXX(t))[0]! / hourly(points, 'http.requests', (t) => t.route === '/b')[0]!;
    expect(values(result.series[0]!)[0]).not.toBeCloseTo((ofA + ofB) / 2, 6);
  });

  test('a bucket without matching errors is a rate of 0, not null (additive functions count no points as 0)', async () => {
    const result = await preview('sum(http.errors{status="418"}) / sum(http.requests{route="/a"})');
    expect(values(result.series[0]!)).toEqual([0, 0, 0]);
  });

  test('rate and increase follow COUNTER semantics, over the part of each bucket inside the range', async () => {
    const result = await preview('rate(http.requests{route="/b"})');
    expect(values(result.series[0]!)).toEqual([1200 / 3600, 1200 / 3600, 1200 / 3600]);
    const ragged = await preview('rate(http.requests{route="/b"}) - increase(http.requests{route="/b"}) / 1800', { from: iso(T0 + 30 * MINUTE) });
    // The first bucket holds 30 minutes: 600 over 1800 s. Later buckets divide by a whole hour.
    expect(values(ragged.series[0]!)).toEqual([0, 1200 / 3600 - 1200 / 1800, 1200 / 3600 - 1200 / 1800]);
  });

  test('p95 of a histogram is within the sketch bound of percentile_cont', async () => {
    const result = await preview('p95(http.latency{route="/a"})');
    result.series[0]!.buckets.forEach((bucket, h) => {
      const exact = percentileCont(
        points.filter((p) => p.name === 'http.latency' && p.tags.route === '/a' && Math.floor((Date.parse(p.timestamp) - T0) / HOUR) === h).map((p) => p.value),
        0.95,
      );
      expect(Math.abs(bucket.value! - exact) / exact).toBeLessThanOrEqual(0.01);
    });
    expect(result.sources).toEqual(timescale ? ['stats_1h', 'sketch_1h'] : ['raw']);
  });

  test('quantile(q, m) agrees with the named percentiles', async () => {
    const result = await preview('quantile(0.95, http.latency) - p95(http.latency) + quantile(0.5, http.latency) - p50(http.latency)');
    expect(values(result.series[0]!)).toEqual([0, 0, 0]);
  });

  test('count_distinct counts tag values among series with points in the bucket', async () => {
    const result = await preview('count(sessions) / count_distinct(sessions, "user")');
    expect(values(result.series[0]!)).toEqual([60 / 3, 60 / 5]);
    const distinct = await preview('count_distinct(sessions, "user")');
    expect(values(distinct.series[0]!)).toEqual([3, 5]);
  });

  test('gauges: a difference of averages, and last', async () => {
    const result = await preview('avg(cpu{host="a"}) - avg(cpu{host="b"})');
    const avg = (host: string, h: number) => {
      const vs = points.filter((p) => p.name === 'cpu' && p.tags.host === host && Math.floor((Date.parse(p.timestamp) - T0) / HOUR) === h).map((p) => p.value);
      return vs.reduce((a, b) => a + b, 0) / vs.length;
    };
    values(result.series[0]!).forEach((v, h) => expect(v).toBeCloseTo(avg('a', h) - avg('b', h), 9));
    const last = await preview('last(cpu{host="a"}) + min(cpu) * 0 + max(cpu) * 0');
    expect(values(last.series[0]!)).toEqual([50 + (59 % 7), 50 + (119 % 7), 50 + (179 % 7)]);
  });

  test('regex matchers are anchored and compiled by PostgreSQL; a bad one is refused with its position', async () => {
    const anchored = await preview('sum(http.errors{route="/c", status=~"5.."})');
    expect(values(anchored.series[0]!)).toEqual([60, 60, 60]); // 1500 does not match
    const negated = await preview('sum(http.errors{route="/c", status!~"5.."})');
    expect(values(negated.series[0]!)).toEqual([60, 60, 60]);
    const error = await previewError('sum(http.errors{status=~"5(.."})');
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', position: { line: 1, column: 25 } });
    expect(error.message).toMatch(/^formula: the regular expression "5\(\.\." does not compile at 1:25; PostgreSQL says: invalid regular expression/);
  });

  test.each([
    ['avgg(http.requests)', "formula: unknown function 'avgg' at 1:1; did you mean 'avg'?", { line: 1, column: 1 }],
    ['sum(http.reqests)', "formula: metric 'http.reqests' does not exist in this tenant at 1:5; did you mean 'http.requests'?", { line: 1, column: 5 }],
    ['sum(nothing.like.it)', "formula: metric 'nothing.like.it' does not exist in this tenant at 1:5", { line: 1, column: 5 }],
    ['1 +\n rate(cpu)', "formula: rate needs a COUNTER, and 'cpu' is a GAUGE at 2:2; use avg, min, max or last", { line: 2, column: 2 }],
    ['increase(http.latency)', "formula: increase needs a COUNTER, and 'http.latency' is a HISTOGRAM at 1:1; use count, avg or a percentile", { line: 1, column: 1 }],
    ['p95(http.requests)', "formula: p95 of the COUNTER 'http.requests' is meaningless at 1:1; its values are increments: use rate or increase", { line: 1, column: 1 }],
    ['last(sessions)', "formula: last of the COUNTER 'sessions' is meaningless at 1:1; its values are increments: use increase (or latestValue for the running total)", { line: 1, column: 1 }],
    ['1 + 2', 'formula: a formula needs at least one metric at 1:1; e.g. sum(http.requests)', { line: 1, column: 1 }],
  ])('%s is refused: %s', async (formula, message, position) => {
    const error = await previewError(formula);
    expect(error).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', position } });
  });

  test('groupBy must be a tag every referenced metric has', async () => {
    const error = await previewError('sum(http.errors) / sum(http.requests)', { groupBy: ['status'] });
    expect(error).toMatchObject({
      message: "groupBy key 'status' is not a tag of 'http.requests' (its tags: route); a definition can group by tag keys that every metric it references has",
      extensions: { code: 'BAD_USER_INPUT', groupBy: 'status', metric: 'http.requests' },
    });
  });

  test('a definition is used by metricAggregates next to recorded metrics, with its default groupBy and filters', async () => {
    const created = await define(admin, {
      name: 'errors.rate5xx',
      formula: 'sum(http.errors{status=~"5.."}) / sum(http.requests) * 100',
      unit: '%',
      description: 'Share of requests that failed with a 5xx',
      groupBy: ['route'],
      filters: [{ key: 'route', notEquals: '/c' }],
    });
    expect(created).toMatchObject({ name: 'errors.rate5xx', version: 1, latestVersion: 1, visibility: 'TENANT', metrics: ['http.errors', 'http.requests'], groupBy: ['route'] });
    expect(created.filters).toEqual([{ key: 'route', equals: null, notEquals: '/c', in: null, notIn: null, exists: null }]);

    const response = await aggregates({ metrics: ['errors.rate5xx', 'cpu'] });
    expect(response.errors).toBeUndefined();
    const series = response.data!.metricAggregates.series;
    expect(series.map((s) => [s.metric, s.type, s.unit, s.tags, s.definition])).toEqual([
      ['errors.rate5xx', 'GAUGE', '%', { route: '/a' }, { name: 'errors.rate5xx', version: 1 }],
      ['errors.rate5xx', 'GAUGE', '%', { route: '/b' }, { name: 'errors.rate5xx', version: 1 }],
      ['cpu', 'GAUGE', null, {}, null],
    ]);
    const requestsA = hourly(points, 'http.requests', (t) => t.route === '/a');
    expect(values(series[0]!)).toEqual(hourly(points, 'http.errors', (t) => t.route === '/a' && fiveXX(t)).map((e, h) => (e / requestsA[h]!) * 100));
    // avg and last carry the value too; rate is null; count is the points read
    expect(series[0]!.buckets[0]).toMatchObject({ avg: series[0]!.buckets[0]!.value, last: series[0]!.buckets[0]!.value, rate: null, count: 20 + 60 });
    expect(series[2]!.buckets.every((b) => b.value === null)).toBe(true);

    // The query's own groupBy and filters apply on top.
    const total = await aggregates({ metrics: ['errors.rate5xx'], groupBy: [], tags: { route: '/b' } });
    expect(total.data!.metricAggregates.series.map((s) => s.tags)).toEqual([{ route: '/b' }]);
    const fill = await aggregates({ metrics: ['errors.rate5xx'], from: iso(T0 - HOUR), fill: 'ZERO', groupBy: ['route'], tags: { route: '/a' } });
    expect(fill.data!.metricAggregates.series[0]!.buckets.map((b) => [b.count, b.value]).slice(0, 2)).toEqual([
      [0, 0],
      [80, values(series[0]!)[0]],
    ]);
  });

  test('latestValue, tagKeys and tagValues accept a definition', async () => {
    await define(admin, { name: 'share.a', formula: 'sum(http.requests{route="/a"}) / sum(http.requests)' });
    const now = Date.now();
    await app.gql(RecordMetrics, { metrics: [{ name: 'http.requests', type: 'COUNTER', value: 3, tags: { route: '/a' }, timestamp: iso(now) }, { name: 'http.requests', type: 'COUNTER', value: 1, tags: { route: '/b' }, timestamp: iso(now) }] }, admin);
    const latest = await app.gql(LATEST, { metric: 'share.a' }, admin);
    expect(latest.data?.latestValue).toEqual({ metric: 'share.a', type: 'GAUGE', unit: null, value: 0.75, timestamp: iso(Math.floor(now / MINUTE) * MINUTE) });
    const tags = await app.gql(TAGS, { metric: 'errors.rate5xx' }, admin);
    expect(tags.data).toEqual({ tagKeys: ['route'], tagValues: ['/a', '/b', '/c'] });
  });

  test('names: same rules as metrics, unique, and never a recorded metric’s', async () => {
    await define(admin, { name: 'dup.name', formula: 'sum(cpu)' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'dup.name', formula: 'sum(cpu)' }, "A metric definition named 'dup.name' already exists in this tenant"],
      [{ name: 'cpu', formula: 'avg(cpu)' }, "'cpu' is a recorded metric; a definition must not shadow it: choose another name"],
      [{ name: '9lives', formula: 'avg(cpu)' }, 'input.name: name must start with a letter and contain only letters, digits, ".", "_" and "-"'],
      [{ name: 'x', formula: 'avg(cpu)', groupBy: ['host', 'route'] }, "groupBy key 'route' is not a tag of 'cpu' (its tags: host); a definition can group by tag keys that every metric it references has"],
    ];
    for (const [input, message] of cases) {
      const response = await app.send(CreateMetricDefinition, { input }, admin);
      expect(response.errors?.[0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT' } });
    }
  });

  test('every update is a new version; old versions stay readable; queries use the latest; its cached answers retire', async () => {
    const cached = await startApp(engine);
    try {
      const key = (await cached.createTenant()).adminKey;
      await cached.gql(RecordMetrics, { metrics: points.filter((p) => p.name === 'http.requests' && p.tags.route !== '/c') }, key);
      const created = (await cached.send(CreateMetricDefinition, { input: { name: 'req.a', formula: 'sum(http.requests{route="/a"})' } }, key)).data!.createMetricDefinition.definition;
      const query = { input: { metrics: ['req.a'], from: iso(T0), to: iso(T0 + HOUR), granularity: 'HOUR' } };
      const first = await cached.send(AGGREGATES, query, key);
      const again = await cached.send(AGGREGATES, query, key);
      expect([first.data!.metricAggregates.metadata.fromCache, again.data!.metricAggregates.metadata.fromCache]).toEqual([false, true]);
      expect(first.data!.metricAggregates.series[0]!.buckets[0]!.value).toBe(600);

      const v2 = await cached.send(UpdateMetricDefinition, { input: { id: created.id, formula: 'sum(http.requests{route="/b"})', unit: 'req' } }, key);
      expect(v2.data!.updateMetricDefinition.definition).toMatchObject({ version: 2, latestVersion: 2, formula: 'sum(http.requests{route="/b"})', unit: 'req' });
      const v3 = await cached.send(UpdateMetricDefinition, { input: { id: created.id, description: 'B only', unit: null } }, key);
      expect(v3.data!.updateMetricDefinition.definition).toMatchObject({ version: 3, formula: 'sum(http.requests{route="/b"})', unit: null });

      const after = await cached.send(AGGREGATES, query, key);
      expect(after.data!.metricAggregates.metadata.fromCache).toBe(false);
      expect(after.data!.metricAggregates.series[0]).toMatchObject({ definition: { name: 'req.a', version: 3 }, buckets: [{ value: 1200 }] });

      const old = await cached.gql(DEFINITION, { name: 'req.a', version: 1 }, key);
      expect(old.data!.metricDefinition).toMatchObject({ version: 1, latestVersion: 3, formula: 'sum(http.requests{route="/a"})', unit: null });
      expect(old.data!.metricDefinition.versions.map((v) => [v.version, v.formula])).toEqual([
        [3, 'sum(http.requests{route="/b"})'],
        [2, 'sum(http.requests{route="/b"})'],
        [1, 'sum(http.requests{route="/a"})'],
      ]);
      await cached.send(CreateMetricDefinition, { input: { name: 'req.b', formula: 'sum(http.requests{route="/b"})' } }, key);
      const listed = await cached.gql(DEFINITIONS_WITH_VERSIONS, {}, key);
      expect(listed.data!.metricDefinitions).toEqual([
        { name: 'req.a', latestVersion: 3, versions: [{ version: 3, unit: null }, { version: 2, unit: 'req' }, { version: 1, unit: null }] },
        { name: 'req.b', latestVersion: 1, versions: [{ version: 1, unit: null }] },
      ]);
      const missing = await cached.gql(DEFINITION, { name: 'req.a', version: 4 }, key);
      expect(missing.errors?.[0]).toMatchObject({ message: "metric definition 'req.a' has no version 4 (latest: 3)", extensions: { code: 'NOT_FOUND' } });

      const deleted = await cached.gql(DeleteMetricDefinition, { id: created.id }, key);
      expect(deleted.data!.deleteMetricDefinition).toEqual({ id: created.id, name: 'req.a' });
      expect(codes(await cached.send(AGGREGATES, query, key))).toEqual(['NOT_FOUND']);
    } finally {
      await cached.close();
    }
  });

  test('preview shows the cost, and a formula over the cost limit is LIMIT_EXCEEDED', async () => {
    const result = await preview('sum(http.errors) / sum(http.requests)', { groupBy: ['route'] });
    // http.errors has 5 series, http.requests 3: 8 series × 3 buckets
    expect(result.cost).toEqual({ series: 8, buckets: 3, cells: 24, limit: 200_000 });
    const small = await startApp(engine, { FORMULA_MAX_COST: '1000' });
    try {
      const key = (await small.createTenant()).adminKey;
      await small.gql(RecordMetrics, { metrics: points.filter((p) => p.name === 'cpu').slice(0, 10) }, key);
      const response = await small.send(PREVIEW, { input: { formula: 'avg(cpu)', from: iso(T0 - 6 * 24 * HOUR), to: iso(T0 + 3 * HOUR), granularity: 'MINUTE' } }, key);
      expect(response.errors?.[0]).toMatchObject({
        message: 'This formula would read 2 series × 8820 buckets = 17640 cells, over the limit of 1000. Narrow the range, coarsen the granularity or filter by tags.',
        extensions: { code: 'LIMIT_EXCEEDED', cost: 17640, limit: 1000 },
      });
    } finally {
      await small.close();
    }
  });

  test('a preview over more buckets than a page is LIMIT_EXCEEDED before the formula is read: an unknown metric is not even looked up', async () => {
    // Over a short range the same formula is refused for its metric: the bound came first above.
    expect((await previewError('avg(no.such.metric)')).extensions?.code).toBe('BAD_USER_INPUT');
    const error = await previewError('avg(no.such.metric)', { from: iso(T0 - 10_001 * MINUTE), to: iso(T0), granularity: 'MINUTE' });
    expect(error).toMatchObject({
      message: 'This preview would return 10001 buckets; at most 10000 are returned at once, as in a page of metricAggregates. Narrow the range, coarsen the granularity or group by fewer tags.',
      extensions: { code: 'LIMIT_EXCEEDED', limit: 10_000 },
    });
    // A page's worth exactly is answered.
    const page = await preview('avg(cpu)', { from: iso(T0 + 3 * HOUR - 10_000 * MINUTE), to: iso(T0 + 3 * HOUR), granularity: 'MINUTE' });
    expect(page.cost).toEqual({ series: 2, buckets: 10_000, cells: 20_000, limit: 200_000 });
    expect(page.series[0]!.buckets).toHaveLength(180);
  });

  test('a preview over more series × buckets than a page is read in windows, with the same exact values across their boundary', async () => {
    // 2 series × 5 080 buckets: windows of 5 000 buckets, the second starting at minute 100 of the data.
    const result = await preview('avg(cpu) * 2', { from: iso(T0 - 4_900 * MINUTE), to: iso(T0 + 3 * HOUR), granularity: 'MINUTE' });
    expect(result.cost).toEqual({ series: 2, buckets: 5_080, cells: 10_160, limit: 200_000 });
    const expected = Array.from({ length: 180 }, (_, i) => [iso(T0 + i * MINUTE), 50 + (i % 7) + 40 + (i % 5)]);
    expect(result.series[0]!.buckets.map((b) => [b.start, b.value])).toEqual(expected);
  });

  test('hostile text in a formula reaches SQL only as parameters: nothing runs, nothing changes', async () => {
    const kysely = app.server.deps.db.kysely;
    const count = async () => Number((await sql<{ n: number }>`select count(*)::int as n from metrics`.execute(kysely)).rows[0]!.n);
    const before = await count();
    const quoted = await preview(`sum(http.requests{route="'; drop table metrics; --"}) + count(http.requests{"route') or true; --"=~".*"})`);
    expect(values(quoted.series[0] ?? { buckets: [] })).toEqual([]);
    for (const formula of ["'; drop table metrics; --", 'sum(cpu); drop table metrics', 'sum(cpu) /* */', 'sum(pg_catalog.pg_tables)', '\u0455um(cpu)', 'sum(cpu{host="\u202Ea"})']) {
      const error = await previewError(formula);
      expect(error.extensions?.code, formula).toBe('BAD_USER_INPUT');
    }
    expect(await count()).toBe(before);
  });

  describe('visibility and roles', () => {
    let keys: Record<'MANAGER' | 'DEVELOPER' | 'VIEWER', string> & { DEVELOPER2: string };
    let privateId: string;
    let sharedId: string;

    beforeAll(async () => {
      keys = {
        MANAGER: (await app.createKey(admin, 'MANAGER')).key,
        DEVELOPER: (await app.createKey(admin, 'DEVELOPER')).key,
        DEVELOPER2: (await app.createKey(admin, 'DEVELOPER')).key,
        VIEWER: (await app.createKey(admin, 'VIEWER')).key,
      };
      privateId = (await define(keys.DEVELOPER, { name: 'dev.private', formula: 'sum(http.requests)', visibility: 'PRIVATE' })).id;
      sharedId = (await define(keys.DEVELOPER, { name: 'dev.shared', formula: 'sum(http.requests)' })).id;
    });

    const names = async (key: string) => (await app.gql(DEFINITIONS, { prefix: 'dev.' }, key)).data!.metricDefinitions.map((d) => d.name);

    test('a PRIVATE definition is seen by its creator, ADMIN and MANAGER; not by other DEVELOPERs or VIEWERs', async () => {
      expect(await names(keys.DEVELOPER)).toEqual(['dev.private', 'dev.shared']);
      expect(await names(admin)).toEqual(['dev.private', 'dev.shared']);
      expect(await names(keys.MANAGER)).toEqual(['dev.private', 'dev.shared']);
      expect(await names(keys.DEVELOPER2)).toEqual(['dev.shared']);
      expect(await names(keys.VIEWER)).toEqual(['dev.shared']);
      for (const key of [keys.DEVELOPER2, keys.VIEWER]) {
        expect(codes(await app.gql(DEFINITION, { name: 'dev.private' }, key))).toEqual(['NOT_FOUND']);
        expect(codes(await aggregates({ metrics: ['dev.private'] }, key))).toEqual(['NOT_FOUND']);
      }
      const mine = await aggregates({ metrics: ['dev.private'] }, keys.DEVELOPER);
      expect(values(mine.data!.metricAggregates.series[0]!)).toEqual(hourly(points, 'http.requests'));
    });

    test.each([
      ['VIEWER', 'create', 'FORBIDDEN'],
      ['VIEWER', 'update shared', 'FORBIDDEN'],
      ['DEVELOPER2', 'update shared', 'FORBIDDEN'],
      ['DEVELOPER2', 'delete shared', 'FORBIDDEN'],
      ['DEVELOPER2', 'update private', 'NOT_FOUND'],
      ['DEVELOPER', 'update shared', 'OK'],
      ['MANAGER', 'update private', 'OK'],
      ['DEVELOPER2', 'create', 'OK'],
    ] as const)('%s may %s: %s', async (role, action, outcome) => {
      const key = keys[role];
      const response =
        action === 'create'
          ? await app.send(CreateMetricDefinition, { input: { name: `by.${role.toLowerCase()}`, formula: 'avg(cpu)' } }, key)
          : action === 'delete shared'
            ? await app.gql(DeleteMetricDefinition, { id: sharedId }, key)
            : await app.send(UpdateMetricDefinition, { input: { id: action === 'update shared' ? sharedId : privateId, description: `by ${role}` } }, key);
      expect(codes(response)).toEqual(outcome === 'OK' ? [] : [outcome]);
    });

    test('the database enforces visibility too: with no caller set a transaction sees TENANT definitions only', async () => {
      const tenantId = (await app.gql(Tenant, {}, admin)).data!.tenant.id;
      const kysely = app.server.deps.db.kysely;
      const { rows } = await withTenant(kysely, tenantId, (trx) => sql<{ name: string }>`select name from metric_definitions where name like 'dev.%' order by name`.execute(trx));
      expect(rows.map((r) => r.name)).toEqual(['dev.shared']);
      // and a DEVELOPER's identity cannot update another's definition, whatever the code above it does
      const updated = await withTenant(kysely, tenantId, async (trx) => {
        await sql`select set_config('app.principal', 'key:someone-else', true), set_config('app.role', 'DEVELOPER', true)`.execute(trx);
        return sql`update metric_definitions set visibility = 'PRIVATE' where id = ${sharedId}::uuid`.execute(trx);
      });
      expect(Number(updated.numAffectedRows)).toBe(0);
    });
  });

  test('a definition of tenant A is invisible to tenant B, which may use the same name', async () => {
    expect((await app.gql(DEFINITIONS, {}, other)).data!.metricDefinitions).toEqual([]);
    expect(codes(await app.gql(DEFINITION, { name: 'errors.rate5xx' }, other))).toEqual(['NOT_FOUND']);
    expect(codes(await aggregates({ metrics: ['errors.rate5xx'] }, other))).toEqual(['NOT_FOUND']);
    expect(codes(await app.gql(LATEST, { metric: 'errors.rate5xx' }, other))).toEqual(['NOT_FOUND']);
    // B's formula cannot name A's metrics either
    expect((await app.send(PREVIEW, { input: { formula: 'sum(http.requests)', from: iso(T0) } }, other)).errors?.[0]?.message).toBe(
      "formula: metric 'http.requests' does not exist in this tenant at 1:5",
    );
    await app.gql(RecordMetric, { input: { name: 'http.requests', type: 'COUNTER', value: 5, tags: { route: '/a' }, timestamp: iso(T0) } }, other);
    await define(other, { name: 'errors.rate5xx', formula: 'sum(http.requests)' });
    const mine = await aggregates({ metrics: ['errors.rate5xx'] }, other);
    expect(mine.data!.metricAggregates.series.map((s) => values(s))).toEqual([[5]]);
  });
});
