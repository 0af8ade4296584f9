/**
 * #16: pages go through the instance's answer gate (src/query/answer-gate.ts,
 * src/plugins/page-admission.ts), over HTTP and WebSocket alike. The gate here holds 100
 * buckets, and each page is 60 (an hour at MINUTE, fill ZERO): one page is completed at a time,
 * the others wait their turn and then succeed, and past the line's bounds they are refused at
 * once with RATE_LIMITED (429, Retry-After). The test takes the gate itself first, so what
 * waits is decided by the test, not by timing.
 *
 * A page is admitted before its answer is read, for the most it can hold (series × buckets, at
 * most its limit); an export holds each window's rows while it reads and writes it; and
 * liveAggregates' first message (the whole answer) is admitted like a page and holds its
 * buckets only until it is sent.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import type { AnswerGate } from '../src/query/answer-gate.js';
import { ENGINES, startApp, type GraphQLResponse, type TestApp } from './harness.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bound for a broken run, not a speed assertion: a met condition returns at once. */
async function until(done: () => boolean, what: string, ms = 30_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (done()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const PAGE = `query($i: AggregateQueryInput!) { metricAggregates(input: $i) { nextCursor series { buckets { start count avg } } } }`;

describe.each(ENGINES)('page admission (%s)', (engine) => {
  let app: TestApp;
  let keys: string[];
  let from: string;
  let to: string;
  /** Buckets held each time a page was admitted. */
  const heldAtAdmission: number[] = [];
  let gate: AnswerGate;

  beforeAll(async () => {
    app = await startApp(engine, { QUERY_PAGE_BUCKETS_IN_FLIGHT: '100', QUERY_PAGE_QUEUE: '3', QUERY_PAGE_QUEUE_PER_TENANT: '2', QUERY_CACHE_SIZE: '0' });
    keys = [];
    const hour = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE - 2 * 60 * MINUTE;
    from = new Date(hour).toISOString();
    to = new Date(hour + 60 * MINUTE).toISOString();
    for (let t = 0; t < 3; t++) {
      const { adminKey } = await app.createTenant();
      keys.push(adminKey);
      const recorded = await app.gql(
        `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`,
        { m: [{ name: 'gate.v', type: 'GAUGE', value: 4, timestamp: new Date(hour + 10 * MINUTE).toISOString() }] },
        adminKey,
      );
      expect(recorded.errors).toBeUndefined();
    }
    // Every admission notes what the gate then holds.
    const pages = app.server.deps.pages;
    gate = pages;
    app.server.deps.pages = {
      ...pages,
      capacity: pages.capacity,
      admit: async (tenantId, weight) => {
        const release = await pages.admit(tenantId, weight);
        heldAtAdmission.push(pages.held());
        return release;
      },
    };
  }, 600_000);
  afterAll(() => app?.close());

  const page = (key: string, limit?: number) => app.post<any>({ query: PAGE, variables: { i: { metrics: ['gate.v'], from, to, granularity: 'MINUTE', fill: 'ZERO', ...(limit ? { limit } : {}) } } }, key);

  /** An acknowledged graphql-transport-ws socket of `key`, with every message it received. */
  async function connect(key: string) {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    const messages: any[] = [];
    let closed: number | null = null;
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    socket.on('close', (code) => (closed = code));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
    await until(() => messages.some((m) => m.type === 'connection_ack'), 'connection_ack');
    return { socket, messages, closed: () => closed };
  }

  /** The same query over a WebSocket: its `next` payload or its `error` list. */
  async function overSocket(key: string): Promise<GraphQLResponse<any>> {
    const { socket, messages } = await connect(key);
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: PAGE, variables: { i: { metrics: ['gate.v'], from, to, granularity: 'MINUTE', fill: 'ZERO' } } } }));
    await until(() => messages.some((m) => m.id === '1' && (m.type === 'next' || m.type === 'error')), 'the answer');
    socket.close();
    const message = messages.find((m) => m.id === '1' && (m.type === 'next' || m.type === 'error'));
    return message.type === 'next' ? message.payload : { errors: message.payload };
  }

  test('one page at a time; the others wait their turn, over HTTP and WebSocket, and then succeed; a full line refuses at once', async () => {
    heldAtAdmission.length = 0;
    // The test holds the whole gate: every page now waits.
    const holder = await gate.admit('the test', 100);
    const [a, b, c] = keys as [string, string, string];
    const waitingA1 = page(a);
    const waitingA2 = page(a);
    await until(() => gate.waiting() === 2, 'two pages of tenant a waiting');
    // A third page of tenant a: over its share of the line (2), refused at once.
    const refusedA3 = await page(a);
    expect(refusedA3.status).toBe(429);
    expect(refusedA3.body.errors?.map((e) => [e.extensions?.code, e.extensions?.retryAfter])).toEqual([['RATE_LIMITED', 5]]);
    // Tenant b over a WebSocket takes the last place in the line (3 in all)...
    const waitingB = overSocket(b);
    await until(() => gate.waiting() === 3, 'tenant b waiting');
    // ...so tenant c, with nothing waiting of its own, is refused too: the line is full.
    const refusedC = await page(c);
    expect(refusedC.status).toBe(429);
    expect(refusedC.body.errors?.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(heldAtAdmission).toEqual([]);

    holder();
    const answers = [(await waitingA1).body, (await waitingA2).body, await waitingB];
    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      const buckets = answer.data.metricAggregates.series[0].buckets;
      expect(buckets).toHaveLength(60);
      expect(buckets[10]).toEqual({ start: new Date(Date.parse(from) + 10 * MINUTE).toISOString(), count: 1, avg: 4 });
      expect(buckets[11]).toEqual({ start: new Date(Date.parse(from) + 11 * MINUTE).toISOString(), count: 0, avg: 0 });
    }
    // Three pages of 60 in a gate of 100: each was admitted alone.
    expect(heldAtAdmission).toEqual([60, 60, 60]);
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });

  test('the pages of one request share one admission: together they hold at most the gate', async () => {
    heldAtAdmission.length = 0;
    const [a] = keys as [string];
    const two = (limit: number) =>
      app.gql<any, any>(
        `query($i: AggregateQueryInput!) { one: metricAggregates(input: $i) { series { buckets { count } } } two: metricAggregates(input: $i) { series { buckets { count } } } }`,
        { i: { metrics: ['gate.v'], from, to, granularity: 'MINUTE', fill: 'ZERO', limit } },
        a,
      );
    const fits = await two(40);
    expect(fits.errors).toBeUndefined();
    expect([fits.data.one.series[0].buckets.length, fits.data.two.series[0].buckets.length]).toEqual([40, 40]);
    // Admitted once, for the first page and a full page for the other field, at most the gate.
    expect(heldAtAdmission).toEqual([100]);
    const over = await two(60);
    // The second page would pass what the request holds (60 + 60 > 100): refused, saying what to change.
    expect(over.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([
      ['LIMIT_EXCEEDED', 'The pages of one request may hold 100 buckets together; these would hold 120. Ask for smaller pages (limit) or send the fields in separate requests.'],
    ]);
    expect(over.data).toBeNull();
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });

  test('a page is admitted before its answer is read, for series × buckets at most its limit', async () => {
    heldAtAdmission.length = 0;
    const { adminKey } = await app.createTenant();
    const recorded = await app.gql(
      `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`,
      { m: ['x', 'y', 'z'].map((host) => ({ name: 'gate.h', type: 'GAUGE', value: 1, timestamp: new Date(Date.parse(from) + 5 * MINUTE).toISOString(), tags: { host } })) },
      adminKey,
    );
    expect(recorded.errors).toBeUndefined();
    // Every read of an answer starts with a cache lookup: counted, to see what was read while waiting.
    const cache = app.server.deps.queryCache;
    const lookup = cache.lookup.bind(cache);
    let lookups = 0;
    cache.lookup = (...args) => (lookups++, lookup(...args));
    try {
      const grouped = (extra: Record<string, unknown>) =>
        app.post<any>({ query: PAGE, variables: { i: { metrics: ['gate.h'], from, to, granularity: 'MINUTE', groupBy: ['host'], ...extra } } }, adminKey);
      const holder = await gate.admit('the test', 100);
      const waiting = grouped({});
      await until(() => gate.waiting() === 1, 'the page waiting');
      // In line, nothing of its answer has been read.
      expect(lookups).toBe(0);
      holder();
      const answer = (await waiting).body;
      expect(answer.errors).toBeUndefined();
      expect(answer.data.metricAggregates.series.map((s: any) => s.buckets.filter((b: any) => b.count > 0).length)).toEqual([1, 1, 1]);
      expect(lookups).toBe(1);
      // 3 series × 60 buckets (capped by the gate, 100); with limit 30 the page holds at most 30.
      expect((await grouped({ limit: 30 })).body.errors).toBeUndefined();
      // A range of more buckets than the limit: the limit, without counting the series.
      const wide = (await app.post<any>({ query: PAGE, variables: { i: { metrics: ['gate.h'], from: new Date(Date.parse(from) - 200 * MINUTE).toISOString(), to, granularity: 'MINUTE', limit: 50 } } }, adminKey)).body;
      expect(wide.errors).toBeUndefined();
      // One series (host x) of 60 buckets: admitted for 60, though fill NONE answers with one.
      expect((await app.post<any>({ query: PAGE, variables: { i: { metrics: ['gate.h'], from, to, granularity: 'MINUTE', tags: { host: 'x' } } } }, adminKey)).body.errors).toBeUndefined();
      expect(heldAtAdmission).toEqual([100, 30, 50, 60]);
    } finally {
      cache.lookup = lookup;
    }
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });

  test('an export holds each window’s rows in the gate while it reads and writes it, and waits its turn like a page', async () => {
    heldAtAdmission.length = 0;
    const [a] = keys as [string];
    const exportOf = () =>
      fetch(`${app.url}/export?query=${encodeURIComponent(JSON.stringify({ metrics: ['gate.v'], from, to, granularity: 'MINUTE', fill: 'ZERO' }))}`, { headers: { authorization: `Bearer ${a}` } });
    const holder = await gate.admit('the test', 100);
    const waiting = exportOf();
    await until(() => gate.waiting() === 1, 'the export waiting');
    holder();
    const response = await waiting;
    expect(response.status).toBe(200);
    const lines = (await response.text()).trim().split('\n');
    // A header and one row per bucket: 1 series × 60 MINUTE buckets, one window.
    expect(lines).toHaveLength(61);
    expect(lines[11]!.split(',').slice(2, 5)).toEqual([new Date(Date.parse(from) + 10 * MINUTE).toISOString(), new Date(Date.parse(from) + 11 * MINUTE).toISOString(), '1']);
    expect(heldAtAdmission).toEqual([60]);
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);

    // A full line refuses the export as it would a page: 429 with Retry-After, before any row.
    const holding = await gate.admit('the test', 100);
    const queued = [page(a), page(a)];
    await until(() => gate.waiting() === 2, 'two pages of tenant a waiting');
    const refused = await exportOf();
    expect([refused.status, refused.headers.get('retry-after'), ((await refused.json()) as any).errors[0].extensions.code]).toEqual([429, '5', 'RATE_LIMITED']);
    holding();
    for (const answer of await Promise.all(queued)) expect(answer.body.errors).toBeUndefined();
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });

  test('liveAggregates’ first message is admitted like a page and holds its buckets only until it is sent; a full line is a RATE_LIMITED error of the operation, not a closed socket', async () => {
    heldAtAdmission.length = 0;
    const [a] = keys as [string];
    const LIVE = `subscription($i: AggregateQueryInput!) { liveAggregates(input: $i) { initial series { buckets { start count avg } } } }`;
    const live = { id: 'live', type: 'subscribe', payload: { query: LIVE, variables: { i: { metrics: ['gate.v'], from, to, granularity: 'MINUTE', fill: 'ZERO' } } } };
    const { socket, messages, closed } = await connect(a);
    try {
      const holder = await gate.admit('the test', 100);
      socket.send(JSON.stringify(live));
      await until(() => gate.waiting() === 1, 'the first message waiting');
      holder();
      await until(() => messages.some((m) => m.id === 'live' && m.type === 'next'), 'the first message');
      const first = messages.find((m) => m.id === 'live' && m.type === 'next').payload;
      expect(first.errors).toBeUndefined();
      expect(first.data.liveAggregates.initial).toBe(true);
      expect(first.data.liveAggregates.series[0].buckets[10]).toEqual({ start: new Date(Date.parse(from) + 10 * MINUTE).toISOString(), count: 1, avg: 4 });
      expect(heldAtAdmission).toEqual([60]);
      // Sent: the subscription stays open and holds nothing.
      await until(() => gate.held() === 0, 'the first message’s buckets given back');
      expect(messages.some((m) => m.id === 'live' && m.type !== 'next')).toBe(false);

      // Tenant a's share of the line is taken: a second subscription is refused at once.
      const holding = await gate.admit('the test', 100);
      const queued = [page(a), page(a)];
      await until(() => gate.waiting() === 2, 'two pages of tenant a waiting');
      socket.send(JSON.stringify({ ...live, id: 'refused' }));
      await until(() => messages.some((m) => m.id === 'refused' && m.type === 'complete'), 'the refusal');
      // The operation's result is its error, then it is complete (graphql-ws: a subscribe that fails before its stream).
      expect(messages.filter((m) => m.id === 'refused').map((m) => [m.type, m.payload?.errors?.map((e: any) => [e.extensions?.code, e.extensions?.retryAfter]), m.payload?.data])).toEqual([
        ['next', [['RATE_LIMITED', 5]], undefined],
        ['complete', undefined, undefined],
      ]);
      holding();
      for (const answer of await Promise.all(queued)) expect(answer.body.errors).toBeUndefined();
      // The socket is still open: the same subscription is answered on it now.
      expect(closed()).toBeNull();
      socket.send(JSON.stringify({ ...live, id: 'again' }));
      await until(() => messages.some((m) => m.id === 'again'), 'the answer');
      expect(messages.find((m) => m.id === 'again').type).toBe('next');
      await until(() => gate.held() === 0, 'the buckets given back');
    } finally {
      socket.close();
    }
    expect([gate.held(), gate.waiting()]).toEqual([0, 0]);
  });
});
