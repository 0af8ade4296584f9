/**
 * Prometheus remote-write 1.0 (a snappy-compressed protobuf WriteRequest) and 2.0 (an
 * io.prometheus.write.v2.Request: strings in a symbols table, metadata and start timestamps
 * per series) to observations (src/ingest/cumulative.ts), decoded by protobufjs from
 * proto/prometheus/remote.proto and proto/prometheus/write/v2/types.proto.
 *
 * `__name__` is the metric, the other labels the tags (names as sent). Types: a family's type
 * is fixed by its first point in Metrograph, so it is decided the same way for every request:
 * the type the metric already has in the tenant; else the type the request gives (2.0: the
 * series' own metadata; 1.0: the family's metadata): COUNTER, and the `_bucket`, `_count` and
 * `_sum` of HISTOGRAM and SUMMARY families, are cumulative counters; else by the name as OpenMetrics writes it (`_total`, `_bucket`,
 * `_count`, `_sum`: cumulative counters); everything else is a GAUGE. Cumulative counters
 * become increments per series (cumulative.ts: a first sample is a start, unless its 2.0
 * start timestamp says the counter began just before; a lower value or a later start timestamp
 * is a reset). A 2.0 series' unit is the metric's unit. Stale markers (the NaN 0x7ff0000000000002 Prometheus writes when a series ends) are
 * not values and are skipped; any other NaN or infinity is refused and reported. Native
 * histograms and exemplars are not stored (refused and reported).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { MetricType, Tags } from '../db/tables.js';
import type { Observation } from './cumulative.js';
import { checkTagsBySignature, MAX_FUTURE_MS, METRIC_NAME_PATTERN, tagSignature } from './metric-input.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const WriteRequest = protobuf.loadSync(path.join(PROTO_DIR, 'prometheus/remote.proto')).lookupType('prometheus.WriteRequest');
const RequestV2 = protobuf.loadSync(path.join(PROTO_DIR, 'prometheus/write/v2/types.proto')).lookupType('io.prometheus.write.v2.Request');

interface Int64Like {
  toNumber(): number;
}
export interface RemoteWriteRequest {
  timeseries: Array<{
    labels: Array<{ name: string; value: string }>;
    samples: Array<{ value: number; timestamp: Int64Like | number; startTimestamp?: Int64Like | number | null }>;
    histograms: unknown[];
    /** 2.0: the series' own metadata type (0: unspecified) and unit. */
    type?: number;
    unit?: string | null;
  }>;
  metadata: Array<{ type: number; metricFamilyName: string }>;
}

interface RequestV2Message {
  symbols: string[];
  timeseries: Array<{
    labelsRefs: number[];
    samples: Array<{ value: number; timestamp: Int64Like | number; startTimestamp?: Int64Like | number | null }>;
    histograms: unknown[];
    metadata?: { type: number; unitRef: number } | null;
  }>;
}

/**
 * A remote-write 2.0 `io.prometheus.write.v2.Request` in the form of a 1.0 request, its
 * strings resolved from the symbols table: labels from `labels_refs` (pairs of references),
 * each series' metadata type and unit kept on the series, samples' start timestamps kept. A
 * reference outside the table, an odd number of label references or a first symbol that is
 * not the empty string make the request malformed (400).
 */
export function decodeRemoteWriteV2(body: Uint8Array): RemoteWriteRequest | Error {
  let message: RequestV2Message;
  try {
    message = RequestV2.decode(body) as unknown as RequestV2Message;
  } catch (error) {
    return new Error(`not a remote-write 2.0 io.prometheus.write.v2.Request: ${(error as Error).message}`);
  }
  const symbols = message.symbols ?? [];
  if (symbols.length > 0 && symbols[0] !== '') return new Error('remote-write 2.0: the first symbol must be the empty string');
  const symbol = (ref: number, what: string): string | Error => (ref < symbols.length ? symbols[ref]! : new Error(`remote-write 2.0: ${what} refers to symbol ${ref}; the table has ${symbols.length}`));
  const timeseries: RemoteWriteRequest['timeseries'] = [];
  for (const series of message.timeseries ?? []) {
    const refs = series.labelsRefs ?? [];
    if (refs.length % 2 !== 0) return new Error(`remote-write 2.0: a series has ${refs.length} label references; they come in name and value pairs`);
    const labels: Array<{ name: string; value: string }> = [];
    for (let i = 0; i < refs.length; i += 2) {
      const name = symbol(refs[i]!, 'a label name');
      const value = symbol(refs[i + 1]!, 'a label value');
      if (name instanceof Error) return name;
      if (value instanceof Error) return value;
      labels.push({ name, value });
    }
    const unit = series.metadata?.unitRef ? symbol(series.metadata.unitRef, 'a unit') : '';
    if (unit instanceof Error) return unit;
    timeseries.push({ labels, samples: series.samples ?? [], histograms: series.histograms ?? [], type: series.metadata?.type ?? 0, unit: unit || null });
  }
  return { timeseries, metadata: [] };
}

export function decodeRemoteWrite(body: Uint8Array): RemoteWriteRequest | Error {
  try {
    return WriteRequest.decode(body) as unknown as RemoteWriteRequest;
  } catch (error) {
    return new Error(`not a remote-write WriteRequest: ${(error as Error).message}`);
  }
}

/** True for Prometheus' stale marker, a NaN with this exact bit pattern (value.StaleNaN). */
const bits = new DataView(new ArrayBuffer(8));
export function isStaleMarker(value: number): boolean {
  if (!Number.isNaN(value)) return false;
  bits.setFloat64(0, value);
  return bits.getUint32(0) === 0x7ff00000 && bits.getUint32(4) === 0x00000002;
}

const COUNTER = 1;
const HISTOGRAM = 3;
const GAUGE_HISTOGRAM = 4;
const SUMMARY = 5;
const SUFFIXES = ['_total', '_bucket', '_count', '_sum'];

export interface RemoteWriteDecoded {
  observations: Observation[];
  rejections: Array<{ source: number; reason: 'validation' | 'unsupported' | 'non_finite'; message: string }>;
  /** Samples in the request (each sample and each native histogram is one). */
  samples: number;
  /** Metric names of the observations, for the type look-up. */
  names: Set<string>;
}

/**
 * 2.0: whether a series is cumulative by its own metadata type (null: unspecified). A counter
 * is; a classic histogram's or a summary's `_bucket`, `_count` and `_sum` series are (each
 * series of a family carries the family's type); a gauge histogram's are not, nor anything else.
 */
function cumulativeBySeriesType(name: string, type: number | undefined): boolean | null {
  if (!type) return null;
  if (type === COUNTER) return true;
  if (type === HISTOGRAM || type === SUMMARY) return name.endsWith('_bucket') || name.endsWith('_count') || name.endsWith('_sum');
  return false;
}

/** The samples as observations; `existing`: the types the tenant's metrics already have. */
export function remoteWriteObservations(request: RemoteWriteRequest, existing: ReadonlyMap<string, MetricType>, now = Date.now()): RemoteWriteDecoded {
  const out: RemoteWriteDecoded = { observations: [], rejections: [], samples: 0, names: new Set() };
  const families = new Map<string, number>();
  for (const m of request.metadata ?? []) families.set(m.metricFamilyName, m.type);

  const cumulativeByMetadata = (name: string): boolean | null => {
    const own = families.get(name);
    if (own !== undefined) return own === COUNTER;
    for (const suffix of SUFFIXES) {
      if (!name.endsWith(suffix)) continue;
      const family = families.get(name.slice(0, -suffix.length));
      if (family === undefined) continue;
      if (family === COUNTER) return suffix === '_total';
      if (family === HISTOGRAM || family === SUMMARY || family === GAUGE_HISTOGRAM) return suffix !== '_total' && family !== GAUGE_HISTOGRAM;
    }
    return null;
  };

  for (const series of request.timeseries ?? []) {
    const first = out.samples;
    const samples = series.samples ?? [];
    out.samples += samples.length + (series.histograms?.length ?? 0);
    const refuseAll = (reason: RemoteWriteDecoded['rejections'][number]['reason'], message: string, from = first, to = out.samples) => {
      for (let i = from; i < to; i++) out.rejections.push({ source: i, reason, message });
    };
    let name = '';
    // The labels but the name, as their signature (one text per label list: the Tags of an
    // earlier request are found by it, metric-input.ts knownTags) and, when not, as an object.
    let signature = '';
    for (const label of series.labels ?? []) {
      if (label.name === '__name__') name = label.value;
      else signature += tagSignature(label.name, label.value);
    }
    const labels = () => {
      const raw: Record<string, string> = {};
      for (const label of series.labels ?? []) if (label.name !== '__name__') raw[label.name] = label.value;
      return raw;
    };
    if (series.histograms?.length) refuseAll('unsupported', `${name}: native histograms are not stored; send classic histograms`, first + samples.length);
    if (samples.length === 0) continue;
    if (name.length === 0 || name.length > 255 || !METRIC_NAME_PATTERN.test(name)) {
      refuseAll('validation', `metric name '${name.slice(0, 100)}' must be 1-255 characters, start with a letter and hold only letters, digits, '.', '_' and '-'`, first, first + samples.length);
      continue;
    }
    const tags = checkTagsBySignature(signature, labels);
    if ('error' in tags) {
      refuseAll('validation', `${name}: ${tags.error}`, first, first + samples.length);
      continue;
    }
    const known = existing.get(name);
    const cumulative = known !== undefined ? known === 'COUNTER' : (cumulativeBySeriesType(name, series.type) ?? cumulativeByMetadata(name) ?? SUFFIXES.some((s) => name.endsWith(s)));
    const type: MetricType = known ?? (cumulative ? 'COUNTER' : 'GAUGE');
    out.names.add(name);
    const unit = series.unit ?? null;
    samples.forEach((sample, index) => {
      const source = first + index;
      const value = sample.value;
      if (isStaleMarker(value)) return;
      if (!Number.isFinite(value)) return void out.rejections.push({ source, reason: 'non_finite', message: `${name}: ${value} is not a finite number` });
      const time = typeof sample.timestamp === 'number' ? sample.timestamp : sample.timestamp.toNumber();
      if (time > now + MAX_FUTURE_MS) return void out.rejections.push({ source, reason: 'validation', message: `${name}: timestamp ${time} is more than 10 minutes in the future` });
      if (time <= 0) return void out.rejections.push({ source, reason: 'validation', message: `${name}: timestamp ${time} is not after 1970` });
      if (type === 'COUNTER' && value < 0) return void out.rejections.push({ source, reason: 'validation', message: `${name}: a counter cannot be negative (${value})` });
      const start = sample.startTimestamp == null ? 0 : typeof sample.startTimestamp === 'number' ? sample.startTimestamp : sample.startTimestamp.toNumber();
      // Each shape built whole, not spread from a base: a request makes one per sample.
      out.observations.push(
        type === 'COUNTER' && cumulative
          ? { name, type, unit, tags: tags as Tags, time: new Date(time), source, kind: 'cumulative', value, start: start > 0 ? start : null }
          : { name, type, unit, tags: tags as Tags, time: new Date(time), source, kind: 'value', value },
      );
    });
  }
  return out;
}
