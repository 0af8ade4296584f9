/**
 * Live delivery at scale (src/realtime/direct-delivery.ts, recorded.ts, bus.ts): metricRecorded
 * messages are executed once per selection and event and written straight to the socket, yet
 * are byte for byte what graphql-ws sends on its own path; a client that is behind gets its
 * messages batched with drop-oldest still counted; filters are shared; the bus never delivers
 * inside the write. Through the real server on the in-process bus and on Redis.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'graphql';
import { MessageType, stringifyMessage } from 'graphql-ws';
import WebSocket from 'ws';
import { startApp, TEST_REDIS_URL, type TestApp } from './harness.js';
import { createLogger } from '../src/log.js';
import { createLocalBus, type LivePoint } from '../src/realtime/bus.js';
import { deliverDirectly, MAX_BATCH, nextMessagePrefix, selectionKey } from '../src/realtime/direct-delivery.js';
import { createFeed, dropOldest } from '../src/realtime/feed.js';
import { recordedFeeds } from '../src/realtime/recorded.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds; the bound is for a broken run, not a speed assertion (a met wait returns at once). */
async function eventually(check: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** A socket that records what is written and holds each write's callback until `complete()`. */
function fakeSocket() {
  const socket = {
    readyState: 1,
    OPEN: 1,
    sent: [] as string[],
    batches: [] as number[],
    pending: [] as Array<(error?: Error) => void>,
    send(data: string, callback?: (error?: Error) => void) {
      socket.sent.push(data);
      socket.batches[socket.batches.length - 1]!++;
      if (callback) socket.pending.push(callback);
    },
    _socket: { cork: () => socket.batches.push(0), uncork: () => {} },
    complete: () => socket.pending.shift()!(),
  };
  return socket;
}

const payloadOf = ({ item, dropped }: { item: number; dropped: number }) => JSON.stringify({ data: { n: item, dropped } });
const parsed = (text: string) => JSON.parse(text) as { id: string; type: string; payload: { data: { n: number; dropped: number } } };

describe('direct delivery (unit)', () => {
  test('a message is exactly what graphql-ws’s stringifyMessage gives for the same next', () => {
    const payload = { data: { metricRecorded: { dropped: 0, point: { value: 1.5, tags: { host: 'a"b' } } } } };
    for (const id of ['1', 'sub "quoted" \\ id', 'ünï']) {
      expect(`${nextMessagePrefix(id)}${JSON.stringify(payload)}}`).toBe(stringifyMessage({ id, type: MessageType.Next, payload }));
    }
  });

  test('one write per message while the client keeps up; when it falls behind, the waiting messages go in one batch and drop-oldest is counted', () => {
    const socket = fakeSocket();
    const feed = createFeed(dropOldest<number>(10), () => {});
    deliverDirectly(feed, socket, 'x', payloadOf);
    feed.push(1);
    expect(socket.sent).toEqual(['{"id":"x","type":"next","payload":{"data":{"n":1,"dropped":0}}}']);
    // The first write has not completed: 99 more wait, the buffer keeps the newest 10.
    for (let n = 2; n <= 100; n++) feed.push(n);
    expect(socket.sent).toHaveLength(1);
    socket.complete();
    const batch = socket.sent.slice(1).map(parsed);
    expect(batch.map((m) => [m.payload.data.n, m.payload.data.dropped])).toEqual([[91, 89], [92, 0], [93, 0], [94, 0], [95, 0], [96, 0], [97, 0], [98, 0], [99, 0], [100, 0]]);
    expect(socket.batches).toEqual([1, 10]); // corked once per batch: one socket write
    // Every point delivered or counted as dropped, none twice.
    expect(batch.length + 1 + batch.reduce((n, m) => n + m.payload.data.dropped, 0)).toBe(100);
    socket.complete();
    feed.push(101);
    expect(parsed(socket.sent.at(-1)!).payload.data).toEqual({ n: 101, dropped: 0 });
  });

  test('a batch holds at most MAX_BATCH messages; the rest follow after its write completes, in order', () => {
    const socket = fakeSocket();
    const feed = createFeed(dropOldest<number>(1_000), () => {});
    deliverDirectly(feed, socket, 'y', payloadOf);
    feed.push(0);
    for (let n = 1; n <= 150; n++) feed.push(n);
    socket.complete();
    socket.complete();
    socket.complete();
    expect(socket.batches).toEqual([1, MAX_BATCH, MAX_BATCH, 150 - 2 * MAX_BATCH]);
    expect(socket.sent.map((m) => parsed(m).payload.data.n)).toEqual(Array.from({ length: 151 }, (_, n) => n));
  });

  test('nothing is written to a socket that is not open, and nothing after the feed ends', async () => {
    const socket = fakeSocket();
    let closed = 0;
    const feed = createFeed(dropOldest<number>(10), () => closed++);
    deliverDirectly(feed, socket, 'z', payloadOf);
    socket.readyState = 2; // CLOSING
    feed.push(1);
    expect(socket.sent).toEqual([]);
    // The consumer's iterator settles only when the feed ends.
    const next = feed.next();
    await feed.return!();
    expect(await next).toEqual({ value: undefined, done: true });
    socket.readyState = 1;
    feed.push(2);
    expect(socket.sent).toEqual([]);
    expect(closed).toBe(1);
  });

  test.each([
    ['the same selection with another filter shares', 'subscription { metricRecorded(filter: { metrics: ["b"], tags: { h: "x" } }) { dropped point { value } } }', true],
    ['whitespace and the operation name do not matter', 'subscription S($f: MetricRecordedFilter!) {\n  metricRecorded(filter: $f) {\n dropped point { value } } }', true],
    ['another field does not share', 'subscription { metricRecorded(filter: { metrics: ["a"] }) { dropped point { value metric } } }', false],
    ['an alias does not share', 'subscription { m: metricRecorded(filter: { metrics: ["a"] }) { dropped point { value } } }', false],
  ])('selection keys: %s', (_name, other, same) => {
    const base = selectionKey(parse('subscription { metricRecorded(filter: { metrics: ["a"] }) { dropped point { value } } }'), undefined, {}, 'metricRecorded');
    expect(base).not.toBeNull();
    expect(selectionKey(parse(other), undefined, { f: { metrics: ['c'] } }, 'metricRecorded') === base).toBe(same);
  });

  test('selection keys: variables read below the root field and fragments count; other operations are not keyed', () => {
    const withVariable = parse('subscription($t: Boolean!, $f: MetricRecordedFilter!) { metricRecorded(filter: $f) { dropped point { value tags @include(if: $t) } } }');
    const yes = selectionKey(withVariable, undefined, { t: true, f: { metrics: ['a'] } }, 'metricRecorded');
    expect(selectionKey(withVariable, undefined, { t: true, f: { metrics: ['b'] } }, 'metricRecorded')).toBe(yes);
    expect(selectionKey(withVariable, undefined, { t: false, f: { metrics: ['a'] } }, 'metricRecorded')).not.toBe(yes);
    const fragment = (field: string) => parse(`subscription { metricRecorded(filter: { metrics: ["a"] }) { ...E } } fragment E on MetricRecordedEvent { dropped point { ${field} } }`);
    expect(selectionKey(fragment('value'), undefined, {}, 'metricRecorded')).not.toBe(selectionKey(fragment('metric'), undefined, {}, 'metricRecorded'));
    expect(selectionKey(parse('subscription { metricRecorded(filter: { metrics: ["a"] }) @include(if: true) { dropped } }'), undefined, {}, 'metricRecorded')).toBeNull();
    expect(selectionKey(parse('subscription { alertEvents { id } }'), undefined, {}, 'metricRecorded')).toBeNull();
    expect(selectionKey(parse('query { metricRecorded { dropped } }'), undefined, {}, 'metricRecorded')).toBeNull();
  });

  test('the bus delivers on the next turn of the event loop, in publish order, never inside publish()', async () => {
    const bus = createLocalBus(createLogger('silent'));
    const seen: number[] = [];
    bus.subscribe('t', (points) => seen.push(...points.map((p) => p.value)), ['m']);
    const point = (value: number): LivePoint => ({ id: String(value), metric: 'm', type: 'GAUGE', unit: null, tags: {}, time: new Date(0), value });
    bus.publish('t', [point(1)]);
    bus.publish('t', [point(2), point(3)]);
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([1, 2, 3]);
    await bus.close();
  });
});

const BUSES = TEST_REDIS_URL ? (['in-process', 'redis'] as const) : (['in-process'] as const);

/** A raw graphql-transport-ws connection: every message as the text that arrived. */
async function rawClient(app: TestApp, token: string) {
  const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const texts: string[] = [];
  socket.on('message', (data) => texts.push(String(data)));
  await new Promise((resolve) => socket.on('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await eventually(() => texts.includes('{"type":"connection_ack"}'));
  return {
    texts,
    subscribe: (id: string, query: string, variables: Record<string, unknown> = {}) => socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } })),
    complete: (id: string) => socket.send(JSON.stringify({ id, type: 'complete' })),
    /** The `next` messages of subscription `id`, as text. */
    nexts: (id: string) => texts.filter((t) => t.startsWith(`{"id":${JSON.stringify(id)},"type":"next"`)),
    close: () => socket.close(),
  };
}

describe.each(BUSES)('direct delivery through the server on the %s bus', (bus) => {
  let app: TestApp;
  let tenantA: { tenantId: string; adminKey: string };
  let tenantB: { tenantId: string; adminKey: string };
  beforeAll(async () => {
    app = await startApp('embedded', bus === 'redis' ? { REDIS_URL: TEST_REDIS_URL! } : {});
    tenantA = await app.createTenant();
    tenantB = await app.createTenant();
  });
  afterAll(async () => {
    await app.close();
  });

  const record = async (token: string, metrics: Array<Record<string, unknown>>) => {
    const result = await app.post<{ recordMetrics: { accepted: number } }>({ query: 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }', variables: { m: metrics } }, token);
    expect(result.body.errors).toBeUndefined();
  };

  test('the direct path sends byte for byte what graphql-ws’s own path sends, for plain, aliased, fragment and variable selections', async () => {
    const client = await rawClient(app, tenantA.adminKey);
    const selection = 'dropped point { id metric type unit tags timestamp value }';
    // @include on the root field keeps a subscription on graphql-ws's ordinary path: the baseline.
    client.subscribe('plain', `subscription { metricRecorded(filter: { metrics: ["exact.m"] }) @include(if: true) { ${selection} } }`);
    client.subscribe('direct', `subscription { metricRecorded(filter: { metrics: ["exact.m"] }) { ${selection} } }`);
    client.subscribe('alias', 'subscription Named($t: Boolean!) { live: metricRecorded(filter: { metrics: ["exact.m"], tags: { host: "a" } }) { ...E } } fragment E on MetricRecordedEvent { __typename n: dropped point { v: value tags @include(if: $t) } }', { t: false });
    await eventually(() => recordedFeeds(app.server.deps.bus).stats().subscribers === 3); // all three in place
    const timestamp = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000).toISOString();
    const id = '4f9c5a8e-3b1d-4c2a-9e7f-0a1b2c3d4e5f';
    await record(tenantA.adminKey, [{ id, name: 'exact.m', type: 'GAUGE', value: 2.25, unit: 'ms', tags: { host: 'a', dc: 'x' }, timestamp }]);
    await eventually(() => client.nexts('plain').length === 1 && client.nexts('direct').length === 1 && client.nexts('alias').length === 1);
    const point = `{"id":"${id}","metric":"exact.m","type":"GAUGE","unit":"ms","tags":{"dc":"x","host":"a"},"timestamp":"${timestamp}","value":2.25}`;
    expect(client.nexts('plain')).toEqual([`{"id":"plain","type":"next","payload":{"data":{"metricRecorded":{"dropped":0,"point":${point}}}}}`]);
    expect(client.nexts('direct')).toEqual([`{"id":"direct","type":"next","payload":{"data":{"metricRecorded":{"dropped":0,"point":${point}}}}}`]);
    expect(client.nexts('alias')).toEqual(['{"id":"alias","type":"next","payload":{"data":{"live":{"__typename":"MetricRecordedEvent","n":0,"point":{"v":2.25}}}}}']);

    // complete from the client ends the direct subscription: nothing more arrives on it.
    client.complete('direct');
    await eventually(() => recordedFeeds(app.server.deps.bus).stats().subscribers === 2);
    await record(tenantA.adminKey, [{ name: 'exact.m', type: 'GAUGE', value: 3, tags: { host: 'a' } }]);
    await eventually(() => client.nexts('plain').length === 2 && client.nexts('alias').length === 2);
    // One delivery pass sends an event to every subscription on the socket: 'direct' would have had it by now.
    expect(client.nexts('direct')).toHaveLength(1);
    client.close();
  });

  test('tenant B, subscribed with the very same text (so the same shared payload key), never gets A’s point, and A never gets B’s', async () => {
    const query = 'subscription { metricRecorded(filter: { metrics: ["shared.secret"] }) { point { value } } }';
    const a = await rawClient(app, tenantA.adminKey);
    const b = await rawClient(app, tenantB.adminKey);
    a.subscribe('1', query);
    b.subscribe('1', query);
    await eventually(() => recordedFeeds(app.server.deps.bus).stats().subscribers === 2);
    await record(tenantA.adminKey, [{ name: 'shared.secret', type: 'GAUGE', value: 41 }]);
    await eventually(() => a.nexts('1').length === 1);
    // Each write's points go out in order: B's own point is the first B gets if A's never came; and likewise for A.
    await record(tenantB.adminKey, [{ name: 'shared.secret', type: 'GAUGE', value: 7 }]);
    await eventually(() => b.nexts('1').length === 1);
    await record(tenantA.adminKey, [{ name: 'shared.secret', type: 'GAUGE', value: 43 }]);
    await eventually(() => a.nexts('1').length === 2);
    expect(a.nexts('1')).toEqual(['{"id":"1","type":"next","payload":{"data":{"metricRecorded":{"point":{"value":41}}}}}', '{"id":"1","type":"next","payload":{"data":{"metricRecorded":{"point":{"value":43}}}}}']);
    expect(b.nexts('1')).toEqual(['{"id":"1","type":"next","payload":{"data":{"metricRecorded":{"point":{"value":7}}}}}']);
    a.close();
    b.close();
  });

  test('a crowd of connections authenticating one key at once is one lookup: every one gets the same principal', async () => {
    const { key } = await app.createKey(tenantA.adminKey, 'VIEWER');
    const principals = await Promise.all(Array.from({ length: 100 }, () => app.server.deps.auth.authenticate(key)));
    expect(new Set(principals).size).toBe(1);
    expect(principals[0]).toMatchObject({ kind: 'tenant', tenantId: tenantA.tenantId, role: 'VIEWER' });
    await expect(Promise.all([app.server.deps.auth.authenticate('mg_not_a_key'), app.server.deps.auth.authenticate('mg_not_a_key')])).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });

  test('subscribers of one filter share one listener; a different tag filter is a group of its own; nothing is left once they go', async () => {
    const groups = recordedFeeds(app.server.deps.bus);
    await eventually(() => groups.stats().filters === 0 && app.server.deps.bus.stats().listeners === 0);
    const client = await rawClient(app, tenantA.adminKey);
    const filter = (tags: string) => `subscription { metricRecorded(filter: { metrics: ["grouped.m"]${tags} }) { point { value } } }`;
    client.subscribe('1', filter(''));
    client.subscribe('2', filter(''));
    client.subscribe('3', filter(', tags: { host: "b" }'));
    await eventually(() => groups.stats().subscribers === 3);
    expect(groups.stats()).toEqual({ filters: 2, subscribers: 3 });
    expect(app.server.deps.bus.stats().listeners).toBe(2);
    // Envelop's subscription hooks still run on the direct path: the live gauge counts them, and (below) lets them go.
    const gauge = async () => (await app.server.deps.metrics.liveSubscriptions.get()).values.find((v) => v.labels.field === 'metricRecorded')?.value ?? 0;
    expect(await gauge()).toBe(3);
    await record(tenantA.adminKey, [
      { name: 'grouped.m', type: 'GAUGE', value: 1, tags: { host: 'a' } },
      { name: 'grouped.m', type: 'GAUGE', value: 2, tags: { host: 'b' } },
    ]);
    await eventually(() => client.nexts('1').length === 2 && client.nexts('2').length === 2 && client.nexts('3').length === 1);
    expect(client.nexts('3')).toEqual(['{"id":"3","type":"next","payload":{"data":{"metricRecorded":{"point":{"value":2}}}}}']);
    client.close();
    await eventually(() => groups.stats().filters === 0 && app.server.deps.bus.stats().listeners === 0);
    await expect.poll(gauge).toBe(0);
  });
});
