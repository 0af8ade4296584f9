/**
 * WebSocket credentials where GraphiQL sends them: an empty `connection_init`, then the headers
 * its user pasted in each subscribe message's `payload.extensions.headers`. Checked with the raw
 * graphql-ws protocol, message by message; `connectionParams` keeps working beside it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WS_CREDENTIALS_HINT } from '../src/context.js';
import { inEnglish } from '../src/messages.js';
import { startApp, type TestApp } from './harness.js';
import { RevokeApiKey } from './operations.js';
import { openRawSocket, refusal, type RawSocket } from './ws-raw.js';

const RECORDED = 'subscription { metricRecorded(filter: { metrics: ["ws.auth"] }) { point { metric value tags } } }';

describe('subscriptions authenticated by the Authorization header in payload.extensions.headers', () => {
  let app: TestApp;
  let a: { tenantId: string; adminKey: string };
  let b: { tenantId: string; adminKey: string };
  const sockets: Array<{ close(): void }> = [];
  const connect = async (params?: Record<string, unknown>) => {
    const socket = await openRawSocket(app, params);
    sockets.push(socket);
    return socket;
  };
  const record = (key: string, value: number, host: string) =>
    app.gql(`mutation { recordMetric(input: { name: "ws.auth", value: ${value}, type: GAUGE, tags: { host: "${host}" } }) { id } }`, {}, key);
  const subscribe = (socket: RawSocket, id: string, headers?: Record<string, string>) =>
    socket.send({ type: 'subscribe', id, payload: { query: RECORDED, ...(headers ? { extensions: { headers } } : {}) } });

  beforeAll(async () => {
    app = await startApp('embedded', { LIVE_AUTH_RECHECK_MS: '200' });
    a = await app.createTenant();
    b = await app.createTenant();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await app?.close();
  });

  test('GraphiQL’s way: empty connection_init, the pasted header in the subscribe message; points arrive', async () => {
    const socket = await connect();
    subscribe(socket, '1', { Authorization: `Bearer ${a.adminKey}` });
    expect(await socket.nextAfter(() => record(a.adminKey, 42, 'h1'), (m) => m.id === '1')).toEqual({ type: 'next', id: '1', payload: { data: { metricRecorded: { point: { metric: 'ws.auth', value: 42, tags: { host: 'h1' } } } } } });
  });

  test('the header name is case-insensitive and an empty value falls back to connectionParams', async () => {
    const socket = await connect({ authorization: `Bearer ${a.adminKey}` });
    subscribe(socket, 'lower', { authorization: `Bearer ${a.adminKey}` });
    subscribe(socket, 'empty', { Authorization: '' });
    const got = [await socket.nextAfter(() => record(a.adminKey, 7, 'h2'), (m) => m.id === 'lower'), await socket.nextAfter(() => record(a.adminKey, 7, 'h2'), (m) => m.id === 'empty')];
    expect(got.map((m) => [m.type, m.payload.data.metricRecorded.point.value])).toEqual([
      ['next', 7],
      ['next', 7],
    ]);
  });

  test.each([
    ['an unknown key', 'Bearer mg_notakeyatall000000000000000000000', 'Invalid API key'],
    ['a header without Bearer', 'mg_whatever', 'Authorization must be "Bearer <token>"'],
    ['GraphiQL’s template left unfilled', 'Bearer <your API key>', inEnglish('auth.replacePlaceholder')],
  ])('%s in the header: that subscription gets UNAUTHENTICATED, the socket stays open', async (_, header, message) => {
    const socket = await connect();
    socket.send({ type: 'subscribe', id: 'bad', payload: { query: RECORDED, extensions: { headers: { Authorization: header } } } });
    expect(refusal(await socket.next((m) => m.id === 'bad'))).toEqual([['UNAUTHENTICATED', message]]);
    // The same socket still serves a subscription with a good header.
    subscribe(socket, 'good', { Authorization: `Bearer ${a.adminKey}` });
    expect((await socket.nextAfter(() => record(a.adminKey, 1, 'h3'), (m) => m.id === 'good')).type).toBe('next');
  });

  test('no credentials anywhere: the error says connectionParams, not a header', async () => {
    const socket = await connect();
    socket.send({ type: 'subscribe', id: 'none', payload: { query: RECORDED } });
    expect(refusal(await socket.next((m) => m.id === 'none'))).toEqual([['UNAUTHENTICATED', WS_CREDENTIALS_HINT]]);
    expect(WS_CREDENTIALS_HINT).toContain('connectionParams');
  });

  test('per subscription: tenant B’s header on a socket opened as A sees only B’s points (A writes first)', async () => {
    const socket = await connect({ authorization: `Bearer ${a.adminKey}` });
    subscribe(socket, 'as-b', { Authorization: `Bearer ${b.adminKey}` });
    const first = await socket.nextAfter(async () => {
      await record(a.adminKey, 100, 'from-a');
      await record(b.adminKey, 200, 'from-b');
    }, (m) => m.id === 'as-b');
    expect(first.payload.data.metricRecorded.point).toEqual({ metric: 'ws.auth', value: 200, tags: { host: 'from-b' } });
    // A's points, written just before each of B's, never reached it.
    await socket.nextAfter(() => record(b.adminKey, 201, 'from-b'), (m) => m.id === 'as-b' && m.payload.data.metricRecorded.point.value === 201);
    expect(socket.inbox.filter((m) => m.id === 'as-b').map((m) => m.payload.data.metricRecorded.point.tags.host)).not.toContain('from-a');
  });

  test('a key revoked while its subscription runs ends the socket with 4403 (the same re-check as connectionParams)', async () => {
    const { key, id } = await app.createKey(a.adminKey, 'VIEWER');
    const socket = await connect();
    subscribe(socket, 'doomed', { Authorization: `Bearer ${key}` });
    await socket.nextAfter(() => record(a.adminKey, 5, 'h4'), (m) => m.id === 'doomed');
    const revoked = await app.gql(RevokeApiKey, { id }, a.adminKey);
    expect(revoked.errors).toBeUndefined();
    expect(await socket.whenClosed()).toEqual({ code: 4403, reason: 'Forbidden: the credentials were revoked or have expired' });
  });
});
