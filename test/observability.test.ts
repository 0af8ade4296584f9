/**
 * The service's own observability: /metrics in the Prometheus text format (checked with a
 * Prometheus text parser), JSON log lines with a request id per request and per WebSocket
 * operation and no secrets, and /health split into liveness and readiness.
 */
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps, type Server } from '../src/server.js';
import { createTestDatabase, ENGINES, JWT_SECRET, OPERATOR_TOKEN, sharedEmbedded, startApp, type TestApp } from './harness.js';
import { CreateTenant, RecordMetric, RecordMetrics, Tenant } from './operations.js';
import { print } from 'graphql';

async function scrape(url: string, token?: string): Promise<{ families: MetricFamily[]; text: string }> {
  const response = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { families: parsePrometheusTextFormat(text), text };
}

/** A histogram's `_count` for exactly these labels (the parser drops a histogram's labels, so read the text). */
function histogramCount(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const line = text.split('\n').find((l) => l.startsWith(`${name}_count{${wanted}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** The value of one sample: the family's sample whose labels include `labels`. */
function sample(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const found = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!found) return undefined;
  return Number(found.value ?? found.count);
}

describe.each(ENGINES)('observability on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(engine, { METRICS_TOKEN: 'metrics-token-0123456789' });
  });
  afterAll(() => app?.close());

  test('/metrics parses as Prometheus text and counts operations, points, rejections, jobs, pool and cache', async () => {
    const { adminKey } = await app.createTenant();
    await app.gql(RecordMetric, { input: { name: 'obs.one', value: 1, type: 'GAUGE', timestamp: '2026-03-01T10:00:00Z' } }, adminKey);
    const batch = await app.gql(
      RecordMetrics,
      {
        metrics: [
          { name: 'obs.one', value: 2, type: 'GAUGE', timestamp: '2026-03-01T10:01:00Z' },
          { name: 'obs.one', value: 3, type: 'COUNTER', timestamp: '2026-03-01T10:02:00Z' }, // conflicts with GAUGE
          { name: '1bad', value: 4, type: 'GAUGE' }, // invalid name
        ],
      },
      adminKey,
    );
    expect(batch.data?.recordMetrics).toMatchObject({ accepted: 1, failed: [{ index: 1 }, { index: 2 }] });
    await app.gql(Tenant, {}, 'mg_not-a-key');
    await app.server.deps.scheduler.run('obs.test', new Date('2026-11-24T10:00:00Z'), async () => 5);

    const { families, text } = await scrape(app.url, 'metrics-token-0123456789');
    for (const family of families) expect(family.help, family.name).not.toBe('');
    expect(sample(families, 'metrograph_graphql_operations_total', { operation: 'mutation recordMetric', outcome: 'ok' })).toBe(1);
    expect(sample(families, 'metrograph_graphql_operations_total', { operation: 'mutation recordMetrics', outcome: 'ok' })).toBe(1);
    expect(sample(families, 'metrograph_graphql_operations_total', { operation: 'mutation createTenant', outcome: 'ok' })).toBe(1);
    expect(families.find((f) => f.name === 'metrograph_graphql_operation_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(histogramCount(text, 'metrograph_graphql_operation_duration_seconds', { operation: 'mutation recordMetric' })).toBe(1);
    expect(sample(families, 'metrograph_points_ingested_total')).toBe(2);
    expect(sample(families, 'metrograph_points_rejected_total', { reason: 'conflict' })).toBe(1);
    expect(sample(families, 'metrograph_points_rejected_total', { reason: 'validation' })).toBe(1);
    expect(sample(families, 'metrograph_job_runs_total', { job: 'obs.test', status: 'COMPLETED' })).toBe(1);
    expect(histogramCount(text, 'metrograph_job_duration_seconds', { job: 'obs.test' })).toBe(1);
    expect(sample(families, 'metrograph_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    expect(sample(families, 'metrograph_query_cache_hit_ratio')).toBeGreaterThanOrEqual(0);
    expect(families.find((f) => f.name === 'metrograph_query_cache_requests_total')?.type).toBe('COUNTER');
    expect(families.find((f) => f.name === 'metrograph_live_subscriptions')?.type).toBe('GAUGE');
    expect(sample(families, 'metrograph_http_requests_total', { route: '/graphql', method: 'POST', status: '200' })).toBe(3);
    expect(sample(families, 'metrograph_http_requests_total', { route: '/graphql', method: 'POST', status: '401' })).toBe(1);
    expect(sample(families, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  test('/metrics with METRICS_TOKEN set refuses a scrape without it', async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    // Wrong, a prefix, longer, and a Latin-1 character at the same length in characters: all refused alike.
    for (const token of ['wrong-token-0123456789', 'metrics-token', 'metrics-token-0123456789x', 'metrics-token-012345678é']) {
      expect((await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    }
  });

  test('/health/live always answers; /health/ready and /health check the database', async () => {
    const liveness = await fetch(`${app.url}/health/live`);
    expect([liveness.status, await liveness.json()]).toEqual([200, { status: 'ok' }]);
    for (const path of ['/health/ready', '/health']) {
      const readiness = await fetch(`${app.url}${path}`);
      expect(readiness.status).toBe(200);
      expect(await readiness.json()).toMatchObject({ status: 'ok', database: { status: 'up', engine } });
    }
  });

  test('a client x-request-id is echoed; otherwise each response gets a new one', async () => {
    const given = await fetch(`${app.url}/health/live`, { headers: { 'x-request-id': 'client-id-42' } });
    expect(given.headers.get('x-request-id')).toBe('client-id-42');
    const [a, b] = await Promise.all([fetch(`${app.url}/health/live`), fetch(`${app.url}/health/live`, { headers: { 'x-request-id': 'bad id with spaces' } })]);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });
});

describe.each(ENGINES)('logs on %s', (engine) => {
  const lines: Array<Record<string, unknown>> = [];
  let server: Server;
  let url: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const database = engine === 'postgres' ? await createTestDatabase() : undefined;
    const env = parseEnv({ NODE_ENV: 'test', OPERATOR_TOKEN, JWT_SECRET, RETENTION_CRON: 'off', ...(database ? { DATABASE_URL: database.url } : {}) });
    const log = createLogger('debug', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const deps = await openDeps(env, log, { embeddedDataDir: null, db: engine === 'embedded' ? await sharedEmbedded() : undefined });
    server = createServer(deps);
    url = await server.start(0, '127.0.0.1');
    close = async () => {
      await server.stop();
      await deps.close();
      await database?.drop();
    };
  });
  afterAll(() => close?.());

  const post = (body: unknown, token: string, requestId: string) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': requestId },
      body: JSON.stringify(body),
    }).then((r) => r.json() as Promise<{ data?: any }>);

  test('every line is JSON with level, time and msg; a request id ties the operation to its HTTP request; no secret is written', async () => {
    const created = await post({ query: print(CreateTenant), variables: { input: { name: `logs-${engine}` } } }, OPERATOR_TOKEN, 'req-create');
    const adminKey: string = created.data.createTenant.adminKey.key;
    await post({ query: print(RecordMetric), variables: { input: { name: 'log.me', value: 1, type: 'GAUGE' } } }, adminKey, 'req-record');
    const mine = lines.filter((l) => l.requestId === 'req-record');
    expect(mine.map((l) => l.msg).sort()).toEqual(['graphql operation', 'http request']);
    expect(mine.find((l) => l.msg === 'graphql operation')).toMatchObject({ level: 'info', operation: 'mutation recordMetric', outcome: 'ok', keyId: expect.any(String) });
    expect(mine.find((l) => l.msg === 'http request')).toMatchObject({ level: 'info', method: 'POST', path: '/graphql', status: '200' });
    for (const line of lines) {
      expect(line).toMatchObject({ level: expect.any(String), time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), msg: expect.any(String) });
    }
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toContain(adminKey);
    expect(all).not.toContain(OPERATOR_TOKEN);
  });

  test('each WebSocket operation gets its own request id', async () => {
    const { createClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const created = await post({ query: print(CreateTenant), variables: { input: { name: `logs-ws-${engine}` } } }, OPERATOR_TOKEN, 'req-create-ws');
    const adminKey: string = created.data.createTenant.adminKey.key;
    const client = createClient({ url: url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${adminKey}` }, lazy: false });
    const run = () =>
      new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        client.subscribe({ query: print(Tenant) }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
      });
    await run();
    await run();
    await client.dispose();
    const ws = lines.filter((l) => l.msg === 'graphql operation' && l.operation === 'query tenant' && l.requestId !== undefined);
    expect(ws).toHaveLength(2);
    expect(ws[0]!.requestId).not.toBe(ws[1]!.requestId);
  });
});
