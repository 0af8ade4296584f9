/**
 * OTLP metrics (ExportMetricsServiceRequest, protobuf or JSON) to observations
 * (src/ingest/cumulative.ts), decoded by protobufjs from the .proto files of
 * opentelemetry-proto (proto/opentelemetry).
 *
 * Types:
 * | OTLP | stored as |
 * | --- | --- |
 * | Gauge | GAUGE |
 * | Sum, monotonic, delta | COUNTER, each value an increment |
 * | Sum, monotonic, cumulative | COUNTER, increments per series (cumulative.ts) |
 * | Sum, not monotonic, cumulative | GAUGE (the level) |
 * | Sum, not monotonic, delta | refused: its level cannot be known |
 * | Histogram, ExponentialHistogram | HISTOGRAM, distribution rows (distribution.ts) |
 * | Summary | SUMMARY, distribution rows at its quantiles (distribution.ts) |
 *
 * Tags, later ones winning: the resource attributes in RESOURCE_TAGS, the scope's name as
 * `otel.scope.name`, the scope's attributes, then the point's attributes, with their OTLP names
 * (`service.name`). Non-string values are written as text (`true`, `42`, `1.5`; arrays and
 * maps as JSON). A data point whose name, unit, tags, time or value breaks the rules of
 * MetricInput is refused with a reason (OTLP partial success), never cut to fit.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { MetricType, Tags } from '../db/tables.js';
import type { Observation } from './cumulative.js';
import { explicitBuckets, exponentialBuckets, type Buckets } from './distribution.js';
import { checkTagsBySignature, MAX_FUTURE_MS, METRIC_NAME_PATTERN, storable, tagSignature, type checkTags } from './metric-input.js';
import type { AnyValue, ExponentialPoint, HistogramPoint, Int64, KeyValue, Metric, NumberPoint, OtlpRequest, SummaryPoint } from './otlp-message.js';
import { decodeOtlpProtobuf, sharedAttributes } from './otlp-protobuf.js';

export type { OtlpRequest } from './otlp-message.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
root.loadSync(['opentelemetry/proto/collector/metrics/v1/metrics_service.proto']);
root.add(
  // google.rpc.Status: the body of an OTLP/HTTP error response.
  protobuf.Root.fromJSON({
    nested: { google: { nested: { rpc: { nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } } } } } } },
  }).lookupType('google.rpc.Status'),
);
const ExportRequest = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const ExportResponse = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
const Status = root.lookupType('Status');

/** Resource attributes that become tags; the others (process ids, command lines, SDK versions) would only multiply series. */
export const RESOURCE_TAGS = ['service.name', 'service.namespace', 'service.instance.id', 'service.version', 'deployment.environment', 'deployment.environment.name', 'host.name'];

/** The request, or an Error saying why it is not an ExportMetricsServiceRequest. */
export function decodeOtlp(body: Uint8Array, format: 'protobuf' | 'json'): OtlpRequest | Error {
  try {
    if (format === 'protobuf') return decodeOtlpProtobuf(body);
    return ExportRequest.fromObject(JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))) as unknown as OtlpRequest;
  } catch (error) {
    return new Error(`not an OTLP ExportMetricsServiceRequest (${format}): ${(error as Error).message}`);
  }
}

/** ExportMetricsServiceResponse, with partial_success when some data points were refused. */
export function encodeOtlpResponse(format: 'protobuf' | 'json', rejected: number, message: string): Uint8Array | string {
  const body = rejected > 0 ? { partialSuccess: { rejectedDataPoints: rejected, errorMessage: message } } : {};
  return format === 'json' ? JSON.stringify(body) : ExportResponse.encode(ExportResponse.fromObject(body)).finish();
}

/** google.rpc.Status, the body OTLP/HTTP gives a failed request. */
export function encodeOtlpStatus(format: 'protobuf' | 'json', code: number, message: string): Uint8Array | string {
  return format === 'json' ? JSON.stringify({ code, message }) : Status.encode(Status.fromObject({ code, message })).finish();
}

const num = (v: Int64): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : v.toNumber());
/**
 * Nanoseconds since the epoch as milliseconds, exact to the microsecond. Not `num(v) / 1e6`:
 * today's times in nanoseconds are past 2^53, the double rounds them to 256 ns, and a time a
 * hair under its millisecond became the millisecond before once a Date truncated it.
 */
export const nanosToMs = (v: Int64): number => {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return Math.round(v / 1e3) / 1e3;
  const long = v as { high?: unknown; low?: unknown };
  if (typeof long.high === 'number' && typeof long.low === 'number') {
    // A Long (protobuf's fixed64) without printing it: ns = high·2³² + low and 2³² = 4 294 967·1000 + 296,
    // so the whole microseconds are high·4 294 967 + ⌊(high·296 + low) / 1000⌋, exact in a double
    // while below 2⁵³ (high < 2 097 151 000: until the year 2255); past that, the decimal path below.
    const high = long.high >>> 0;
    const low = long.low >>> 0;
    if (high < 2_097_151_000) return (high * 4294967 + Math.floor((high * 296 + low) / 1000)) / 1e3;
  }
  const digits = String(v); // a Long prints its exact value; JSON sends a decimal string
  return /^\d+$/.test(digits) ? Number(BigInt(digits) / 1000n) / 1e3 : Math.round(Number(digits) / 1e3) / 1e3;
};

const DELTA = 1;
const CUMULATIVE = 2;
const NO_RECORDED_VALUE = 1;

function text(v: AnyValue | null | undefined): string {
  if (!v) return '';
  switch (v.value) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return String(v.boolValue);
    case 'intValue':
      return String(v.intValue);
    case 'doubleValue':
      return String(v.doubleValue);
    case 'bytesValue':
      return Buffer.from(v.bytesValue ?? []).toString('base64');
    case 'arrayValue':
      return JSON.stringify((v.arrayValue?.values ?? []).map(text));
    case 'kvlistValue':
      return JSON.stringify(Object.fromEntries((v.kvlistValue?.values ?? []).map((kv) => [kv.key, text(kv.value)])));
    default:
      return '';
  }
}

function addAttributes(into: Record<string, string>, attributes: KeyValue[] | undefined, only?: ReadonlySet<string>) {
  for (const kv of attributes ?? []) if (!only || only.has(kv.key)) into[kv.key] = text(kv.value);
}

const RESOURCE_TAG_SET: ReadonlySet<string> = new Set(RESOURCE_TAGS);

export interface Decoded {
  observations: Observation[];
  /** Data points refused, each with why. */
  rejections: Array<{ source: number; reason: 'validation' | 'unsupported' | 'non_finite'; message: string }>;
  /** Data points in the request (stored, refused or without a recorded value). */
  dataPoints: number;
}

/** The request's data points as observations; see the file's comment for the rules. */
export function otlpObservations(request: OtlpRequest, now = Date.now()): Decoded {
  const out: Decoded = { observations: [], rejections: [], dataPoints: 0 };
  const checked = new Map<Record<string, string>, Map<string, ReturnType<typeof checkTags>>>();
  const sharedTags = new Map<Record<string, string>, Map<KeyValue[], ReturnType<typeof checkTags>>>();
  const scopeSignatures = new Map<Record<string, string>, string>();
  const refuse = (source: number, reason: Decoded['rejections'][number]['reason'], message: string) => out.rejections.push({ source, reason, message });

  for (const rm of request.resourceMetrics ?? []) {
    const resourceTags: Record<string, string> = {};
    addAttributes(resourceTags, rm.resource?.attributes, RESOURCE_TAG_SET);
    for (const sm of rm.scopeMetrics ?? []) {
      const scopeTags: Record<string, string> = { ...resourceTags };
      if (sm.scope?.name) scopeTags['otel.scope.name'] = sm.scope.name;
      addAttributes(scopeTags, sm.scope?.attributes);
      for (const metric of sm.metrics ?? []) decodeMetric(metric, scopeTags);
    }
  }
  return out;

  // Points of one request mostly repeat a few attribute sets: each set is checked once, and its
  // points share one Tags object (and so one tagsKey, src/ingest/record-points.ts). The
  // signature is each key and value prefixed by its length: one string per distinct list.
  function tagsOf(scopeTags: Record<string, string>, attributes: KeyValue[] | undefined): ReturnType<typeof checkTags> {
    // The protobuf decoder gives the points whose attributes are the same bytes one array.
    const shared = attributes !== undefined && sharedAttributes.has(attributes);
    let byArray = shared ? sharedTags.get(scopeTags) : undefined;
    if (shared) {
      if (!byArray) sharedTags.set(scopeTags, (byArray = new Map()));
      const known = byArray.get(attributes);
      if (known) return known;
    }
    let signature = '';
    if (attributes) {
      for (let i = 0; i < attributes.length; i++) {
        const kv = attributes[i]!;
        signature += tagSignature(kv.key, text(kv.value));
      }
    }
    let byScope = checked.get(scopeTags);
    if (!byScope) checked.set(scopeTags, (byScope = new Map()));
    let tags = byScope.get(signature);
    if (!tags) {
      // The scope's tags, then the point's attributes over them: the signature of both in that
      // order says what raw holds, and finds the Tags of earlier requests (metric-input.ts knownTags).
      let scopeSignature = scopeSignatures.get(scopeTags);
      if (scopeSignature === undefined) {
        scopeSignature = '';
        for (const key in scopeTags) scopeSignature += tagSignature(key, scopeTags[key]!);
        scopeSignatures.set(scopeTags, scopeSignature);
      }
      tags = checkTagsBySignature(scopeSignature + signature, () => {
        const raw: Record<string, string> = { ...scopeTags };
        for (const kv of attributes ?? []) raw[kv.key] = text(kv.value);
        return raw;
      });
      byScope.set(signature, tags);
    }
    if (byArray) byArray.set(attributes!, tags);
    return tags;
  }

  function decodeMetric(metric: Metric, scopeTags: Record<string, string>) {
    const points: Array<NumberPoint | HistogramPoint | ExponentialPoint | SummaryPoint> =
      (metric.data && (metric[metric.data] as { dataPoints?: never[] } | undefined)?.dataPoints) || [];
    const first = out.dataPoints;
    out.dataPoints += Math.max(points.length, metric.data ? 0 : 1);
    const refuseAll = (reason: Decoded['rejections'][number]['reason'], message: string) => {
      for (let i = first; i < out.dataPoints; i++) refuse(i, reason, message);
    };
    const name = metric.name ?? '';
    if (!metric.data) return refuseAll('unsupported', `metric '${name}' has no data of a type this service knows (Gauge, Sum, Histogram, ExponentialHistogram, Summary)`);
    if (name.length === 0 || name.length > 255 || !METRIC_NAME_PATTERN.test(name)) {
      return refuseAll('validation', `metric name '${name.slice(0, 100)}' must be 1-255 characters, start with a letter and hold only letters, digits, '.', '_' and '-'`);
    }
    const unit = metric.unit ? metric.unit : null;
    if (unit !== null && (unit.length > 50 || !storable(unit))) return refuseAll('validation', `metric '${name}': unit must be at most 50 characters`);

    let type: MetricType;
    let temporality = 0;
    if (metric.data === 'gauge') type = 'GAUGE';
    else if (metric.data === 'sum') {
      temporality = metric.sum!.aggregationTemporality;
      type = metric.sum!.isMonotonic ? 'COUNTER' : 'GAUGE';
      if (!metric.sum!.isMonotonic && temporality === DELTA) return refuseAll('unsupported', `metric '${name}': a non-monotonic Sum with delta temporality cannot be stored (its level is unknown); export UpDownCounters with cumulative temporality`);
    } else if (metric.data === 'summary') {
      type = 'SUMMARY';
      temporality = CUMULATIVE;
    } else {
      type = 'HISTOGRAM';
      temporality = (metric.histogram ?? metric.exponentialHistogram)!.aggregationTemporality;
    }
    if (metric.data !== 'gauge' && temporality !== DELTA && temporality !== CUMULATIVE) {
      return refuseAll('validation', `metric '${name}': aggregation temporality must be DELTA or CUMULATIVE`);
    }
    const cumulative = temporality === CUMULATIVE;

    points.forEach((point, index) => {
      const source = first + index;
      if ((point.flags & NO_RECORDED_VALUE) !== 0) return; // "no recorded value": a gap, not a value
      const tags = tagsOf(scopeTags, point.attributes);
      if ('error' in tags) return refuse(source, 'validation', `metric '${name}': ${tags.error}`);
      const timeMs = nanosToMs(point.timeUnixNano);
      if (!(timeMs > 0)) return refuse(source, 'validation', `metric '${name}': time_unix_nano must be set`);
      if (timeMs > now + MAX_FUTURE_MS) return refuse(source, 'validation', `metric '${name}': time ${new Date(timeMs).toISOString()} is more than 10 minutes in the future`);
      const startMs = nanosToMs(point.startTimeUnixNano);
      const start = startMs > 0 ? startMs : null;
      const time = new Date(timeMs);

      if (metric.data === 'gauge' || metric.data === 'sum') {
        const p = point as NumberPoint;
        const value = p.value === 'asInt' ? num(p.asInt) : p.asDouble;
        if (p.value === undefined) return refuse(source, 'validation', `metric '${name}': a data point has no value`);
        if (!Number.isFinite(value)) return refuse(source, 'non_finite', `metric '${name}': ${value} is not a finite number`);
        if (type === 'COUNTER' && value < 0) return refuse(source, 'validation', `metric '${name}': a monotonic Sum cannot be negative (${value})`);
        // Each shape built whole, not spread from a base: a request makes one per data point.
        out.observations.push(
          type === 'COUNTER' && cumulative
            ? { name, type, unit, tags: tags as Tags, time, source, kind: 'cumulative', value, start }
            : { name, type, unit, tags: tags as Tags, time, source, kind: 'value', value },
        );
        return;
      }
      if (metric.data === 'summary') {
        const p = point as SummaryPoint;
        const count = num(p.count);
        if (!Number.isFinite(p.sum) || p.quantileValues.some((q) => !Number.isFinite(q.value))) return refuse(source, 'non_finite', `metric '${name}': sum and quantile values must be finite numbers`);
        out.observations.push({ name, type, unit, tags: tags as Tags, time, source, kind: 'summary', count, sum: p.sum, quantiles: p.quantileValues.map((q) => ({ quantile: q.quantile, value: q.value })), start });
        return;
      }
      const buckets = metric.data === 'histogram' ? explicitOf(point as HistogramPoint) : exponentialOf(point as ExponentialPoint);
      if (typeof buckets === 'string') return refuse(source, buckets.startsWith('non-finite') ? 'non_finite' : 'validation', `metric '${name}': ${buckets}`);
      out.observations.push({ name, type, unit, tags: tags as Tags, time, source, kind: 'distribution', buckets, cumulative, start });
    });
  }
}

const optional = (v: number | null | undefined) => (v === null || v === undefined ? null : v);
const NO_BOUNDS: number[] = [];

/** A histogram point's count, sum, min and max, or why they are unusable. */
function figuresOf(p: { count: Int64; sum?: number | null; min?: number | null; max?: number | null }) {
  const figures = { count: num(p.count), sum: optional(p.sum), min: optional(p.min), max: optional(p.max) };
  const nonFinite = (v: number | null) => v !== null && !Number.isFinite(v);
  if (nonFinite(figures.sum) || nonFinite(figures.min) || nonFinite(figures.max)) return 'non-finite sum, min or max';
  if (!Number.isSafeInteger(figures.count) || figures.count < 0) return 'count is out of range';
  return figures;
}

/** Buckets of an explicit-bounds point, or why it is malformed. */
function explicitOf(p: HistogramPoint): Buckets | string {
  const figures = figuresOf(p);
  if (typeof figures === 'string') return figures;
  const { count, sum, min, max } = figures;
  const bounds = p.explicitBounds ?? [];
  const raw = p.bucketCounts ?? [];
  // The hand decoder (otlp-protobuf.ts) gives numbers already; protobufjs (JSON) Longs or strings.
  let counts = raw.every((c) => typeof c === 'number') ? (raw as number[]) : raw.map(num);
  if (counts.length === 0) counts = [count]; // no buckets: all observations in one (−∞, +∞)
  else if (counts.length !== bounds.length + 1) return `${counts.length} bucket counts for ${bounds.length} bounds (must be one more)`;
  if (counts.length > 1 && bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) return 'explicit bounds must be finite and increasing';
  let total = 0;
  for (const c of counts) total += c;
  if (total !== count) return 'the bucket counts do not add up to count';
  return explicitBuckets(counts.length === 1 ? NO_BOUNDS : bounds, counts, count, sum, min, max);
}

/** Buckets of an exponential point, or why it is malformed. */
function exponentialOf(p: ExponentialPoint): Buckets | string {
  const figures = figuresOf(p);
  if (typeof figures === 'string') return figures;
  const { count, sum, min, max } = figures;
  if (!Number.isInteger(p.scale) || p.scale < -10 || p.scale > 20) return `scale ${p.scale} is outside -10..20`;
  const positive = { offset: p.positive?.offset ?? 0, counts: (p.positive?.bucketCounts ?? []).map(num) };
  const negative = { offset: p.negative?.offset ?? 0, counts: (p.negative?.bucketCounts ?? []).map(num) };
  const zero = num(p.zeroCount);
  const total = zero + positive.counts.reduce((a, b) => a + b, 0) + negative.counts.reduce((a, b) => a + b, 0);
  if (total !== count) return 'the bucket counts do not add up to count';
  return exponentialBuckets(p.scale, p.zeroThreshold ?? 0, zero, positive, negative, count, sum, min, max);
}
