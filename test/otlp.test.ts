/**
 * OTLP/HTTP metrics at POST /v1/metrics: the OpenTelemetry JS SDK's own exporters (protobuf and
 * JSON) against a real server, and hand-built requests for what an SDK does not send (resends,
 * resets, bad input). What is stored is read back through tenant_points and the public API.
 */
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import protobuf from 'protobufjs';
import pg from 'pg';
import { sql } from 'kysely';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { signJwt } from '../src/auth.js';
import { nanosToMs } from '../src/ingest/otlp-decode.js';
import { ENGINES, JWT_SECRET, OPERATOR_TOKEN, startApp, type TestApp } from './harness.js';
import { figures, protocolSuite, storedRows, watchPoints, type ProtocolTenant } from './protocol-fixtures.js';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(import.meta.dirname, '../proto', target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const ExportRequest = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const ExportResponse = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');

const ns = (date: Date | number) => `${BigInt(typeof date === 'number' ? date : date.getTime()) * 1_000_000n}`;
const attrs = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value: { stringValue: value } }));

/** An ExportMetricsServiceRequest (JSON form) with the metrics under one resource and scope. */
const request = (metrics: unknown[], resource: Record<string, string> = { 'service.name': 'svc' }) => ({
  resourceMetrics: [{ resource: { attributes: attrs(resource) }, scopeMetrics: [{ scope: { name: 'lib' }, metrics }] }],
});

async function post(app: TestApp, body: unknown, token: string, options: { format?: 'json' | 'protobuf'; gzip?: boolean; headers?: Record<string, string> } = {}) {
  const format = options.format ?? 'json';
  let bytes: Uint8Array = format === 'json' ? Buffer.from(JSON.stringify(body)) : ExportRequest.encode(ExportRequest.fromObject(body as object)).finish();
  if (options.gzip) bytes = gzipSync(bytes);
  const response = await fetch(`${app.url}/v1/metrics`, {
    method: 'POST',
    headers: { 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf', authorization: `Bearer ${token}`, ...(options.gzip ? { 'content-encoding': 'gzip' } : {}), ...options.headers },
    body: Buffer.from(bytes) as unknown as BodyInit,
  });
  const raw = new Uint8Array(await response.arrayBuffer());
  let parsed: Record<string, any> = {};
  if (raw.length > 0) parsed = format === 'json' || !response.ok ? safeJson(raw) : (ExportResponse.toObject(ExportResponse.decode(raw), { longs: Number }) as Record<string, any>);
  return { status: response.status, body: parsed, headers: response.headers };
}
const safeJson = (raw: Uint8Array) => {
  try {
    return JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return { raw: Buffer.from(raw).toString('utf8') };
  }
};

/** One scale-6 cell of the percentile sketch: (γ^i, γ^(i+1)], γ = 2^(1/64). */
const cell = (x: number) => Math.ceil(Math.log2(x) * 64) - 1;

test('a time in nanoseconds is its exact millisecond, whether it arrives as a Long (protobuf), a decimal string (JSON) or a number', () => {
  // 1 in 8 of today's millisecond times used to come out a millisecond early: num(ns) / 1e6
  // rounded the nanoseconds to 256 ns and new Date() truncated what fell just under.
  const base = Date.UTC(2026, 11, 2, 3, 0, 0);
  const off: number[] = [];
  for (let t = base; t < base + 4_000; t++) {
    const nanos = BigInt(t) * 1_000_000n;
    const long = ExportRequest.fromObject({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ gauge: { dataPoints: [{ timeUnixNano: `${nanos}` }] } }] }] }] }) as any;
    const asLong = long.resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano;
    for (const v of [asLong, `${nanos}`, Number(nanos)]) if (new Date(nanosToMs(v)).getTime() !== t) off.push(t);
  }
  expect(off).toEqual([]);
  expect(nanosToMs(`${BigInt(base) * 1_000_000n + 1_500n}`)).toBe(base + 0.001); // microseconds kept
  expect(nanosToMs(null)).toBe(0);
  // A Long is converted by integer arithmetic while its microseconds fit a double, by BigInt past that: the same either side.
  for (const nanos of [2_097_150_999n << 32n, (2_097_151_000n << 32n) - 1n, 2_097_151_000n << 32n, (1n << 63n) + 12_345n, (1n << 64n) - 1n]) {
    const long = (protobuf.util.Long as unknown as typeof import('long').default).fromString(`${nanos}`, true);
    expect(nanosToMs(long as never)).toBe(Number(nanos / 1000n) / 1e3);
  }
});

describe.each(ENGINES)('OTLP/HTTP metrics (%s)', (engine) => {
  let app: TestApp;
  let tenant: ProtocolTenant;
  protocolSuite(engine, (started) => ({ app, tenant } = started));

  test('the OpenTelemetry SDK (protobuf exporter): counters, gauges, up-down counters, histograms and exponential histograms land with their exact figures', async () => {
    const watch = await watchPoints(app, tenant.adminKey, ['checkout.orders']);
    const reader = new PeriodicExportingMetricReader({
      exporter: new ProtoExporter({ url: `${app.url}/v1/metrics`, headers: { authorization: `Bearer ${tenant.adminKey}` } }),
      exportIntervalMillis: 3_600_000,
    });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'checkout', 'process.pid': 4242 }),
      readers: [reader],
      views: [{ instrumentName: 'checkout.latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    });
    const meter = provider.getMeter('shop', '1.0.0');
    const orders = meter.createCounter('checkout.orders', { unit: '{order}' });
    const queue = meter.createGauge('checkout.queue');
    const inflight = meter.createUpDownCounter('checkout.inflight');
    const latency = meter.createHistogram('checkout.latency', { unit: 'ms' });
    const exponential = meter.createHistogram('checkout.latency.exp', { unit: 'ms' });
    const observed = [100, 101.5, 104, 110, 110, 125, 129.9];

    orders.add(5, { region: 'eu' });
    orders.add(3, { region: 'eu' });
    orders.add(4, { region: 'us' });
    queue.record(7);
    inflight.add(3);
    inflight.add(-1);
    for (const v of [1, 7, 30, 200]) latency.record(v);
    for (const v of observed) exponential.record(v);
    await reader.forceFlush();
    orders.add(2, { region: 'eu' });
    latency.record(12);
    exponential.record(140);
    await reader.forceFlush();
    await provider.shutdown(); // a third export: cumulative counters unchanged, histograms with nothing new

    // Cumulative counter → increments: the first export counts whole (its start time is the SDK's start), then the differences.
    const orderRows = await storedRows(app, tenant.tenantId, 'checkout.orders');
    const byRegion = (region: string) => orderRows.filter((r) => r.tags.region === region).map((r) => r.value);
    expect(byRegion('eu')).toEqual([8, 2, 0]);
    expect(byRegion('us')).toEqual([4, 0, 0]);
    expect(orderRows.find((r) => r.tags.region === 'eu')).toMatchObject({ type: 'COUNTER', unit: '{order}', tags: { 'otel.scope.name': 'shop', region: 'eu', 'service.name': 'checkout' } });
    expect(orderRows[0]!.tags).not.toHaveProperty('process.pid');

    expect((await storedRows(app, tenant.tenantId, 'checkout.queue')).map((r) => [r.type, r.value])).toEqual([['GAUGE', 7], ['GAUGE', 7], ['GAUGE', 7]]);
    expect((await storedRows(app, tenant.tenantId, 'checkout.inflight')).map((r) => [r.type, r.value])).toEqual([['GAUGE', 2], ['GAUGE', 2], ['GAUGE', 2]]);

    // Explicit buckets: one row per non-empty bucket at its representative, the exact figures on the first row.
    const latencyRows = await storedRows(app, tenant.tenantId, 'checkout.latency');
    const times = [...new Set(latencyRows.map((r) => r.time.getTime()))];
    expect(times).toHaveLength(2); // the third export had no new observation: no rows
    const [t1, t2] = times;
    const first = latencyRows.filter((r) => r.time.getTime() === t1);
    expect(first.every((r) => r.type === 'HISTOGRAM' && r.weight === 1)).toBe(true);
    // (0,5] clamped to [min 1, 5], (5,10], (25,50], (100,250] clamped to [100, max 200]: geometric midpoints.
    expect(first.map((r) => r.value)).toEqual([Math.sqrt(5), Math.sqrt(50), Math.sqrt(1250), Math.sqrt(20000)]);
    expect(figures(first)).toEqual({ count: 4, sum: expect.closeTo(238, 9), min: 1, max: 200 });
    // The second export is cumulative: only what was recorded since is stored (12, in (10, 25]).
    const second = latencyRows.filter((r) => r.time.getTime() === t2);
    expect(second.map((r) => r.weight)).toEqual([1]);
    expect(figures(second).sum).toBeCloseTo(12, 9);
    expect(second[0]!.value).toBeCloseTo(Math.sqrt(250), 9);

    // Exponential buckets: every observation's sketch cell (scale 6) is where its row is.
    const expRows = await storedRows(app, tenant.tenantId, 'checkout.latency.exp');
    const [e1, e2] = [...new Set(expRows.map((r) => r.time.getTime()))];
    const firstExp = expRows.filter((r) => r.time.getTime() === e1);
    const cells = (rows: typeof expRows) => rows.flatMap((r) => Array(r.weight ?? 1).fill(cell(r.value))).sort();
    expect(cells(firstExp)).toEqual(observed.map(cell).sort());
    expect(figures(firstExp)).toEqual({ count: 7, sum: expect.closeTo(observed.reduce((a, b) => a + b), 9), min: 100, max: 129.9 });
    const secondExp = expRows.filter((r) => r.time.getTime() === e2);
    expect(cells(secondExp)).toEqual([cell(140)]);
    expect(figures(secondExp)).toMatchObject({ count: 1, sum: expect.closeTo(140, 9), max: 140 });

    // Through the API: the counter's increase per region.
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const answer = await app.gql<any, any>(
      `query($from: DateTime!) { metricAggregates(input: { metrics: ["checkout.orders"], from: $from, groupBy: ["region"] }) { series { tags buckets { sum } } } }`,
      { from },
      tenant.adminKey,
    );
    const sums = Object.fromEntries(answer.data.metricAggregates.series.map((s: any) => [s.tags.region, s.buckets.reduce((n: number, b: any) => n + b.sum, 0)]));
    expect(sums).toEqual({ eu: 10, us: 4 });

    // Live subscribers saw the increments.
    await watch.until(6);
    expect(watch.points.map((p) => `${p.tags.region}:${p.value}`).sort()).toEqual(['eu:0', 'eu:2', 'eu:8', 'us:0', 'us:0', 'us:4']);
    watch.close();

    // One audit row per export, naming the protocol.
    const audit = await app.gql<any, any>('{ auditLog(filter: { actions: [METRICS_BATCH_RECORDED] }) { entries { details } } }', {}, tenant.adminKey);
    const details = audit.data.auditLog.entries.map((e: any) => JSON.parse(e.details)).filter((d: any) => d.protocol === 'otlp_protobuf');
    expect(details).toHaveLength(3);
    expect(details[0]).toMatchObject({ duplicateRequest: false, rejected: 0 });
  });

  test('the OpenTelemetry SDK (JSON exporter, a JWT with a writer role)', async () => {
    const jwt = signJwt({ tenant_id: tenant.tenantId, role: 'DEVELOPER', exp: Math.floor(Date.now() / 1000) + 600 }, JWT_SECRET);
    const reader = new PeriodicExportingMetricReader({
      exporter: new JsonExporter({ url: `${app.url}/v1/metrics`, headers: { authorization: `Bearer ${jwt}` } }),
      exportIntervalMillis: 3_600_000,
    });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'json-svc' }), readers: [reader] });
    const meter = provider.getMeter('json');
    meter.createCounter('json.requests').add(9, { route: '/a' });
    meter.createHistogram('json.size', { unit: 'By' }).record(512);
    await reader.forceFlush();
    await provider.shutdown();
    expect((await storedRows(app, tenant.tenantId, 'json.requests')).map((r) => [r.value, r.tags])).toEqual([
      [9, { 'otel.scope.name': 'json', route: '/a', 'service.name': 'json-svc' }],
      [0, { 'otel.scope.name': 'json', route: '/a', 'service.name': 'json-svc' }],
    ]);
    const size = await storedRows(app, tenant.tenantId, 'json.size');
    expect(figures(size)).toEqual({ count: 1, sum: 512, min: 512, max: 512 });
  });

  test('a resent identical request is stored once; cumulative state survives requests and resets count from zero', async () => {
    const t0 = Date.now() - 60_000;
    const sum = (points: Array<[number, number]>, start: number) => ({
      name: 'resend.total',
      sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: points.map(([t, v]) => ({ startTimeUnixNano: ns(start), timeUnixNano: ns(t), asInt: v, attributes: attrs({ k: 'v' }) })) },
    });
    // The process started long before: its first point is a start, not an increment.
    const old = t0 - 3_600_000;
    const first = request([sum([[t0, 100]], old)]);
    for (const format of ['json', 'protobuf'] as const) {
      expect((await post(app, first, tenant.adminKey, { format })).status).toBe(200);
    }
    const second = request([sum([[t0 + 10_000, 130], [t0 + 20_000, 135]], old)]);
    expect((await post(app, second, tenant.adminKey, { gzip: true })).status).toBe(200);
    expect((await post(app, second, tenant.adminKey, { gzip: true })).status).toBe(200); // the retry of a lost answer
    // A restart: a new start time and a lower value; the whole value is the increment since.
    const third = request([sum([[t0 + 30_000, 4]], t0 + 25_000)]);
    expect((await post(app, third, tenant.adminKey)).status).toBe(200);
    expect((await storedRows(app, tenant.tenantId, 'resend.total')).map((r) => r.value)).toEqual([30, 5, 4]);

    const audit = await app.gql<any, any>('{ auditLog(filter: { actions: [METRICS_BATCH_RECORDED] }) { entries { details } } }', {}, tenant.adminKey);
    const resends = audit.data.auditLog.entries.map((e: any) => JSON.parse(e.details)).filter((d: any) => d.metrics?.includes('resend.total'));
    expect(resends.map((d: any) => d.duplicateRequest).sort()).toEqual([false, false, false, false, true]);

    // A point not newer than the last one is refused as out of order.
    const late = await post(app, request([sum([[t0 + 5_000, 200]], t0 + 25_000)]), tenant.adminKey);
    expect(late.body.partialSuccess.rejectedDataPoints).toBe(1);
    expect(late.body.partialSuccess.errorMessage).toMatch(/not newer than the last one stored/);
  });

  test('a store that fails after the increments were computed moves no cumulative state: the next request measures from the last value stored', async () => {
    // A trigger that fails the transaction storing one poisoned gauge value, after the
    // counter's increment in the same request was computed.
    const owner = app.server.deps.db.kysely;
    const POISON = -777.25;
    await sql.raw(`create or replace function test_poison_point() returns trigger language plpgsql as $$
      begin if new.value = ${POISON} then raise exception 'poisoned point'; end if; return new; end $$`).execute(owner);
    await sql`create trigger test_poison_point before insert on points for each row execute function test_poison_point()`.execute(owner);
    try {
      const t0 = Date.now() - 120_000;
      const body = (t: number, total: number, gauge: number) =>
        request([
          { name: 'failing.total', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(t), asDouble: total }] } },
          { name: 'failing.gauge', gauge: { dataPoints: [{ timeUnixNano: ns(t), asDouble: gauge }] } },
        ]);
      expect((await post(app, body(t0, 10, 1), tenant.adminKey)).status).toBe(200); // the counter's start
      expect((await post(app, body(t0 + 1_000, 12, 1), tenant.adminKey)).status).toBe(200); // +2; all cached now
      // The one-round-trip script fails (state 20 computed and cached, then refused with the rest)…
      expect((await post(app, body(t0 + 2_000, 20, POISON), tenant.adminKey)).status).toBe(500);
      // …and so does the general path when the client retries it.
      expect((await post(app, body(t0 + 2_000, 20, POISON), tenant.adminKey)).status).toBe(500);
      // The next request counts from 12, the last value stored, not from 20.
      expect((await post(app, body(t0 + 3_000, 25, 1), tenant.adminKey)).status).toBe(200);
      expect((await post(app, body(t0 + 4_000, 26, 1), tenant.adminKey)).status).toBe(200);
      expect((await storedRows(app, tenant.tenantId, 'failing.total')).map((r) => r.value)).toEqual([2, 13, 1]);
      expect((await storedRows(app, tenant.tenantId, 'failing.gauge')).map((r) => r.value)).toEqual([1, 1, 1, 1]);
    } finally {
      await sql`drop trigger test_poison_point on points`.execute(owner);
      await sql`drop function test_poison_point()`.execute(owner);
    }
  });

  test('a point the store refuses (a unit the metric does not have) moves no cumulative state either', async () => {
    const t0 = Date.now() - 120_000;
    const body = (t: number, total: number, unit: string) => request([{ name: 'unit.total', unit, sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(t), asDouble: total }] } }]);
    expect((await post(app, body(t0, 10, 'By'), tenant.adminKey)).status).toBe(200);
    expect((await post(app, body(t0 + 1_000, 12, 'By'), tenant.adminKey)).status).toBe(200);
    const refused = await post(app, body(t0 + 2_000, 20, 's'), tenant.adminKey);
    expect(refused.body.partialSuccess).toMatchObject({ rejectedDataPoints: 1, errorMessage: expect.stringContaining("has unit 'By'; got 's'") });
    expect((await post(app, body(t0 + 3_000, 25, 'By'), tenant.adminKey)).status).toBe(200);
    expect((await storedRows(app, tenant.tenantId, 'unit.total')).map((r) => r.value)).toEqual([2, 13]);
  });

  test.runIf(engine === 'postgres')('a request whose metrics, series and cumulative states are known is one statement: claim, points, state, audit together', async () => {
    const t0 = Date.now() - 120_000;
    const body = (t: number, total: number) =>
      request([
        { name: 'oneshot.total', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(t), asDouble: total, attributes: attrs({ k: 'a' }) }] } },
        { name: 'oneshot.latency', unit: 'ms', histogram: { aggregationTemporality: 2, dataPoints: [{ startTimeUnixNano: ns(t0 - 1_000), timeUnixNano: ns(t), count: total, sum: total * 10, bucketCounts: [total, 0], explicitBounds: [100] }] } },
      ]);
    expect((await post(app, body(t0, 3), tenant.adminKey)).status).toBe(200);
    expect((await post(app, body(t0 + 1_000, 5), tenant.adminKey)).status).toBe(200);
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text;
      if (text && /tenant_point_writes|point_ids|cumulative_state|audit_log/.test(text)) sent.push(text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      expect((await post(app, body(t0 + 2_000, 9), tenant.adminKey)).status).toBe(200);
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(sent).toHaveLength(1);
    for (const table of ['point_ids', 'tenant_point_writes', 'cumulative_state', 'audit_log']) expect(sent[0]).toContain(table);
    expect((await storedRows(app, tenant.tenantId, 'oneshot.total')).map((r) => r.value)).toEqual([2, 4]);
    expect(figures(await storedRows(app, tenant.tenantId, 'oneshot.latency'))).toMatchObject({ count: 9, sum: 90 });
  });

  test('a Summary: count and sum exact, its quantiles as the distribution; cumulative, so the second point stores what came since', async () => {
    const t0 = Date.now() - 60_000;
    const summary = (t: number, count: number, sum: number, quantiles: Array<[number, number]>) =>
      request([{ name: 'rpc.duration', unit: 'ms', summary: { dataPoints: [{ startTimeUnixNano: ns(t0 - 1_000), timeUnixNano: ns(t), count, sum, quantileValues: quantiles.map(([quantile, value]) => ({ quantile, value })) }] } }]);
    for (const body of [summary(t0, 10, 300, [[0, 5], [0.5, 20], [0.9, 60], [1, 90]]), summary(t0 + 10_000, 14, 420, [[0.5, 25], [1, 40]])]) {
      const answer = await post(app, body, tenant.adminKey, { format: 'protobuf' });
      expect([answer.status, answer.body]).toEqual([200, {}]); // no partialSuccess: nothing refused
    }
    const rows = await storedRows(app, tenant.tenantId, 'rpc.duration');
    const first = rows.filter((r) => r.time.getTime() === t0);
    expect(first.map((r) => [r.type, r.value, r.weight])).toEqual([['SUMMARY', 20, 5], ['SUMMARY', 60, 4], ['SUMMARY', 90, 1]]);
    expect(figures(first)).toEqual({ count: 10, sum: expect.closeTo(300, 9), min: 5, max: 90 });
    const second = rows.filter((r) => r.time.getTime() === t0 + 10_000);
    expect(second.map((r) => [r.value, r.weight])).toEqual([[25, 2], [40, 2]]);
    expect(figures(second)).toMatchObject({ count: 4, sum: expect.closeTo(120, 9), max: 40 });
  });

  test.runIf(engine === 'postgres')('the last cumulative value is shared by instances on one database', async () => {
    const other = await startApp('postgres', { DATABASE_URL: app.databaseUrl! });
    try {
      const t0 = Date.now() - 60_000;
      const point = (t: number, v: number) => request([{ name: 'shared.total', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(t), asDouble: v }] } }]);
      expect((await post(app, point(t0, 10), tenant.adminKey)).status).toBe(200);
      expect((await post(other, point(t0 + 1_000, 25), tenant.adminKey)).status).toBe(200);
      expect((await post(app, point(t0 + 2_000, 26.5), tenant.adminKey)).status).toBe(200);
      expect((await storedRows(app, tenant.tenantId, 'shared.total')).map((r) => r.value)).toEqual([15, 1.5]);
    } finally {
      await other.close();
    }
  });

  test('data points that break the rules are refused with reasons (partial success); the others land', async () => {
    const now = Date.now();
    const gauge = (name: string, value: number | string, t = now, tags: Record<string, string> = {}) => ({ name, gauge: { dataPoints: [{ timeUnixNano: ns(t), asDouble: value, attributes: attrs(tags) }] } });
    const body = request([
      gauge('partial.ok', 1.5),
      gauge('partial.nan', 'NaN'),
      gauge('partial.inf', 'Infinity'),
      gauge('partial.future', 1, now + 3_600_000),
      gauge('bad/name', 1),
      gauge('partial.longtag', 1, now, { k: 'x'.repeat(101) }),
      { name: 'partial.updown', sum: { isMonotonic: false, aggregationTemporality: 1, dataPoints: [{ timeUnixNano: ns(now), asInt: 1 }] } },
      { name: 'partial.unknown' },
      { name: 'partial.hist', histogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: ns(now), count: 3, bucketCounts: [1, 1], explicitBounds: [10] }] } },
    ]);
    for (const format of ['json', 'protobuf'] as const) {
      const answer = await post(app, { ...body, resourceMetrics: [{ ...body.resourceMetrics[0], resource: { attributes: attrs({ 'service.name': format }) } }] }, tenant.adminKey, { format });
      expect(answer.status).toBe(200);
      expect(answer.body.partialSuccess.rejectedDataPoints).toBe(8);
      const message: string = answer.body.partialSuccess.errorMessage;
      for (const reason of ['NaN is not a finite number', 'Infinity is not a finite number', 'more than 10 minutes in the future', "metric name 'bad/name'", 'longer than 100 characters', 'non-monotonic Sum with delta temporality', 'no data of a type', 'do not add up to count']) {
        expect(message).toContain(reason);
      }
    }
    expect((await storedRows(app, tenant.tenantId, 'partial.ok')).map((r) => r.value)).toEqual([1.5, 1.5]);
    for (const name of ['partial.nan', 'partial.inf', 'partial.future', 'partial.longtag', 'partial.updown', 'partial.hist']) expect(await storedRows(app, tenant.tenantId, name)).toEqual([]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/metrograph_points_rejected_total\{reason="non_finite"\} [1-9]/);
    expect(metrics).toMatch(/metrograph_protocol_data_points_total\{protocol="otlp_json",outcome="rejected"\} [1-9]/);
    expect(metrics).toMatch(/metrograph_protocol_requests_total\{protocol="otlp_protobuf",status="200"\} [1-9]/);
  });

  test('a cardinality budget refuses the new series beyond it, counted; the rest land', async () => {
    const limited = await app.createTenant();
    const set = await app.gql<any, any>(`mutation($id: ID!) { setTenantLimits(input: { tenantId: $id, maxSeriesPerMetric: 2 }) { maxSeriesPerMetric } }`, { id: limited.tenantId }, OPERATOR_TOKEN);
    expect(set.errors).toBeUndefined();
    const now = Date.now();
    const points = ['a', 'b', 'c'].map((host) => ({ timeUnixNano: ns(now), asDouble: 1, attributes: attrs({ host }) }));
    const answer = await post(app, request([{ name: 'budget.gauge', gauge: { dataPoints: points } }]), limited.adminKey);
    expect(answer.status).toBe(200);
    expect(answer.body.partialSuccess.rejectedDataPoints).toBe(1);
    expect(answer.body.partialSuccess.errorMessage).toMatch(/series/);
    expect((await storedRows(app, limited.tenantId, 'budget.gauge')).map((r) => r.tags.host)).toEqual(['a', 'b']);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/metrograph_points_rejected_total\{reason="cardinality"\} [1-9]/);
  });

  test.each([
    ['no credentials', {}, 401],
    ['an unknown key', { authorization: 'Bearer mg_unknown' }, 401],
    ['the operator token', { authorization: `Bearer ${OPERATOR_TOKEN}` }, 403],
  ])('%s is refused', async (_what, headers, status) => {
    const response = await fetch(`${app.url}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(request([])) });
    expect(response.status).toBe(status);
  });

  test('bad requests get the status OTLP defines and store nothing', async () => {
    const viewer = await app.createKey(tenant.adminKey, 'VIEWER');
    const good = request([{ name: 'bad.input', gauge: { dataPoints: [{ timeUnixNano: ns(Date.now()), asDouble: 1 }] } }]);
    expect((await post(app, good, viewer.key)).status).toBe(403);
    const bytes = ExportRequest.encode(ExportRequest.fromObject(good)).finish();
    const send = (body: Uint8Array | string, headers: Record<string, string>) =>
      fetch(`${app.url}/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${tenant.adminKey}`, ...headers }, body: body as unknown as BodyInit });
    const truncated = await send(bytes.subarray(0, bytes.length - 4), { 'content-type': 'application/x-protobuf' });
    expect(truncated.status).toBe(400);
    expect(await send('{"resourceMetrics": 5}', { 'content-type': 'application/json' }).then((r) => r.status)).toBe(400);
    expect(await send('{not json', { 'content-type': 'application/json' }).then((r) => r.status)).toBe(400);
    expect(await send(bytes, { 'content-type': 'text/plain' }).then((r) => r.status)).toBe(415);
    expect(await send(bytes, { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' }).then((r) => r.status)).toBe(415);
    expect(await send(Buffer.from('not gzip'), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }).then((r) => r.status)).toBe(400);
    // Over MAX_BODY_BYTES (200 000 here) as sent, and only once inflated (a small gzip bomb).
    expect(await send(Buffer.alloc(300_000, 1), { 'content-type': 'application/x-protobuf' }).then((r) => r.status)).toBe(413);
    const bomb = gzipSync(Buffer.alloc(5_000_000, 0));
    expect(bomb.length).toBeLessThan(200_000);
    expect(await send(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }).then((r) => r.status)).toBe(413);
    expect(await storedRows(app, tenant.tenantId, 'bad.input')).toEqual([]);
  });

  test('tenant B sees nothing of what tenant A sent', async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    expect((await post(app, request([{ name: 'isolated.gauge', gauge: { dataPoints: [{ timeUnixNano: ns(Date.now()), asDouble: 3 }] } }]), a.adminKey)).status).toBe(200);
    const query = '{ metrics { name } metricPoints(input: { metric: "isolated.gauge" }) { points { value } } }';
    const asA = await app.gql<any, any>(query, {}, a.adminKey);
    expect(asA.data.metricPoints.points).toEqual([{ value: 3 }]);
    const asB = await app.gql<any, any>(query, {}, b.adminKey);
    expect(asB.data).toEqual({ metrics: [], metricPoints: { points: [] } });
    expect(await storedRows(app, b.tenantId, 'isolated.gauge')).toEqual([]);
  });
});

describe('OTLP/HTTP rate limits', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp('embedded', { RATE_LIMIT_WRITES_PER_SECOND: '1', RATE_LIMIT_BURST_SECONDS: '1' });
  });
  afterAll(() => app?.close());

  test('past the tenant’s write rate: 429 with Retry-After, and only what was answered 200 is stored', async () => {
    const { adminKey, tenantId } = await app.createTenant();
    const body = (v: number) => request([{ name: 'limited.gauge', gauge: { dataPoints: [{ timeUnixNano: ns(Date.now()), asDouble: v }] } }]);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await post(app, body(i), adminKey));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => Number(a.headers.get('retry-after')) >= 1 && a.body.code === 8)).toBe(true);
    const accepted = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
    expect((await storedRows(app, tenantId, 'limited.gauge')).map((r) => r.value).sort()).toEqual(accepted);
  });
});
