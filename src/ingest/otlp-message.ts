/**
 * The OTLP messages as the decoders give them (protobufjs, JSON through fromObject, or the
 * hand decoder src/ingest/otlp-protobuf.ts): the fields otlpObservations reads.
 */
export type Long = { toNumber(): number; toString(): string };
export type Int64 = Long | number | string | null | undefined;
export interface AnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  /** A bigint from the hand decoder (src/ingest/otlp-protobuf.ts). */
  intValue?: Int64 | bigint;
  doubleValue?: number;
  bytesValue?: Uint8Array;
  arrayValue?: { values: AnyValue[] };
  kvlistValue?: { values: KeyValue[] };
}
export interface KeyValue {
  key: string;
  value?: AnyValue | null;
}
export interface NumberPoint {
  attributes: KeyValue[];
  startTimeUnixNano: Int64;
  timeUnixNano: Int64;
  value?: 'asDouble' | 'asInt';
  asDouble: number;
  asInt: Int64;
  flags: number;
}
export interface HistogramPoint {
  attributes: KeyValue[];
  startTimeUnixNano: Int64;
  timeUnixNano: Int64;
  count: Int64;
  sum?: number | null;
  bucketCounts: Int64[];
  explicitBounds: number[];
  flags: number;
  min?: number | null;
  max?: number | null;
}
export interface ExponentialPoint {
  attributes: KeyValue[];
  startTimeUnixNano: Int64;
  timeUnixNano: Int64;
  count: Int64;
  sum?: number | null;
  scale: number;
  zeroCount: Int64;
  zeroThreshold: number;
  positive?: { offset: number; bucketCounts: Int64[] } | null;
  negative?: { offset: number; bucketCounts: Int64[] } | null;
  flags: number;
  min?: number | null;
  max?: number | null;
}
export interface SummaryPoint {
  attributes: KeyValue[];
  startTimeUnixNano: Int64;
  timeUnixNano: Int64;
  count: Int64;
  sum: number;
  quantileValues: Array<{ quantile: number; value: number }>;
  flags: number;
}
export interface Metric {
  name: string;
  unit: string;
  data?: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  gauge?: { dataPoints: NumberPoint[] };
  sum?: { dataPoints: NumberPoint[]; aggregationTemporality: number; isMonotonic: boolean };
  histogram?: { dataPoints: HistogramPoint[]; aggregationTemporality: number };
  exponentialHistogram?: { dataPoints: ExponentialPoint[]; aggregationTemporality: number };
  summary?: { dataPoints: SummaryPoint[] };
}
export interface OtlpRequest {
  resourceMetrics: Array<{
    resource?: { attributes: KeyValue[] } | null;
    scopeMetrics: Array<{ scope?: { name: string; attributes: KeyValue[] } | null; metrics: Metric[] }>;
  }>;
}

