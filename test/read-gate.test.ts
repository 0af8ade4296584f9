/**
 * #16: an answer is read whole whatever page of it is returned, so its read goes through the
 * instance's read gate (deps.readGate, src/query/answer-query.ts) for series × the buckets of
 * its range, apart from the page gate. The gate here holds 1 000 cells; the metric has 3 series
 * and the wide range 600 MINUTE buckets: a `limit: 1` page holds 1 bucket of the page gate but
 * 1 800 cells (the whole gate) while it is read. The test takes the read gate itself, so what
 * waits is decided by the test, not by timing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AnswerGate } from '../src/query/answer-gate.js';
import { ENGINES, startApp, type TestApp } from './harness.js';
import { CreateMetricDefinition } from './operations.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bound for a broken run, not a speed assertion: a met condition returns at once. */
async function until(done: () => boolean, what: string, ms = 30_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (done()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const PAGE = `query($i: AggregateQueryInput!) { metricAggregates(input: $i) { series { tags buckets { start count avg } } metadata { fromCache } } }`;

describe.each(ENGINES)('read gate (%s)', (engine) => {
  let app: TestApp;
  let key: string;
  let gate: AnswerGate;
  /** The weight of every read admitted or refused, in order. */
  const asked: number[] = [];
  const hour = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE - 24 * 60 * MINUTE;
  // Historical (a day back): its answers stay cached for QUERY_CACHE_HISTORICAL_TTL_MS.
  const from = new Date(hour - 9 * 60 * MINUTE).toISOString();
  const to = new Date(hour + 60 * MINUTE).toISOString();

  beforeAll(async () => {
    app = await startApp(engine, { QUERY_READ_CELLS_IN_FLIGHT: '1000', QUERY_PAGE_QUEUE: '3', QUERY_PAGE_QUEUE_PER_TENANT: '2' });
    ({ adminKey: key } = await app.createTenant());
    const recorded = await app.gql(
      `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`,
      { m: ['x', 'y', 'z'].map((host, i) => ({ name: 'read.v', type: 'GAUGE', value: i + 1, timestamp: new Date(hour + 10 * MINUTE).toISOString(), tags: { host } })) },
      key,
    );
    expect(recorded.errors).toBeUndefined();
    const readGate = app.server.deps.readGate;
    gate = readGate;
    app.server.deps.readGate = {
      ...readGate,
      capacity: readGate.capacity,
      admit: (tenantId, weight) => (asked.push(weight), readGate.admit(tenantId, weight)),
    };
  }, 600_000);
  afterAll(() => app?.close());

  const page = (input: Record<string, unknown>) => app.post<any>({ query: PAGE, variables: { i: { metrics: ['read.v'], from, to, granularity: 'MINUTE', ...input } } }, key);

  test('a `limit: 1` page over a wide range waits for the cells it reads, not the bucket it returns; past the line RATE_LIMITED; a cached answer never waits', async () => {
    asked.length = 0;
    // The test holds the whole read gate: every uncached read now waits.
    const holder = await gate.admit('the test', 1_000);
    const first = page({ limit: 1 });
    const second = page({ limit: 1, groupBy: ['host'] });
    await until(() => gate.waiting() === 2, 'two reads waiting');
    // Each page holds its one bucket of the page gate while its read waits (a page may wait for
    // cells while it holds buckets; a read never waits for buckets).
    expect(app.server.deps.pages.held()).toBe(2);
    // A third of the tenant's reads: over its share of the line (2), refused at once.
    const refused = await page({ limit: 1, tags: { host: 'y' } });
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.map((e) => [e.extensions?.code, e.extensions?.retryAfter, e.message])).toEqual([
      [
        'RATE_LIMITED',
        5,
        'This instance is already reading 1000 series × buckets of wide answers; retry in 5 s, or narrow the range, coarsen the granularity or filter by tags.',
      ],
    ]);

    holder();
    const [a, b] = [(await first).body, (await second).body];
    expect(a.errors).toBeUndefined();
    expect(a.data.metricAggregates).toEqual({
      series: [{ tags: {}, buckets: [{ start: new Date(hour + 10 * MINUTE).toISOString(), count: 3, avg: 2 }] }],
      metadata: { fromCache: false },
    });
    expect(b.errors).toBeUndefined();
    // One bucket of the three series' answer: host x's.
    expect(b.data.metricAggregates.series.map((s: any) => [s.tags.host, s.buckets])).toEqual([['x', [{ start: new Date(hour + 10 * MINUTE).toISOString(), count: 1, avg: 1 }]]]);
    // 3 series × 600 buckets each (the gate counts it as all of its 1 000), and host y's 600.
    expect(asked).toEqual([1_800, 1_800, 600]);
    expect([gate.held(), gate.waiting(), app.server.deps.pages.held()]).toEqual([0, 0, 0]);

    // The gate is full again, but the first answer is cached: served without asking the gate.
    const holding = await gate.admit('the test', 1_000);
    try {
      const cached = (await page({ limit: 1 })).body;
      expect(cached.errors).toBeUndefined();
      expect(cached.data.metricAggregates.metadata).toEqual({ fromCache: true });
      expect(asked).toEqual([1_800, 1_800, 600]);
    } finally {
      holding();
    }
  });

  test('narrow reads run side by side within the gate: admitted for their series × buckets', async () => {
    asked.length = 0;
    const holder = await gate.admit('the test', 900);
    try {
      // One series (host x) over an hour: 60 cells, which fit beside the 900 held.
      const narrow = (await page({ from: new Date(hour).toISOString(), tags: { host: 'x' } })).body;
      expect(narrow.errors).toBeUndefined();
      expect(narrow.data.metricAggregates.series[0].buckets).toEqual([{ start: new Date(hour + 10 * MINUTE).toISOString(), count: 1, avg: 1 }]);
      // An unknown metric counts no series: admitted for nothing, and NOT_FOUND from the read, as before.
      const unknown = (await page({ metrics: ['read.nothing'], limit: 1 })).body;
      expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(asked).toEqual([60, 0]);
    } finally {
      holder();
    }
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });

  test('a definition counts the series of the metrics it reads, once more beside the metric itself: one admission, no second read', async () => {
    const created = await app.send(CreateMetricDefinition, { input: { name: 'read.double', formula: 'sum(read.v) * 2' } }, key);
    expect(created.errors).toBeUndefined();
    asked.length = 0;
    const answer = (await page({ metrics: ['read.v', 'read.double'], from: new Date(hour).toISOString(), tags: { host: 'x' } })).body;
    expect(answer.errors).toBeUndefined();
    expect(answer.data.metricAggregates.series.map((s: any) => s.buckets)).toEqual([
      [{ start: new Date(hour + 10 * MINUTE).toISOString(), count: 1, avg: 1 }],
      [{ start: new Date(hour + 10 * MINUTE).toISOString(), count: 1, avg: 2 }],
    ]);
    // Host x's series for read.v and again for the definition: 2 × 60 cells, read in one go.
    expect(asked).toEqual([120]);
  });

  test('a read that resolves more series than were counted (created while it waited) is admitted again before it reads them', async () => {
    asked.length = 0;
    const holder = await gate.admit('the test', 1_000);
    const hourOf = { from: new Date(hour).toISOString(), filters: [{ key: 'host', in: ['x', 'w'] }] };
    const waiting = page(hourOf);
    await until(() => gate.waiting() === 1, 'the read waiting');
    // Counted: host x, 60 cells. Host w is created now, before the read resolves its series.
    const recorded = await app.gql(
      `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`,
      { m: [{ name: 'read.v', type: 'GAUGE', value: 7, timestamp: new Date(hour + 20 * MINUTE).toISOString(), tags: { host: 'w' } }] },
      key,
    );
    expect(recorded.errors).toBeUndefined();
    holder();
    const answer = (await waiting).body;
    expect(answer.errors).toBeUndefined();
    expect(answer.data.metricAggregates.series[0].buckets).toEqual([
      { start: new Date(hour + 10 * MINUTE).toISOString(), count: 1, avg: 1 },
      { start: new Date(hour + 20 * MINUTE).toISOString(), count: 1, avg: 7 },
    ]);
    // 60 as counted; the read found 120 and stopped, and was admitted again for the whole gate.
    expect(asked).toEqual([60, 1_000]);
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });
});
