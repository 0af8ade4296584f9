/**
 * The hand-written OTLP protobuf decoder (src/ingest/otlp-protobuf.ts) held to protobufjs,
 * which reads the same .proto files: for generated ExportMetricsServiceRequests (valid and
 * invalid names, units, attributes of every value type, repeated attribute sets, 64-bit times
 * and counts at their edges, every data type), both decoders give the same observations and
 * rejections; cut short, both refuse the bytes.
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_SEED=random tries a new one.
 */
import path from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { otlpObservations, type OtlpRequest } from '../src/ingest/otlp-decode.js';
import { decodeOtlpProtobuf } from '../src/ingest/otlp-protobuf.js';

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_261_202);
const RUNS = Number(process.env.FC_RUNS ?? 300);
console.log(`otlp-protobuf: FC_SEED=${SEED} FC_RUNS=${RUNS}`);

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(import.meta.dirname, '../proto', target);
root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto');
const ExportRequest = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');

const NOW = Date.parse('2026-12-02T06:00:00Z');
const NOW_NS = BigInt(NOW) * 1_000_000n;

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 40n })).map(String);
const i64 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -5n, max: 5n })).map(String);
/** Times near now (to the nanosecond), at the edges, or anything. */
const nanos = fc.oneof(
  fc.bigInt({ min: NOW_NS - 3_600_000_000_000n, max: NOW_NS + 3_600_000_000_000n }).map(String),
  fc.constantFrom('0', '1', '999999', String(2n ** 53n), String(2n ** 63n), String(2n ** 64n - 1n), String(2_097_151_000n * 2n ** 32n)),
  u64,
);
const double = fc.oneof(fc.double(), fc.double({ min: 0, max: 1e6, noNaN: true }));
const text = fc.oneof(fc.constantFrom('', 'host', 'region', 'service.name', 'eu', 'web-01', 'naïve', '日本'), fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));

const anyValue: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ value: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text.map((stringValue) => ({ stringValue })),
    fc.boolean().map((boolValue) => ({ boolValue })),
    i64.map((intValue) => ({ intValue })),
    double.map((doubleValue) => ({ doubleValue })),
    fc.uint8Array({ maxLength: 6 }).map((bytesValue) => ({ bytesValue })),
    fc.array(tie('value'), { maxLength: 3 }).map((values) => ({ arrayValue: { values } })),
    fc.array(fc.record({ key: text, value: tie('value') }), { maxLength: 2 }).map((values) => ({ kvlistValue: { values } })),
    fc.constant({}),
  ),
})).value;
const keyValue = fc.record({ key: text, value: anyValue }, { requiredKeys: ['key'] });
/** A few attribute sets per request, so points repeat them (the decoder shares those). */
const attributePool = fc.array(fc.array(keyValue, { maxLength: 4 }), { minLength: 1, maxLength: 3 });

const common = (pool: unknown[][]) =>
  fc.record(
    { attributes: fc.nat(pool.length - 1).map((i) => pool[i]), timeUnixNano: nanos, startTimeUnixNano: nanos, flags: fc.constantFrom(0, 0, 0, 1, 2) },
    { requiredKeys: ['attributes'] },
  );
const numberPoint = (pool: unknown[][]) =>
  fc.tuple(common(pool), fc.oneof(double.map((asDouble) => ({ asDouble })), i64.map((asInt) => ({ asInt })), fc.constant({}))).map(([c, v]) => ({ ...c, ...v }));
const optional = <T,>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const histogramPoint = (pool: unknown[][]) =>
  fc
    .tuple(common(pool), fc.array(fc.nat(5), { maxLength: 4 }), fc.array(fc.double({ noNaN: true, min: -100, max: 100 }), { maxLength: 4 }), optional(double), optional(double), optional(double), fc.boolean())
    .map(([c, counts, bounds, sum, min, max, consistent]) => {
      const sorted = [...bounds].sort((a, b) => a - b);
      const bucketCounts = consistent ? (counts.length ? [...counts, 1].slice(0, sorted.length + 1) : []) : counts;
      const explicitBounds = consistent ? sorted.slice(0, Math.max(0, bucketCounts.length - 1)) : bounds;
      const count = consistent ? bucketCounts.reduce((a, b) => a + b, 0) || 3 : counts.length;
      return { ...c, count: String(count), bucketCounts: bucketCounts.map(String), explicitBounds, sum, min, max };
    });
const expBuckets = fc.record({ offset: fc.integer({ min: -20, max: 20 }), bucketCounts: fc.array(fc.nat(4).map(String), { maxLength: 4 }) });
const exponentialPoint = (pool: unknown[][]) =>
  fc.tuple(common(pool), fc.integer({ min: -12, max: 22 }), fc.nat(3), optional(expBuckets), optional(expBuckets), optional(double), fc.boolean()).map(([c, scale, zeroCount, positive, negative, sum, consistent]) => {
    const total = zeroCount + [positive, negative].reduce((n, b) => n + (b?.bucketCounts.reduce((a, x) => a + Number(x), 0) ?? 0), 0);
    return { ...c, scale, zeroCount: String(zeroCount), positive, negative, sum, zeroThreshold: 0, count: String(consistent ? total : total + 1) };
  });
const summaryPoint = (pool: unknown[][]) =>
  fc
    .tuple(common(pool), u64, double, fc.array(fc.record({ quantile: fc.double({ min: 0, max: 1, noNaN: true }), value: double }), { maxLength: 3 }))
    .map(([c, count, sum, quantileValues]) => ({ ...c, count, sum, quantileValues }));

const metricName = fc.oneof(fc.constantFrom('http.requests', 'cpu', 'db.duration', 'queue-depth_2'), text);
const points = <T,>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 5 });
const temporality = fc.constantFrom(0, 1, 2, 2, 3);
const metric = (pool: unknown[][]) =>
  fc.tuple(metricName, fc.constantFrom('', 'ms', '%'), fc.nat(5)).chain(([name, unit, kind]) => {
    const data = [
      points(numberPoint(pool)).map((dataPoints) => ({ gauge: { dataPoints } })),
      fc.tuple(points(numberPoint(pool)), temporality, fc.boolean()).map(([dataPoints, aggregationTemporality, isMonotonic]) => ({ sum: { dataPoints, aggregationTemporality, isMonotonic } })),
      fc.tuple(points(histogramPoint(pool)), temporality).map(([dataPoints, aggregationTemporality]) => ({ histogram: { dataPoints, aggregationTemporality } })),
      fc.tuple(points(exponentialPoint(pool)), temporality).map(([dataPoints, aggregationTemporality]) => ({ exponentialHistogram: { dataPoints, aggregationTemporality } })),
      points(summaryPoint(pool)).map((dataPoints) => ({ summary: { dataPoints } })),
      fc.constant({}),
    ][kind]!;
    return data.map((d) => ({ name, unit, description: 'ignored', ...d }));
  });
const request = attributePool.chain((pool) =>
  fc.record({
    resourceMetrics: fc.array(
      fc.record({
        resource: optional(fc.record({ attributes: fc.array(fc.oneof(keyValue, fc.constant({ key: 'service.name', value: { stringValue: 'checkout' } })), { maxLength: 3 }) })),
        scopeMetrics: fc.array(fc.record({ scope: optional(fc.record({ name: text, version: text, attributes: fc.array(keyValue, { maxLength: 2 }) })), metrics: fc.array(metric(pool), { maxLength: 4 }) }), { maxLength: 2 }),
        schemaUrl: text,
      }),
      { minLength: 1, maxLength: 2 },
    ),
  }),
);

const encode = (message: unknown) => Buffer.from(ExportRequest.encode(ExportRequest.fromObject(message as Record<string, unknown>)).finish());
const byProtobufjs = (bytes: Buffer) => ExportRequest.decode(bytes) as unknown as OtlpRequest;

describe('decodeOtlpProtobuf', () => {
  test('gives the observations and rejections protobufjs gives, for generated requests', () => {
    fc.assert(
      fc.property(request, (message) => {
        const bytes = encode(message);
        expect(otlpObservations(decodeOtlpProtobuf(bytes), NOW)).toEqual(otlpObservations(byProtobufjs(bytes), NOW));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('refuses what protobufjs refuses when a request is cut short', () => {
    fc.assert(
      fc.property(request, fc.double({ min: 0, max: 1, noNaN: true }), (message, at) => {
        const bytes = encode(message);
        const cut = bytes.subarray(0, Math.floor(bytes.length * at));
        let theirs: ReturnType<typeof otlpObservations>;
        try {
          theirs = otlpObservations(byProtobufjs(Buffer.from(cut)), NOW);
        } catch {
          expect(() => decodeOtlpProtobuf(Buffer.from(cut))).toThrow();
          return;
        }
        expect(otlpObservations(decodeOtlpProtobuf(Buffer.from(cut)), NOW)).toEqual(theirs);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('points that repeat an attribute set share one tags object; a different set has its own', () => {
    const attributes = [{ key: 'host', value: { stringValue: 'a' } }];
    const bytes = encode({
      resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: [1, 2, 3].map((v) => ({ attributes: v === 3 ? [{ key: 'host', value: { stringValue: 'b' } }] : attributes, timeUnixNano: String(NOW_NS), asDouble: v })) } }] }] }],
    });
    const { observations } = otlpObservations(decodeOtlpProtobuf(bytes), NOW);
    expect(observations.map((o) => o.tags)).toEqual([{ host: 'a' }, { host: 'a' }, { host: 'b' }]);
    expect(observations[0]!.tags).toBe(observations[1]!.tags);
    expect(observations[2]!.tags).not.toBe(observations[0]!.tags);
  });

  test('a string that is not UTF-8 makes the request malformed, as protobufjs says', () => {
    const bytes = encode({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'ab', gauge: { dataPoints: [] } }] }] }] });
    const bad = Buffer.from(bytes);
    bad[bad.indexOf('ab')] = 0xff;
    expect(() => byProtobufjs(bad)).toThrow();
    expect(() => decodeOtlpProtobuf(bad)).toThrow(/utf8/);
  });
});
