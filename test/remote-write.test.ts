/**
 * Prometheus remote-write 1.0 at POST /api/v1/write: Debian's Prometheus server scraping a small
 * /metrics endpoint and remote-writing to the service, compared with Prometheus' own HTTP API;
 * and hand-built requests for resends, resets, stale markers and bad input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { ENGINES, startApp, type TestApp } from './harness.js';
import { protocolSuite, storedRows, watchPoints, type ProtocolTenant } from './protocol-fixtures.js';

const root = protobuf.loadSync(path.join(import.meta.dirname, '../proto/prometheus/remote.proto'));
const WriteRequest = root.lookupType('prometheus.WriteRequest');
const RequestV2 = protobuf.loadSync(path.join(import.meta.dirname, '../proto/prometheus/write/v2/types.proto')).lookupType('io.prometheus.write.v2.Request');

/** A remote-write 2.0 series: labels, samples (value, time, start time), its metadata type and unit, native histograms. */
type SeriesV2 = { labels: Record<string, string>; samples: Array<[value: number, time: number, start?: number]>; type?: number; unit?: string; histograms?: unknown[] };
/** An io.prometheus.write.v2.Request with its symbols table built as Prometheus builds it (the empty string first). */
function encodeV2(series: SeriesV2[]): Uint8Array {
  const symbols = [''];
  const ref = (text: string) => (symbols.includes(text) ? symbols.indexOf(text) : symbols.push(text) - 1);
  const timeseries = series.map((s) => ({
    labelsRefs: Object.entries(s.labels).flatMap(([name, value]) => [ref(name), ref(value)]),
    samples: s.samples.map(([value, timestamp, startTimestamp]) => ({ value, timestamp, startTimestamp: startTimestamp ?? 0 })),
    histograms: s.histograms ?? [],
    metadata: { type: s.type ?? 0, unitRef: s.unit ? ref(s.unit) : 0 },
  }));
  return RequestV2.encode(RequestV2.fromObject({ symbols, timeseries })).finish();
}
const V2_HEADERS = { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'x-prometheus-remote-write-version': '2.0.0' };
const writtenHeaders = (headers: Headers) => ['samples', 'histograms', 'exemplars'].map((kind) => headers.get(`x-prometheus-remote-write-${kind}-written`));

type Series = { labels: Record<string, string>; samples: Array<[value: number, time: number]> };
const encode = (series: Series[], metadata: Array<{ type: number; metricFamilyName: string }> = []) =>
  WriteRequest.encode(
    WriteRequest.fromObject({
      timeseries: series.map((s) => ({ labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })), samples: s.samples.map(([value, timestamp]) => ({ value, timestamp })) })),
      metadata,
    }),
  ).finish();

async function write(app: TestApp, token: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}/api/v1/write`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0', authorization: `Bearer ${token}`, ...headers },
    body: Buffer.from(body) as unknown as BodyInit,
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}
const compressed = (series: Series[], metadata?: Array<{ type: number; metricFamilyName: string }>) => snappy.compress(withStaleMarkers(encode(series, metadata)));

/**
 * A value that stands for Prometheus' stale marker (the NaN with bits 0x7ff0000000000002) until
 * `withStaleMarkers` writes the marker's bytes in its place: V8 may canonicalise a NaN kept in
 * an array of numbers, so the marker is put into the encoded bytes directly.
 */
const STALE = 1234.5678;
function withStaleMarkers(body: Uint8Array): Uint8Array {
  const out = Uint8Array.from(body);
  const needle = new Uint8Array(new Float64Array([STALE]).buffer);
  const marker = new Uint8Array(8);
  new DataView(marker.buffer).setBigUint64(0, 0x7ff0000000000002n, true);
  for (let i = 0; i + 8 <= out.length; i++) if (needle.every((b, k) => out[i + k] === b)) out.set(marker, i);
  return out;
}

describe.each(ENGINES)('Prometheus remote-write (%s)', (engine) => {
  let app: TestApp;
  let tenant: ProtocolTenant;
  protocolSuite(engine, (started) => ({ app, tenant } = started));

  test('counters become increments with resets; gauges as sent; stale markers skipped; a resend is stored once; live subscribers see the points', async () => {
    const watch = await watchPoints(app, tenant.adminKey, ['rw_requests_total']);
    const t0 = Date.now() - 120_000;
    const first = compressed([
      { labels: { __name__: 'rw_requests_total', job: 'api', instance: 'a:1' }, samples: [[100, t0], [110, t0 + 15_000], [125, t0 + 30_000]] },
      { labels: { __name__: 'rw_temperature', room: 'lab' }, samples: [[21.5, t0], [STALE, t0 + 15_000], [-3, t0 + 30_000]] },
    ]);
    expect(await write(app, tenant.adminKey, first)).toMatchObject({ status: 204, text: '' });
    expect((await write(app, tenant.adminKey, first)).status).toBe(204); // Prometheus retrying a batch whose answer was lost
    // A restart of the target: the counter starts again from 0.
    const second = compressed([{ labels: { __name__: 'rw_requests_total', job: 'api', instance: 'a:1' }, samples: [[4, t0 + 45_000], [9, t0 + 60_000]] }]);
    expect((await write(app, tenant.adminKey, second)).status).toBe(204);

    const counter = await storedRows(app, tenant.tenantId, 'rw_requests_total');
    expect(counter.map((r) => [r.time.getTime() - t0, r.value])).toEqual([[15_000, 10], [30_000, 15], [45_000, 4], [60_000, 5]]);
    expect(counter[0]).toMatchObject({ type: 'COUNTER', tags: { instance: 'a:1', job: 'api' } });
    const gauge = await storedRows(app, tenant.tenantId, 'rw_temperature');
    expect(gauge.map((r) => [r.type, r.time.getTime() - t0, r.value])).toEqual([['GAUGE', 0, 21.5], ['GAUGE', 30_000, -3]]);

    await watch.until(4);
    expect(watch.points.map((p) => p.value)).toEqual([10, 15, 4, 5]);
    watch.close();

    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/metrograph_protocol_data_points_total\{protocol="prometheus",outcome="duplicate"\} 6/);
    expect(metrics).toMatch(/metrograph_protocol_requests_total\{protocol="prometheus",status="204"\} 3/);
  });

  test('metadata decides a family’s type; the metric keeps it afterwards', async () => {
    const t0 = Date.now() - 60_000;
    const COUNTER = 1;
    const withMetadata = compressed([{ labels: { __name__: 'rw_jobs_done' }, samples: [[7, t0], [9, t0 + 1_000]] }], [{ type: COUNTER, metricFamilyName: 'rw_jobs_done' }]);
    expect((await write(app, tenant.adminKey, withMetadata)).status).toBe(204);
    // Without metadata the name alone would say GAUGE; the stored type holds.
    const later = compressed([{ labels: { __name__: 'rw_jobs_done' }, samples: [[12, t0 + 2_000]] }]);
    expect((await write(app, tenant.adminKey, later)).status).toBe(204);
    expect((await storedRows(app, tenant.tenantId, 'rw_jobs_done')).map((r) => [r.type, r.value])).toEqual([['COUNTER', 2], ['COUNTER', 3]]);
  });

  test('samples that cannot be stored: 400 (not retried) saying why; the rest of the request lands', async () => {
    const now = Date.now();
    const body = compressed([
      { labels: { __name__: 'rw_ok', k: 'v' }, samples: [[1, now - 1_000]] },
      { labels: { __name__: 'rw_nan' }, samples: [[Number.NaN, now - 1_000]] },
      { labels: { __name__: 'rw_inf' }, samples: [[Number.POSITIVE_INFINITY, now - 1_000]] },
      { labels: { __name__: 'rw_future' }, samples: [[1, now + 3_600_000]] },
      { labels: { __name__: 'job:rate5m' }, samples: [[1, now - 1_000]] },
      { labels: { __name__: 'rw_order_total' }, samples: [[5, now - 2_000], [6, now - 1_000]] },
    ]);
    const answer = await write(app, tenant.adminKey, body);
    expect(answer.status).toBe(400);
    for (const reason of ['NaN is not a finite number', 'Infinity is not a finite number', 'more than 10 minutes in the future', "metric name 'job:rate5m'"]) expect(answer.text).toContain(reason);
    expect(answer.text).toMatch(/^4 data point\(s\) rejected/);
    expect((await storedRows(app, tenant.tenantId, 'rw_ok')).map((r) => r.value)).toEqual([1]);
    expect((await storedRows(app, tenant.tenantId, 'rw_order_total')).map((r) => r.value)).toEqual([1]);
    // A sample behind the newest accepted of its counter is refused as out of order.
    const late = await write(app, tenant.adminKey, compressed([{ labels: { __name__: 'rw_order_total' }, samples: [[5.5, now - 1_500]] }]));
    expect([late.status, late.text]).toEqual([400, expect.stringContaining('not newer than the last one stored')]);
    for (const name of ['rw_nan', 'rw_inf', 'rw_future']) expect(await storedRows(app, tenant.tenantId, name)).toEqual([]);
  });

  test('bad requests: the status the remote-write specification gives, nothing stored', async () => {
    const viewer = await app.createKey(tenant.adminKey, 'VIEWER');
    const body = compressed([{ labels: { __name__: 'rw_bad' }, samples: [[1, Date.now()]] }]);
    expect((await write(app, viewer.key, body)).status).toBe(403);
    expect((await write(app, 'mg_nope', body)).status).toBe(401);
    const anonymous = await fetch(`${app.url}/api/v1/write`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' }, body: Buffer.from(body) as unknown as BodyInit });
    expect(anonymous.status).toBe(401);
    const raw = encode([{ labels: { __name__: 'rw_bad' }, samples: [[1, Date.now()]] }]);
    expect((await write(app, tenant.adminKey, snappy.compress(raw.subarray(0, raw.length - 3)))).status).toBe(400); // truncated protobuf
    expect((await write(app, tenant.adminKey, Buffer.from('not snappy at all'))).status).toBe(400);
    expect((await write(app, tenant.adminKey, raw, { 'content-encoding': 'identity' })).status).toBe(415);
    expect((await write(app, tenant.adminKey, body, { 'content-type': 'application/json' })).status).toBe(415);
    expect((await write(app, tenant.adminKey, body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' })).status).toBe(415);
    // Over MAX_BODY_BYTES (200 000 here) once decompressed.
    const huge = snappy.compress(new Uint8Array(1_000_000));
    expect(huge.length).toBeLessThan(200_000);
    expect((await write(app, tenant.adminKey, huge)).status).toBe(413);
    expect(await storedRows(app, tenant.tenantId, 'rw_bad')).toEqual([]);
  });

  test('remote-write 2.0: labels from the symbols table; each series’ metadata type and unit; start timestamps; the written headers; a resend stored once', async () => {
    const [COUNTER, GAUGE, HISTOGRAM, SUMMARY] = [1, 2, 3, 5];
    const t0 = Date.now() - 120_000;
    const body = snappy.compress(
      withStaleMarkers(
        encodeV2([
          // Started a second before its first sample: all of it is an increment; then a restart (a later start).
          { labels: { __name__: 'rw2_requests_total', job: 'api' }, type: COUNTER, samples: [[100, t0, t0 - 1_000], [130, t0 + 15_000, t0 - 1_000], [5, t0 + 30_000, t0 + 20_000]] },
          // A classic histogram's bucket carries its family's type: cumulative, with the family's unit.
          { labels: { __name__: 'rw2_latency_seconds_bucket', le: '0.5' }, type: HISTOGRAM, unit: 'seconds', samples: [[3, t0], [5, t0 + 15_000]] },
          { labels: { __name__: 'rw2_rpc_count' }, type: SUMMARY, samples: [[10, t0], [16, t0 + 15_000]] },
          // Typed GAUGE: not cumulative, whatever the name says.
          { labels: { __name__: 'rw2_queue_total', room: 'lab' }, type: GAUGE, unit: 'celsius', samples: [[21.5, t0], [STALE, t0 + 15_000], [22, t0 + 30_000]] },
          { labels: { __name__: 'rw2_untyped_total' }, samples: [[1, t0], [4, t0 + 15_000]] },
        ]),
      ),
    );
    const first = await write(app, tenant.adminKey, body, V2_HEADERS);
    expect([first.status, first.text, writtenHeaders(first.headers)]).toEqual([204, '', ['12', '0', '0']]);
    const resend = await write(app, tenant.adminKey, body, V2_HEADERS);
    expect([resend.status, writtenHeaders(resend.headers)]).toEqual([204, ['12', '0', '0']]);

    const rows = async (name: string) => (await storedRows(app, tenant.tenantId, name)).map((r) => [r.time.getTime() - t0, r.type, r.unit, r.value]);
    expect(await rows('rw2_requests_total')).toEqual([[0, 'COUNTER', null, 100], [15_000, 'COUNTER', null, 30], [30_000, 'COUNTER', null, 5]]);
    expect(await rows('rw2_latency_seconds_bucket')).toEqual([[15_000, 'COUNTER', 'seconds', 2]]);
    expect(await rows('rw2_rpc_count')).toEqual([[15_000, 'COUNTER', null, 6]]);
    expect(await rows('rw2_queue_total')).toEqual([[0, 'GAUGE', 'celsius', 21.5], [30_000, 'GAUGE', 'celsius', 22]]);
    expect(await rows('rw2_untyped_total')).toEqual([[15_000, 'COUNTER', null, 3]]);
    expect((await storedRows(app, tenant.tenantId, 'rw2_requests_total'))[0]!.tags).toEqual({ job: 'api' });
  });

  test('remote-write 2.0: a malformed symbols table is a 400 storing nothing; native histograms are refused with the written headers saying so', async () => {
    const now = Date.now() - 1_000;
    const raw = (message: object) => snappy.compress(RequestV2.encode(RequestV2.fromObject(message)).finish());
    const cases: Array<[object, RegExp]> = [
      [{ symbols: ['', '__name__', 'rw2_bad'], timeseries: [{ labelsRefs: [1, 7], samples: [{ value: 1, timestamp: now }] }] }, /refers to symbol 7; the table has 3/],
      [{ symbols: ['', '__name__', 'rw2_bad'], timeseries: [{ labelsRefs: [1, 2, 1], samples: [{ value: 1, timestamp: now }] }] }, /3 label references/],
      [{ symbols: ['__name__', 'rw2_bad'], timeseries: [{ labelsRefs: [0, 1], samples: [{ value: 1, timestamp: now }] }] }, /first symbol must be the empty string/],
    ];
    for (const [message, reason] of cases) {
      const answer = await write(app, tenant.adminKey, raw(message), V2_HEADERS);
      expect([answer.status, answer.text]).toEqual([400, expect.stringMatching(reason)]);
    }
    expect(await storedRows(app, tenant.tenantId, 'rw2_bad')).toEqual([]);

    const native = encodeV2([{ labels: { __name__: 'rw2_native' }, type: 2, samples: [[7, now]], histograms: [{ countInt: 1, sum: 0.25, schema: 3, timestamp: now }] }]);
    const answer = await write(app, tenant.adminKey, snappy.compress(native), V2_HEADERS);
    expect([answer.status, answer.text, writtenHeaders(answer.headers)]).toEqual([400, expect.stringContaining('native histograms are not stored'), ['1', '0', '0']]);
    expect((await storedRows(app, tenant.tenantId, 'rw2_native')).map((r) => r.value)).toEqual([7]);
  });

  test('tenant B sees nothing of what tenant A wrote', async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    expect((await write(app, a.adminKey, compressed([{ labels: { __name__: 'rw_secret' }, samples: [[42, Date.now() - 1_000]] }]))).status).toBe(204);
    const query = '{ metrics { name } metricPoints(input: { metric: "rw_secret" }) { points { value } } }';
    expect((await app.gql<any, any>(query, {}, a.adminKey)).data.metricPoints.points).toEqual([{ value: 42 }]);
    expect((await app.gql<any, any>(query, {}, b.adminKey)).data).toEqual({ metrics: [], metricPoints: { points: [] } });
  });
});

const PROMETHEUS = '/usr/bin/prometheus';
if (!existsSync(PROMETHEUS)) console.warn(`${PROMETHEUS} is missing: the test with a real Prometheus server is skipped (CI installs it; apt-get install prometheus).`);

describe.runIf(existsSync(PROMETHEUS))('a real Prometheus server remote-writing to the service', () => {
  let app: TestApp;
  let target: Server;
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  let dir: string;
  let scrapes = 0;
  let prom: string;
  const FREEZE_AFTER = 6;

  beforeAll(async () => {
    app = await startApp('embedded');
    const { adminKey, tenantId } = await app.createTenant('prom');
    prom = tenantId;
    // The scraped service: a counter that grows by 5 per scrape until FREEZE_AFTER, and a gauge that moves.
    target = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      scrapes++;
      const count = 10 + 5 * Math.min(scrapes, FREEZE_AFTER);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE demo_requests_total counter\ndemo_requests_total{route="/a"} ${count}\n# TYPE demo_temperature gauge\ndemo_temperature ${20 + (scrapes % 7) / 2}\n`);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const free = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    dir = mkdtempSync(path.join(tmpdir(), 'mg-prom-'));
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: demo
    static_configs: [{ targets: ['127.0.0.1:${(target.address() as AddressInfo).port}'] }]
remote_write:
  - url: ${app.url}/api/v1/write
    authorization: { credentials: ${adminKey} }
    queue_config: { batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }
`,
    );
    prometheus = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${free}`], { stdio: 'ignore' });
    promUrl = `http://127.0.0.1:${free}`;
  });
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    target?.close();
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Prometheus' own raw samples of a series, oldest first: [ms, value]. */
  async function promSamples(selector: string): Promise<Array<[number, number]>> {
    const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(`${selector}[1h]`)}`);
    const body = (await response.json()) as { data: { result: Array<{ values: Array<[number, string]> }> } };
    return (body.data.result[0]?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]);
  }

  test('what the service stored is what Prometheus holds: counter increments sum to its increase, gauges sample for sample', { timeout: 120_000 }, async () => {
    // Until the counter has frozen and its frozen value has reached the service.
    let counter = await storedRows(app, prom, 'demo_requests_total');
    for (let i = 0; i < 600 && !(scrapes > FREEZE_AFTER + 1 && counter.reduce((s, r) => s + r.value, 0) >= 5 * FREEZE_AFTER - 5); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      counter = await storedRows(app, prom, 'demo_requests_total');
    }
    expect(counter.length).toBeGreaterThan(0);
    const last = counter.at(-1)!.time.getTime();
    const samples = (await promSamples('demo_requests_total{route="/a"}')).filter(([t]) => t <= last);
    // The first sample is a start; every later one is stored as its increase over the one before.
    expect(counter.map((r) => [r.time.getTime(), r.value])).toEqual(samples.slice(1).map(([t, v], i) => [t, v - samples[i]![1]]));
    expect(counter.reduce((s, r) => s + r.value, 0)).toBe(samples.at(-1)![1] - samples[0]![1]);
    expect(counter[0]).toMatchObject({ type: 'COUNTER', tags: { instance: expect.stringMatching(/^127\.0\.0\.1:/), job: 'demo', route: '/a' } });

    const gauge = await storedRows(app, prom, 'demo_temperature');
    const gaugeLast = gauge.at(-1)!.time.getTime();
    const gaugeSamples = (await promSamples('demo_temperature')).filter(([t]) => t <= gaugeLast);
    expect(gauge.map((r) => [r.time.getTime(), r.value])).toEqual(gaugeSamples);
    expect(gauge[0]!.type).toBe('GAUGE');
  });
});
