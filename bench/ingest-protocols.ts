/**
 * The protocol arms of `npm run bench:ingest`: the same series as the GraphQL arm, sent as
 * OTLP/HTTP protobuf, OTLP/HTTP JSON and Prometheus remote-write requests of BATCH points,
 * bodies built (and compressed: gzip for OTLP, snappy for remote-write, as the clients do)
 * before timing.
 *
 * Traffic as those clients send it: counters cumulative (a running total per series, so the
 * service does its cumulative → increment work with the state table), gauges as levels,
 * histograms as one-observation delta histograms (one distribution row each), OTLP summaries
 * cumulative. Every arm draws its points from one generator whose clock only moves forward, so
 * no cumulative point is ever behind the last one of its series (none is refused).
 */
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'node:http';
import path from 'node:path';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { ROOT } from './servers.js';

export const PROTOCOL_ARMS = ['otlp_protobuf', 'otlp_json', 'remote_write'] as const;
export type ProtocolArm = (typeof PROTOCOL_ARMS)[number];

export interface ProtocolSeries {
  name: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY';
  unit: string | null;
  tags: Record<string, string>;
}

interface Point {
  series: ProtocolSeries;
  time: number;
  /** COUNTER: the running total; SUMMARY: the running sum (count in `count`); else the value. */
  value: number;
  count: number;
}

const otlpRoot = new protobuf.Root();
otlpRoot.resolvePath = (_origin, target) => path.join(ROOT, 'proto', target);
otlpRoot.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const ExportRequest = otlpRoot.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const WriteRequest = protobuf.loadSync(path.join(ROOT, 'proto/prometheus/remote.proto')).lookupType('prometheus.WriteRequest');

/**
 * Points over `series` with a clock per series that only moves forward (a millisecond a point)
 * and running totals per series. The points stay about a minute old through a whole run, as
 * the GraphQL arm's are: not late points (src/query/invalidations.ts), whose invalidated ranges
 * these arms would record and the GraphQL arm would not.
 */
export function createPointSource(series: ProtocolSeries[], start = Date.now() - 60_000) {
  const totals = new Map<ProtocolSeries, { sum: number; count: number }>();
  return (count: number): Point[] => {
    const out: Point[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const s = series[i % series.length]!;
      const observed = s.type === 'GAUGE' ? Math.round(Math.random() * 10_000) / 100 : s.type === 'COUNTER' ? (i * 7) % 50 : Math.round(Math.exp(3 + Math.random() * 2) * 100) / 100;
      const total = totals.get(s) ?? { sum: 0, count: 0 };
      total.sum += observed;
      total.count += 1;
      totals.set(s, total);
      out[i] = { series: s, time: start + total.count, value: s.type === 'COUNTER' || s.type === 'SUMMARY' ? total.sum : observed, count: total.count };
    }
    return out;
  };
}

const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
/** The start time of every cumulative OTLP series: the same for each of its points, as an SDK sends it. */
const PROCESS_START = Date.now() - 2 * 3_600_000;
const attributes = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value: { stringValue: value } }));

/** One ExportMetricsServiceRequest (JSON form) of the points, a metric per name. */
function otlpRequest(points: Point[]) {
  const byName = new Map<string, Point[]>();
  for (const p of points) byName.set(p.series.name, [...(byName.get(p.series.name) ?? []), p]);
  const metrics = [...byName].map(([name, ps]) => {
    const s = ps[0]!.series;
    const base = { name, unit: s.unit ?? '' };
    const common = (p: Point) => ({ attributes: attributes(p.series.tags), timeUnixNano: ns(p.time), startTimeUnixNano: ns(PROCESS_START) });
    switch (s.type) {
      case 'COUNTER':
        return { ...base, sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: ps.map((p) => ({ ...common(p), asDouble: p.value })) } };
      case 'GAUGE':
        return { ...base, gauge: { dataPoints: ps.map((p) => ({ ...common(p), asDouble: p.value })) } };
      case 'HISTOGRAM':
        return { ...base, histogram: { aggregationTemporality: 1, dataPoints: ps.map((p) => ({ ...common(p), count: 1, sum: p.value, min: p.value, max: p.value, bucketCounts: [1], explicitBounds: [] })) } };
      default:
        return { ...base, summary: { dataPoints: ps.map((p) => ({ ...common(p), count: p.count, sum: p.value, quantileValues: [] })) } };
    }
  });
  return { resourceMetrics: [{ scopeMetrics: [{ metrics }] }] };
}

/**
 * The request bodies of one arm for `shards` concurrent clients, `batch` points each: series
 * are split between the clients as Prometheus splits them between its shards, so the points of
 * one series go over one connection in time order (a cumulative point behind the last one of
 * its series would be refused as out of order).
 */
export function protocolBodies(arm: ProtocolArm, points: Point[], batch: number, shards: number): Buffer[][] {
  const index = new Map<ProtocolSeries, number>();
  const byShard: Point[][] = Array.from({ length: shards }, () => []);
  for (const p of points) {
    if (!index.has(p.series)) index.set(p.series, index.size);
    byShard[index.get(p.series)! % shards]!.push(p);
  }
  return byShard.map((shard) => {
    const bodies: Buffer[] = [];
    for (let i = 0; i < shard.length; i += batch) bodies.push(encodeBody(arm, shard.slice(i, i + batch)));
    return bodies;
  });
}

function encodeBody(arm: ProtocolArm, slice: Point[]): Buffer {
  if (arm === 'remote_write') {
    const bySeries = new Map<ProtocolSeries, Point[]>();
    for (const p of slice) bySeries.set(p.series, [...(bySeries.get(p.series) ?? []), p]);
    const timeseries = [...bySeries].map(([s, ps]) => ({
      labels: [{ name: '__name__', value: s.name }, ...Object.entries(s.tags).map(([name, value]) => ({ name, value }))],
      samples: ps.map((p) => ({ value: p.value, timestamp: p.time })),
    }));
    return Buffer.from(snappy.compress(WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish()));
  }
  const message = otlpRequest(slice);
  const raw = arm === 'otlp_json' ? Buffer.from(JSON.stringify(message)) : Buffer.from(ExportRequest.encode(ExportRequest.fromObject(message)).finish());
  return gzipSync(raw);
}

const HEADERS: Record<ProtocolArm, Record<string, string>> = {
  otlp_protobuf: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
  otlp_json: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
  remote_write: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
};

/** Sends each client's bodies in order over its keep-alive connection; throws on any answer but success without rejections. */
export async function sendBodies(baseUrl: string, token: string, arm: ProtocolArm, bodiesByClient: Buffer[][], agent: Agent): Promise<void> {
  const url = `${baseUrl}${arm === 'remote_write' ? '/api/v1/write' : '/v1/metrics'}`;
  await Promise.all(
    bodiesByClient.map(async (bodies) => {
      for (const body of bodies) {
        // A keep-alive socket the server closed while idle fails at once; the request is resent as a client would (a resend is stored once).
        const send = () => new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = request(url, { method: 'POST', agent, headers: { ...HEADERS[arm], authorization: `Bearer ${token}`, 'content-length': body.length } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('latin1') }));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end(body);
        });
        const { status, text } = await send().catch((error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? send() : Promise.reject(error)));
        // OTLP: 200 and no partial success (a JSON answer is `{}`; a protobuf one is empty). Remote-write: 204.
        const ok = arm === 'remote_write' ? status === 204 : status === 200 && (text === '' || text === '{}');
        if (!ok) throw new Error(`${arm}: HTTP ${status}: ${text.slice(0, 300)}`);
      }
    }),
  );
}
