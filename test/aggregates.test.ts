/**
 * metricAggregates, latestValue, tagKeys and tagValues on known data: exact count, sum, min,
 * max, avg, last and rate; percentiles within 1 % of percentile_cont; on both engines.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withTenant } from '../src/db/tenant.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, startApp, TEST_DATABASE_URL, type TestApp } from './harness.js';
import { RecordMetric, RecordMetrics, Tenant } from './operations.js';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A seeded PRNG, so the data (and the expected answers) are the same on every run. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
}

interface Point {
  name: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM';
  value: number;
  tags: Record<string, string>;
  timestamp: string;
}

/** Three hours of data from T0: one point every 30 s per series. */
function dataset(): Point[] {
  const rnd = random(42);
  const points: Point[] = [];
  const series: Array<Record<string, string>> = [
    { route: '/a', region: 'eu' },
    { route: '/a', region: 'us' },
    { route: '/b', region: 'eu' },
    { route: '/b', region: 'us', canary: 'yes' },
  ];
  for (let t = T0; t < T0 + 3 * HOUR; t += 30_000) {
    series.forEach((tags, i) => {
      // log-normal latencies with a heavy tail, a different scale per series
      const normal = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
      // series i is i seconds late, so `last` of a group has one answer
      points.push({ name: 'http.latency', type: 'HISTOGRAM', value: Math.exp(3 + i * 0.3 + normal), tags, timestamp: iso(t + i * 1000) });
      points.push({ name: 'http.requests', type: 'COUNTER', value: Math.floor(rnd() * 10), tags, timestamp: iso(t + i * 1000) });
    });
    points.push({ name: 'cpu', type: 'GAUGE', value: Math.round(rnd() * 1000) / 10, tags: { host: 'h1' }, timestamp: iso(t) });
    // zero and negative values: 30 % negative, 40 % zero, 30 % positive
    const r = rnd();
    const delta = r < 0.3 ? -Math.ceil(rnd() * 1000) : r < 0.7 ? 0 : Math.ceil(rnd() * 1000);
    points.push({ name: 'temp.delta', type: 'GAUGE', value: delta, tags: { host: 'h1' }, timestamp: iso(t) });
  }
  return points;
}

function percentileCont(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const low = sorted[Math.floor(rank)]!;
  return low + (rank - Math.floor(rank)) * (sorted[Math.ceil(rank)]! - low);
}

/** Exact expectations for one (metric, tag predicate) per bucket of `width` from T0. */
function expected(points: Point[], name: string, match: (tags: Record<string, string>) => boolean, from: number, to: number, width: number) {
  const buckets = new Map<number, Point[]>();
  for (const p of points) {
    const t = Date.parse(p.timestamp);
    if (p.name !== name || !match(p.tags) || t < from || t >= to) continue;
    const start = Math.floor(t / width) * width;
    buckets.set(start, [...(buckets.get(start) ?? []), p]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, ps]) => {
      const values = ps.map((p) => p.value);
      const newest = ps.reduce((a, b) => (Date.parse(b.timestamp) >= Date.parse(a.timestamp) ? b : a));
      const sum = values.reduce((a, b) => a + b, 0);
      return {
        start: iso(start),
        count: values.length,
        sum,
        min: Math.min(...values),
        max: Math.max(...values),
        avg: sum / values.length,
        last: newest.value,
        p50: percentileCont(values, 0.5),
        p90: percentileCont(values, 0.9),
        p95: percentileCont(values, 0.95),
        p99: percentileCont(values, 0.99),
      };
    });
}

const AGGREGATES = graphql(`
  query Aggregates($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      granularity
      nextCursor
      series { metric type unit tags buckets { start end count sum min max avg last rate p50 p90 p95 p99 } }
      metadata { source fromCache executionTimeMs }
    }
  }
`);
const STATS_ONLY = graphql(`
  query AggregateStats($input: AggregateQueryInput!) {
    metricAggregates(input: $input) {
      nextCursor
      series { metric tags buckets { start count sum last rate } }
      metadata { source fromCache }
    }
  }
`);
const LATEST = graphql(`
  query LatestValue($metric: String!, $tags: Tags) {
    latestValue(metric: $metric, tags: $tags) { value timestamp type }
  }
`);
const TAGS = graphql(`
  query TagsOfMetric($metric: String!) {
    tagKeys(metric: $metric)
    routes: tagValues(metric: $metric, key: "route")
    regions: tagValues(metric: $metric, key: "region", prefix: "u")
    latestValue(metric: $metric) { value }
  }
`);

type Bucket = Record<string, number | string | null>;
type Series = { metric: string; type: string; tags: Record<string, string>; buckets: Bucket[] };
type Result = { metricAggregates: { granularity: string; nextCursor: string | null; series: Series[]; metadata: { source: string; fromCache: boolean } } };

function expectWithinSketchBound(actual: number | null | string, exact: number) {
  expect(actual).not.toBeNull();
  const error = exact === 0 ? Math.abs(actual as number) : Math.abs((actual as number) - exact) / Math.abs(exact);
  expect(error).toBeLessThanOrEqual(0.01);
}

describe.each(ENGINES)('aggregates on %s', (engine) => {
  let app: TestApp;
  let keyA: string;
  let keyB: string;
  const points = dataset();
  const timescale = engine === 'embedded';

  // Inputs come from test.each tables, so they are sent as plain JSON (`send`); answers are typed loosely.
  const query = async (input: Record<string, unknown>, document: typeof AGGREGATES | typeof STATS_ONLY = AGGREGATES, key = keyA) => {
    const response = (await app.send(document, { input }, key)) as { data?: Result; errors?: unknown };
    expect(response.errors).toBeUndefined();
    return response.data!.metricAggregates;
  };

  beforeAll(async () => {
    // The cache is off here so every query reads the database; one test turns to it on purpose.
    app = await startApp(engine, { QUERY_CACHE_SIZE: '0' });
    keyA = (await app.createTenant()).adminKey;
    keyB = (await app.createTenant()).adminKey;
    for (let i = 0; i < points.length; i += 500) {
      const response = await app.gql(RecordMetrics, { metrics: points.slice(i, i + 500) }, keyA);
      expect(response.data?.recordMetrics.accepted).toBe(Math.min(500, points.length - i));
    }
    // The data is days old: late points, in the aggregates once the late-points job has run (src/jobs/late-points.ts).
    await app.takeInLatePoints();
  }, 120_000);
  afterAll(() => app?.close());

  test('hourly buckets grouped by one tag: exact stats, percentiles within 1 %, from the 1h aggregates', async () => {
    const result = await query({ metrics: ['http.latency'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', groupBy: ['route'] });
    expect(result.granularity).toBe('HOUR');
    expect(result.metadata.source).toBe(timescale ? 'group_stats_1h+group_sketch_1h' : 'raw');
    expect(result.series.map((s) => s.tags)).toEqual([{ route: '/a' }, { route: '/b' }]);
    for (const series of result.series) {
      const want = expected(points, 'http.latency', (tags) => tags.route === series.tags.route, T0, T0 + 3 * HOUR, HOUR);
      expect(series.buckets.map((b) => [b.start, b.end, b.count])).toEqual(want.map((w) => [w.start, iso(Date.parse(w.start) + HOUR), w.count]));
      series.buckets.forEach((bucket, i) => {
        const w = want[i]!;
        expect(bucket.sum).toBeCloseTo(w.sum, 6);
        expect(bucket.min).toBe(w.min);
        expect(bucket.max).toBe(w.max);
        expect(bucket.avg).toBeCloseTo(w.avg, 9);
        expect(bucket.last).toBe(w.last);
        expect(bucket.rate).toBeNull(); // not a COUNTER
        for (const q of ['p50', 'p90', 'p95', 'p99'] as const) expectWithinSketchBound(bucket[q]!, w[q]);
      });
    }
  });

  test('grouping by two tags gives one series per combination present', async () => {
    const result = await query({ metrics: ['http.latency'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', groupBy: ['route', 'region'] }, STATS_ONLY);
    expect(result.series.map((s) => s.tags)).toEqual([
      { region: 'eu', route: '/a' },
      { region: 'us', route: '/a' },
      { region: 'eu', route: '/b' },
      { region: 'us', route: '/b' },
    ]);
    expect(result.series.map((s) => s.buckets.map((b) => b.count))).toEqual([
      [120, 120, 120],
      [120, 120, 120],
      [120, 120, 120],
      [120, 120, 120],
    ]);
  });

  test.each([
    ['equals', [{ key: 'region', equals: 'eu' }], (t: Record<string, string>) => t.region === 'eu'],
    ['notEquals', [{ key: 'region', notEquals: 'eu' }], (t: Record<string, string>) => t.region !== 'eu'],
    ['in', [{ key: 'route', in: ['/b', '/nope'] }], (t: Record<string, string>) => t.route === '/b'],
    ['notIn', [{ key: 'route', notIn: ['/b'] }], (t: Record<string, string>) => t.route !== '/b'],
    ['exists', [{ key: 'canary', exists: true }], (t: Record<string, string>) => 'canary' in t],
    ['not exists', [{ key: 'canary', exists: false }], (t: Record<string, string>) => !('canary' in t)],
    ['two filters', [{ key: 'route', equals: '/a' }, { key: 'region', notEquals: 'us' }], (t: Record<string, string>) => t.route === '/a' && t.region !== 'us'],
  ] as const)('filter %s selects exactly the matching series', async (_name, filters, match) => {
    const result = await query({ metrics: ['http.latency'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', filters }, STATS_ONLY);
    const want = expected(points, 'http.latency', match, T0, T0 + 3 * HOUR, HOUR);
    expect(result.series).toHaveLength(1);
    expect(result.series[0]!.buckets.map((b) => b.count)).toEqual(want.map((w) => w.count));
    result.series[0]!.buckets.forEach((b, i) => expect(b.sum).toBeCloseTo(want[i]!.sum, 6));
  });

  test('the Tags shorthand filters by equality', async () => {
    const result = await query({ metrics: ['http.latency'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', tags: { route: '/a', region: 'us' } }, STATS_ONLY);
    expect(result.series[0]!.buckets.map((b) => b.count)).toEqual([120, 120, 120]);
  });

  test.each([
    ['MINUTE', 60_000, 180, 'stats_1m'],
    ['FIVE_MINUTES', 300_000, 36, 'stats_5m'],
    ['HOUR', HOUR, 3, 'group_stats_1h'],
    ['DAY', 24 * HOUR, 1, 'group_stats_1h+stats_5m'],
  ])('granularity %s gives %#-th bucket widths with every point counted once', async (granularity, width, buckets, source) => {
    const to = granularity === 'DAY' ? T0 + 3 * HOUR + 2 * 300_000 : T0 + 3 * HOUR;
    const result = await query({ metrics: ['http.requests'], from: iso(T0), to: iso(to), granularity }, STATS_ONLY);
    const want = expected(points, 'http.requests', () => true, T0, to, width);
    expect(result.series[0]!.buckets).toHaveLength(buckets);
    expect(result.series[0]!.buckets.map((b) => b.count)).toEqual(want.map((w) => w.count));
    expect(result.series[0]!.buckets.map((b) => b.sum)).toEqual(want.map((w) => w.sum));
    expect(result.metadata.source).toBe(timescale ? source : 'raw');
  });

  test('COUNTER: sum is the increase, rate is per second of the bucket, last is null', async () => {
    const result = await query({ metrics: ['http.requests'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR' });
    const want = expected(points, 'http.requests', () => true, T0, T0 + 3 * HOUR, HOUR);
    expect(result.series[0]!.type).toBe('COUNTER');
    expect(result.series[0]!.buckets.map((b) => [b.sum, b.rate, b.last])).toEqual(want.map((w) => [w.sum, w.sum / 3600, null]));
  });

  test('a ragged range is answered exactly: raw points at the edges, aggregates inside', async () => {
    const from = T0 + 37 * 60_000 + 12_000;
    const to = T0 + 2 * HOUR + 6 * 60_000 + 30_000;
    const result = await query({ metrics: ['http.requests'], from: iso(from), to: iso(to), granularity: 'HOUR' }, STATS_ONLY);
    const want = expected(points, 'http.requests', () => true, from, to, HOUR);
    expect(result.series[0]!.buckets.map((b) => [b.count, b.sum])).toEqual(want.map((w) => [w.count, w.sum]));
    // rate divides by the part of each bucket inside the range
    expect(result.series[0]!.buckets[0]!.rate).toBeCloseTo(want[0]!.sum / (HOUR / 1000 - 37 * 60 - 12), 9);
    expect(result.metadata.source).toBe(timescale ? 'raw+stats_1m+stats_5m+group_stats_1h' : 'raw');
  });

  test('zero and negative values keep percentiles within the bound', async () => {
    const result = await query({ metrics: ['temp.delta'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR' });
    const want = expected(points, 'temp.delta', () => true, T0, T0 + 3 * HOUR, HOUR);
    result.series[0]!.buckets.forEach((bucket, i) => {
      expect(bucket.min).toBe(want[i]!.min);
      expect(want[i]!.min).toBeLessThan(0);
      for (const q of ['p50', 'p90', 'p95', 'p99'] as const) expectWithinSketchBound(bucket[q]!, want[i]![q]);
    });
  });

  test.each([
    ['NONE', [T0 - 2 * HOUR, T0 - HOUR].length * 0 + 3, null],
    ['NULL', 5, { count: 0, sum: null, last: null }],
    ['ZERO', 5, { count: 0, sum: 0, last: 0 }],
    ['PREVIOUS', 5, null],
  ] as const)('fill %s', async (fill, length, empty) => {
    const result = await query({ metrics: ['cpu'], from: iso(T0 - 2 * HOUR), to: iso(T0 + 3 * HOUR), granularity: 'HOUR', fill }, STATS_ONLY);
    const buckets = result.series[0]!.buckets;
    expect(buckets).toHaveLength(length);
    if (fill === 'NONE') expect(buckets[0]!.start).toBe(iso(T0));
    if (empty) expect(buckets[0]).toEqual({ start: iso(T0 - 2 * HOUR), rate: null, ...empty });
    if (fill === 'PREVIOUS') {
      // nothing before the first bucket: null values; the data buckets themselves are unchanged
      expect(buckets[0]).toMatchObject({ count: 0, sum: null });
      expect(buckets[2]!.count).toBe(120);
    }
  });

  test('fill PREVIOUS repeats the last non-empty bucket after a gap', async () => {
    const result = await query({ metrics: ['cpu'], from: iso(T0), to: iso(T0 + 5 * HOUR), granularity: 'HOUR', fill: 'PREVIOUS' }, STATS_ONLY);
    const buckets = result.series[0]!.buckets;
    expect(buckets).toHaveLength(5);
    expect(buckets[3]).toEqual({ ...buckets[2], start: iso(T0 + 3 * HOUR), count: 0 });
    expect(buckets[4]).toEqual({ ...buckets[2], start: iso(T0 + 4 * HOUR), count: 0 });
  });

  test('pagination returns every bucket exactly once', async () => {
    const input = { metrics: ['http.latency', 'http.requests'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'FIVE_MINUTES', groupBy: ['route'] };
    const all = await query(input, STATS_ONLY);
    const flat = (series: Series[]) => series.flatMap((s) => s.buckets.map((b) => `${s.metric} ${JSON.stringify(s.tags)} ${b.start} ${b.count}`));
    expect(flat(all.series)).toHaveLength(4 * 36);
    expect(all.nextCursor).toBeNull();
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: Result['metricAggregates'] = await query({ ...input, limit: 25, after }, STATS_ONLY);
      expect(flat(page.series).length).toBeLessThanOrEqual(25);
      seen.push(...flat(page.series));
      after = page.nextCursor;
      pages++;
    } while (after);
    expect(pages).toBe(Math.ceil((4 * 36) / 25));
    expect(seen).toEqual(flat(all.series));
  });

  test('a cursor from another query is refused', async () => {
    const page = await query({ metrics: ['http.requests'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'MINUTE', limit: 10 }, STATS_ONLY);
    const response = await app.gql(STATS_ONLY, { input: { metrics: ['cpu'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'MINUTE', after: page.nextCursor } }, keyA);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
  });

  test('a point recorded just now is in the next query', async () => {
    const now = Date.now();
    const before = await query({ metrics: ['http.requests'], from: iso(now - HOUR), to: iso(now + 60_000), granularity: 'MINUTE' }, STATS_ONLY);
    expect(before.series[0]?.buckets ?? []).toEqual([]);
    await app.gql(RecordMetric, { input: { name: 'http.requests', type: 'COUNTER', value: 7 } }, keyA);
    const after = await query({ metrics: ['http.requests'], from: iso(now - HOUR), to: iso(now + 60_001), granularity: 'MINUTE' }, STATS_ONLY);
    expect(after.series[0]!.buckets.map((b) => [b.count, b.sum])).toEqual([[1, 7]]);
  });

  test('a late point behind the aggregates watermark is in the next query', async () => {
    const late = T0 + 30 * 60_000 + 15_000;
    const input = { metrics: ['cpu'], from: iso(T0), to: iso(T0 + HOUR), granularity: 'HOUR' };
    const before = await query(input, STATS_ONLY);
    await app.gql(RecordMetric, { input: { name: 'cpu', type: 'GAUGE', value: 5, tags: { host: 'h2' }, timestamp: iso(late) } }, keyA);
    const after = await query({ ...input, to: iso(T0 + HOUR + 1) }, STATS_ONLY);
    expect(after.series[0]!.buckets[0]!.count).toBe((before.series[0]!.buckets[0]!.count as number) + 1);
  });

  test('latestValue: running total of a COUNTER, newest value of a GAUGE, null when nothing matches', async () => {
    const counter = await app.gql(LATEST, { metric: 'http.requests', tags: { route: '/a', region: 'eu' } }, keyA);
    const total = points.filter((p) => p.name === 'http.requests' && p.tags.route === '/a' && p.tags.region === 'eu').reduce((a, p) => a + p.value, 0);
    expect(counter.data?.latestValue).toEqual({ value: total, timestamp: iso(T0 + 3 * HOUR - 30_000), type: 'COUNTER' }); // series 0: no delay
    const gauge = await app.gql(LATEST, { metric: 'temp.delta', tags: { host: 'h1' } }, keyA);
    expect(gauge.data?.latestValue).toEqual({ value: points.filter((p) => p.name === 'temp.delta').at(-1)!.value, timestamp: iso(T0 + 3 * HOUR - 30_000), type: 'GAUGE' });
    const none = await app.gql(LATEST, { metric: 'cpu', tags: { host: 'nope' } }, keyA);
    expect(none.data?.latestValue).toBeNull();
  });

  test('tagKeys and tagValues list what the series use', async () => {
    const tags = await app.gql(TAGS, { metric: 'http.latency' }, keyA);
    expect(tags.data).toMatchObject({ tagKeys: ['canary', 'region', 'route'], routes: ['/a', '/b'], regions: ['us'] });
  });

  test.each([
    ['no metrics', { metrics: [] }],
    ['11 metrics', { metrics: Array.from({ length: 11 }, (_, i) => `m${i}`) }],
    ['6 groupBy keys', { groupBy: ['a', 'b', 'c', 'd', 'e', 'f'] }],
    ['a filter with two operators', { filters: [{ key: 'route', equals: '/a', notEquals: '/b' }] }],
    ['a filter with no operator', { filters: [{ key: 'route' }] }],
    ['from after to', { from: iso(T0 + HOUR), to: iso(T0) }],
    ['limit 0', { limit: 0 }],
    ['limit 10001', { limit: 10_001 }],
    ['a bad metric name', { metrics: ['9lives'] }],
    ['a bad cursor', { after: 'not-a-cursor' }],
  ])('%s is BAD_USER_INPUT', async (_name, override) => {
    const response = await app.send(STATS_ONLY, { input: { metrics: ['cpu'], from: iso(T0), to: iso(T0 + HOUR), ...override } }, keyA);
    expect(codes(response)).toEqual(['BAD_USER_INPUT']);
  });

  test('an unknown metric is NOT_FOUND', async () => {
    const response = await app.gql(STATS_ONLY, { input: { metrics: ['no.such'], from: iso(T0), to: iso(T0 + HOUR) } }, keyA);
    expect(codes(response)).toEqual(['NOT_FOUND']);
  });

  test('a query over its cell budget is LIMIT_EXCEEDED', async () => {
    const small = await startApp(engine, { QUERY_MAX_CELLS: '1000' });
    try {
      const key = (await small.createTenant()).adminKey;
      await small.gql(RecordMetric, { input: { name: 'x', type: 'GAUGE', value: 1 } }, key);
      const response = await small.gql(STATS_ONLY, { input: { metrics: ['x'], from: iso(Date.now() - 30 * 24 * HOUR), granularity: 'MINUTE' } }, key);
      expect(codes(response)).toEqual(['LIMIT_EXCEEDED']);
    } finally {
      await small.close();
    }
  });

  test('tenant B sees nothing of tenant A through any query, even with the same metric names', async () => {
    const input = { metrics: ['http.latency'], from: iso(T0), to: iso(T0 + 3 * HOUR), granularity: 'HOUR' };
    expect(codes(await app.send(AGGREGATES, { input }, keyB))).toEqual(['NOT_FOUND']);
    expect(codes(await app.gql(LATEST, { metric: 'cpu' }, keyB))).toEqual(['NOT_FOUND']);
    const tagsOfA = await app.gql(TAGS, { metric: 'http.latency' }, keyB);
    expect(tagsOfA.data).toBeNull();
    expect(new Set(codes(tagsOfA))).toEqual(new Set(['NOT_FOUND']));
    // B records its own point in A's metric and time range: B's answers hold B's point only.
    await app.gql(RecordMetric, { input: { name: 'http.latency', type: 'HISTOGRAM', value: 1, tags: { route: '/a' }, timestamp: iso(T0 + 60_000) } }, keyB);
    const mine = await query({ ...input, groupBy: ['route'] }, AGGREGATES, keyB);
    expect(mine.series.map((s) => [s.tags, s.buckets.map((b) => [b.count, b.sum, b.p99])])).toEqual([[{ route: '/a' }, [[1, 1, 1]]]]);
    const tags = await app.gql(TAGS, { metric: 'http.latency' }, keyB);
    expect(tags.data).toEqual({ tagKeys: ['route'], routes: ['/a'], regions: [], latestValue: { value: 1 } });
  });

  test('the application role cannot read the points, the aggregates, their materialisations or chunks directly', async () => {
    const kysely = app.server.deps.db.kysely;
    const tenantId = (await app.gql(Tenant, {}, keyA)).data!.tenant.id;
    const owner = async <T>(text: string) => (await sql.raw<T>(text).execute(kysely)).rows;
    const targets = ['points'];
    if (timescale) {
      targets.push('stats_1m', 'stats_1h', 'sketch_1h', 'sketch_1d', 'group_stats_1h', 'group_sketch_1d', 'series_groups');
      const mats = await owner<{ name: string }>(`select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) as name from timescaledb_information.continuous_aggregates`);
      const chunks = await owner<{ name: string }>(`select format('%I.%I', chunk_schema, chunk_name) as name from timescaledb_information.chunks`);
      expect(mats.length).toBe(12); // 8 series levels (migrations/0052), 4 tag-group levels (0076)
      expect(chunks.length).toBeGreaterThan(0);
      targets.push(...mats.map((m) => m.name), ...chunks.slice(0, 5).map((c) => c.name));
    }
    for (const target of targets) {
      const attempt = withTenant(kysely, tenantId, (trx) => sql.raw(`select * from ${target} limit 1`).execute(trx));
      await expect(attempt, target).rejects.toThrow(/permission denied/);
    }
    // Through the tenant views, A's transaction sees A's rows only.
    const seen = await withTenant(kysely, tenantId, (trx) => sql<{ tenants: number }>`select count(distinct tenant_id)::int as tenants from tenant_points`.execute(trx));
    expect(seen.rows[0]!.tenants).toBe(1);
  });

  test('a repeated query is served from the cache, with the same answer', async () => {
    const cached = await startApp(engine);
    try {
      const key = (await cached.createTenant()).adminKey;
      await cached.gql(RecordMetric, { input: { name: 'x', type: 'GAUGE', value: 3 } }, key);
      const input = { metrics: ['x'], from: iso(Date.now() - HOUR), to: iso(Date.now() + 60_000), granularity: 'MINUTE' as const };
      const first = await cached.gql(STATS_ONLY, { input }, key);
      const second = await cached.gql(STATS_ONLY, { input }, key);
      expect(first.data!.metricAggregates.metadata.fromCache).toBe(false);
      expect(second.data!.metricAggregates.metadata.fromCache).toBe(true);
      expect(second.data!.metricAggregates.series).toEqual(first.data!.metricAggregates.series);
    } finally {
      await cached.close();
    }
  });

  test('an answer longer than the cache takes for one entry is answered anew, not cached', async () => {
    // 8 000 characters in all, 1 000 per answer: one bucket fits (≥ 190 characters), ten do not.
    const cached = await startApp(engine, { QUERY_CACHE_MAX_BYTES: '8000' });
    try {
      const key = (await cached.createTenant()).adminKey;
      const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
      const metrics = Array.from({ length: 10 }, (_, i) => ({ name: 'wide', type: 'GAUGE' as const, value: i, timestamp: iso(base + i * 60_000) }));
      await cached.gql(RecordMetrics, { metrics }, key);
      const ask = async (to: number) => {
        const input = { metrics: ['wide'], from: iso(base), to: iso(to), granularity: 'MINUTE' as const };
        const [first, second] = [await cached.gql(STATS_ONLY, { input }, key), await cached.gql(STATS_ONLY, { input }, key)];
        expect(second.data!.metricAggregates.series).toEqual(first.data!.metricAggregates.series);
        return [first.data!.metricAggregates.series[0]!.buckets.length, second.data!.metricAggregates.metadata.fromCache];
      };
      expect(await ask(base + 10 * 60_000)).toEqual([10, false]);
      expect(await ask(base + 60_000)).toEqual([1, true]);
    } finally {
      await cached.close();
    }
  });
});

describe.runIf(TEST_DATABASE_URL)('embedded TimescaleDB and PostgreSQL give the same answers', () => {
  const apps: TestApp[] = [];
  const keys: string[] = [];
  const points = dataset();
  beforeAll(async () => {
    for (const engine of ['embedded', 'postgres'] as const) {
      const app = await startApp(engine, { QUERY_CACHE_SIZE: '0' });
      const key = (await app.createTenant()).adminKey;
      for (let i = 0; i < points.length; i += 500) {
        await app.gql(RecordMetrics, { metrics: points.slice(i, i + 500) }, key);
      }
      apps.push(app);
      keys.push(key);
    }
  }, 120_000);
  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  test.each([
    ['HOUR by route', { granularity: 'HOUR', groupBy: ['route'] }],
    ['ragged FIVE_MINUTES by region', { granularity: 'FIVE_MINUTES', groupBy: ['region'], from: iso(T0 + 61_000), to: iso(T0 + HOUR + 7_000) }],
  ])('%s', async (_name, override) => {
    const input = { metrics: ['http.latency', 'http.requests'], from: iso(T0), to: iso(T0 + 3 * HOUR), ...override };
    const [a, b] = (await Promise.all(apps.map((app, i) => app.send(AGGREGATES, { input }, keys[i])))) as Array<{ data?: Result }>;
    const seriesA = a!.data!.metricAggregates.series;
    const seriesB = b!.data!.metricAggregates.series;
    expect(seriesA.map((s) => [s.metric, s.tags, s.buckets.map((x) => [x.start, x.count, x.min, x.max, x.last])])).toEqual(
      seriesB.map((s) => [s.metric, s.tags, s.buckets.map((x) => [x.start, x.count, x.min, x.max, x.last])]),
    );
    seriesA.forEach((s, i) =>
      s.buckets.forEach((x, j) => {
        const y = seriesB[i]!.buckets[j]!;
        expect(x.sum).toBeCloseTo(y.sum as number, 6);
        // both come from the same sketch keys: identical, not just within the bound
        for (const q of ['p50', 'p90', 'p95', 'p99']) expect(x[q]).toBeCloseTo(y[q] as number, 9);
      }),
    );
  });
});
