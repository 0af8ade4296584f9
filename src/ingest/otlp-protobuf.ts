/**
 * ExportMetricsServiceRequest from protobuf bytes, read by hand into the shape protobufjs gives
 * (OtlpRequest, src/ingest/otlp-decode.ts), for the fields otlpObservations reads; what it
 * does not read (descriptions, schema URLs, exemplars, metadata) is skipped as unknown fields.
 *
 * Why by hand: protobufjs makes an object per attribute, per attribute value and per 64-bit
 * number of every data point, and that churn was the largest cost of an OTLP request
 * (bench:ingest, #13). Here a data point's attribute list is decoded once per distinct byte
 * sequence in the request, and its points share that one array (`sharedAttributes`), so the
 * tags of an attribute set are also found once (otlp-decode.ts tagsOf). 64-bit integers are
 * numbers (as protobufjs's Long.toNumber gives them), but times, which need every digit, are
 * Nanos and any int attribute value is a bigint (printed exactly).
 *
 * Held to protobufjs by test/otlp-protobuf.test.ts: for generated requests, both decoders give the
 * same observations. It reads as protobufjs 8 does: a field with a wire type other than its
 * own is skipped like an unknown one; packed and unpacked repeated numbers both read; a oneof
 * is the member set last; a message field seen twice is merged. Malformed input (a length past
 * the end, invalid UTF-8 in a string, a bad wire type, nesting past 100) throws.
 */
import type { OtlpRequest } from './otlp-message.js';

/** An unsigned 64-bit count of nanoseconds as its two halves (what nanosToMs reads exactly). */
export class Nanos {
  constructor(
    readonly low: number,
    readonly high: number,
  ) {}
  toNumber(): number {
    return (this.high >>> 0) * 4294967296 + (this.low >>> 0);
  }
  toString(): string {
    return ((BigInt(this.high >>> 0) << 32n) | BigInt(this.low >>> 0)).toString();
  }
}

/** Attribute arrays shared by the data points whose attributes are the same bytes: safe to key by identity. */
export const sharedAttributes = new WeakSet<object>();

const RECURSION_LIMIT = 100;
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): number {
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    // Up to 32 bits as an unsigned number; the rest of a longer varint is read and dropped (as protobufjs's uint32 does).
    const buf = this.buf;
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= buf.length) throw new RangeError('index out of range');
      const b = buf[this.pos++]!;
      if (shift < 32) value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return value % 4294967296;
    }
    throw new Error('invalid varint encoding');
  }

  /** A varint as 64 bits: [low, high] (two's complement for negative int64). */
  varint64(): [number, number] {
    const buf = this.buf;
    let low = 0;
    let high = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= buf.length) throw new RangeError('index out of range');
      const b = buf[this.pos++]!;
      if (i < 4) low |= (b & 0x7f) << (i * 7);
      else if (i === 4) {
        low |= (b & 0x0f) << 28;
        high |= (b & 0x7f) >> 4;
      } else high |= (b & 0x7f) << (i * 7 - 32);
      if (b < 0x80) return [low >>> 0, high >>> 0];
    }
    throw new Error('invalid varint encoding');
  }

  int32(): number {
    return this.varint() | 0;
  }

  sint32(): number {
    const n = this.varint();
    return (n >>> 1) ^ -(n & 1);
  }

  /** As protobufjs reads it: the low 32 bits not zero. */
  bool(): boolean {
    return this.varint() !== 0;
  }

  fixed32(): number {
    if (this.pos + 4 > this.buf.length) throw new RangeError('index out of range');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) throw new RangeError('index out of range');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** fixed64 as a number (Long.toNumber of an unsigned Long). */
  fixed64(): number {
    const low = this.fixed32();
    const high = this.fixed32();
    return high * 4294967296 + low;
  }

  /** sfixed64 as a number (Long.toNumber of a signed Long). */
  sfixed64(): number {
    const low = this.fixed32();
    const high = this.fixed32() | 0;
    return high * 4294967296 + low;
  }

  nanos(): Nanos | 0 {
    const low = this.fixed32();
    const high = this.fixed32();
    return low === 0 && high === 0 ? 0 : new Nanos(low, high);
  }

  /** The end of a length-delimited field that starts here. */
  end(): number {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.buf.length) throw new RangeError('index out of range');
    return end;
  }

  string(): string {
    const end = this.end();
    const start = this.pos;
    this.pos = end;
    const buf = this.buf;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return buf.toString('latin1', start, end);
    try {
      return utf8.decode(buf.subarray(start, end));
    } catch {
      throw new Error('invalid utf8');
    }
  }

  bytes(): Uint8Array {
    const end = this.end();
    const out = new Uint8Array(this.buf.subarray(this.pos, end));
    this.pos = end;
    return out;
  }

  skip(wireType: number, field: number, depth: number): void {
    if (field === 0) throw new Error('illegal tag: field number 0');
    if (depth > RECURSION_LIMIT) throw new Error('max depth exceeded');
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        if ((this.pos += 8) > this.buf.length) throw new RangeError('index out of range');
        return;
      case 2:
        this.pos = this.end();
        return;
      case 3:
        for (;;) {
          const tag = this.varint();
          const nested = tag >>> 3;
          if (nested === 0) throw new Error('illegal tag: field number 0');
          if ((tag & 7) === 4) {
            if (nested !== field) throw new Error('invalid end group tag');
            return;
          }
          this.skip(tag & 7, nested, depth + 1);
        }
      case 5:
        if ((this.pos += 4) > this.buf.length) throw new RangeError('index out of range');
        return;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  tag(): number {
    const tag = this.varint();
    if (tag >>> 3 === 0) throw new Error('illegal tag: field number 0');
    return tag;
  }

  enter(depth: number): void {
    if (depth > RECURSION_LIMIT) throw new Error('max depth exceeded');
  }

  /** A message read up to its end: not past it (a field longer than its message). */
  done(end: number): void {
    if (this.pos !== end) throw new RangeError('index out of range');
  }

  /** Repeated fixed64 (packed or not) into `into`. */
  fixed64s(wireType: number, into: number[]): boolean {
    if (wireType === 1) into.push(this.fixed64());
    else if (wireType === 2) for (const end = this.end(); this.pos < end; ) into.push(this.fixed64());
    else return false;
    return true;
  }

  doubles(wireType: number, into: number[]): boolean {
    if (wireType === 1) into.push(this.double());
    else if (wireType === 2) for (const end = this.end(); this.pos < end; ) into.push(this.double());
    else return false;
    return true;
  }

  uint64(): number {
    const [low, high] = this.varint64();
    return high * 4294967296 + low;
  }

  /** Repeated uint64 varints (packed or not) as numbers (Long.toNumber of an unsigned Long). */
  uint64s(wireType: number, into: number[]): boolean {
      if (wireType === 0) into.push(this.uint64());
    else if (wireType === 2) for (const end = this.end(); this.pos < end; ) into.push(this.uint64());
    else return false;
    return true;
  }
}

type Json = Record<string, unknown>;

// Each message below is read by a loop over its fields: `continue` for a field taken, `break`
// to skip it (unknown, or not its wire type), then `r.done(end)` checks the length.

function anyValue(r: Reader, end: number, depth: number, into: Json = {}): Json {
  r.enter(depth);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        if (wt !== 2) break;
        into.stringValue = r.string();
        into.value = 'stringValue';
        continue;
      case 2:
        if (wt !== 0) break;
        into.boolValue = r.bool();
        into.value = 'boolValue';
        continue;
      case 3: {
        if (wt !== 0) break;
        const [low, high] = r.varint64();
        into.intValue = BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
        into.value = 'intValue';
        continue;
      }
      case 4:
        if (wt !== 1) break;
        into.doubleValue = r.double();
        into.value = 'doubleValue';
        continue;
      case 5:
      case 6: {
        if (wt !== 2) break;
        const name = field === 5 ? 'arrayValue' : 'kvlistValue';
        const list = (into[name] as { values: unknown[] } | undefined) ?? { values: [] };
        const listEnd = r.end();
        r.enter(depth + 1);
        while (r.pos < listEnd) {
          const t = r.tag();
          if (t >>> 3 === 1 && (t & 7) === 2) {
            const itemEnd = r.end();
            list.values.push(field === 5 ? anyValue(r, itemEnd, depth + 2) : keyValue(r, itemEnd, depth + 2));
          } else r.skip(t & 7, t >>> 3, depth + 1);
        }
        r.done(listEnd);
        into[name] = list;
        into.value = name;
        continue;
      }
      case 7:
        if (wt !== 2) break;
        into.bytesValue = r.bytes();
        into.value = 'bytesValue';
        continue;
      case 8:
        if (wt !== 0) break;
        into.stringValueStrindex = r.int32();
        into.value = 'stringValueStrindex';
        continue;
    }
    r.skip(wt, field, depth);
  }
  r.done(end);
  return into;
}

function keyValue(r: Reader, end: number, depth: number): Json {
  const kv: Json = { key: '', value: null };
  r.enter(depth);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (wt === 2 && field === 1) kv.key = r.string();
    else if (wt === 2 && field === 2) kv.value = anyValue(r, r.end(), depth + 1, (kv.value as Json | null) ?? {});
    else r.skip(wt, field, depth);
  }
  r.done(end);
  return kv;
}

/**
 * A data point's attributes, collected by its reader as byte ranges (start, end of each
 * KeyValue) and decoded here: when they were one contiguous run of fields (as every encoder
 * writes them), through `shared`, a cache per request keyed by those bytes.
 *
 * One run serves every data point (`attributeRun`, emptied by `start`): a point's attributes
 * are read before the next point starts, and decoding is synchronous, so no two points share
 * it at once; a request's points then allocate nothing for their attributes but the key.
 */
class AttributeRun {
  ranges: number[] = [];
  runStart = -1;
  runEnd = -1;
  contiguous = true;

  /** Empties the run for the next data point; returns it. */
  start(): this {
    this.ranges.length = 0;
    this.runStart = -1;
    this.runEnd = -1;
    this.contiguous = true;
    return this;
  }

  /** Takes the attribute field whose tag started at `tagStart` and whose length prefix is next. */
  add(r: Reader, tagStart: number): void {
    const end = r.end();
    if (this.runStart < 0) this.runStart = tagStart;
    else if (tagStart !== this.runEnd) this.contiguous = false;
    this.ranges.push(r.pos, end);
    r.pos = end;
    this.runEnd = end;
  }

  read(r: Reader, depth: number, shared: Map<string, Json[]>): Json[] {
    if (this.ranges.length === 0) return EMPTY;
    if (!this.contiguous) return this.decode(r, depth);
    const key = r.buf.toString('latin1', this.runStart, this.runEnd);
    let list = shared.get(key);
    if (!list) {
      list = this.decode(r, depth);
      sharedAttributes.add(list);
      shared.set(key, list);
    }
    return list;
  }

  private decode(r: Reader, depth: number): Json[] {
    const ranges = this.ranges;
    const saved = r.pos;
    const list: Json[] = [];
    for (let i = 0; i < ranges.length; i += 2) {
      r.pos = ranges[i]!;
      list.push(keyValue(r, ranges[i + 1]!, depth + 1));
    }
    r.pos = saved;
    return list;
  }
}

const EMPTY: Json[] = [];
sharedAttributes.add(EMPTY);
const attributeRun = new AttributeRun();

function numberPoint(r: Reader, end: number, depth: number, shared: Map<string, Json[]>): Json {
  const p: Json = { attributes: EMPTY, startTimeUnixNano: 0, timeUnixNano: 0, value: undefined, asDouble: 0, asInt: 0, flags: 0 };
  const attributes = attributeRun.start();
  r.enter(depth);
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 7:
        if (wt !== 2) break;
        attributes.add(r, tagStart);
        continue;
      case 2:
        if (wt !== 1) break;
        p.startTimeUnixNano = r.nanos();
        continue;
      case 3:
        if (wt !== 1) break;
        p.timeUnixNano = r.nanos();
        continue;
      case 4:
        if (wt !== 1) break;
        p.asDouble = r.double();
        p.value = 'asDouble';
        continue;
      case 6:
        if (wt !== 1) break;
        p.asInt = r.sfixed64();
        p.value = 'asInt';
        continue;
      case 8:
        if (wt !== 0) break;
        p.flags = r.varint();
        continue;
    }
    r.skip(wt, field, depth);
  }
  r.done(end);
  p.attributes = attributes.read(r, depth, shared);
  return p;
}

function histogramPoint(r: Reader, end: number, depth: number, shared: Map<string, Json[]>): Json {
  const counts: number[] = [];
  const bounds: number[] = [];
  const p: Json = { attributes: EMPTY, startTimeUnixNano: 0, timeUnixNano: 0, count: 0, sum: null, bucketCounts: counts, explicitBounds: bounds, flags: 0, min: null, max: null };
  const attributes = attributeRun.start();
  r.enter(depth);
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 9:
        if (wt !== 2) break;
        attributes.add(r, tagStart);
        continue;
      case 2:
        if (wt !== 1) break;
        p.startTimeUnixNano = r.nanos();
        continue;
      case 3:
        if (wt !== 1) break;
        p.timeUnixNano = r.nanos();
        continue;
      case 4:
        if (wt !== 1) break;
        p.count = r.fixed64();
        continue;
      case 5:
        if (wt !== 1) break;
        p.sum = r.double();
        continue;
      case 11:
        if (wt !== 1) break;
        p.min = r.double();
        continue;
      case 12:
        if (wt !== 1) break;
        p.max = r.double();
        continue;
      case 6:
        if (!r.fixed64s(wt, counts)) break;
        continue;
      case 7:
        if (!r.doubles(wt, bounds)) break;
        continue;
      case 10:
        if (wt !== 0) break;
        p.flags = r.varint();
        continue;
    }
    r.skip(wt, field, depth);
  }
  r.done(end);
  p.attributes = attributes.read(r, depth, shared);
  return p;
}

function exponentialBuckets(r: Reader, end: number, depth: number, into: { offset: number; bucketCounts: number[] }) {
  r.enter(depth);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === 0) into.offset = r.sint32();
    else if (!(field === 2 && r.uint64s(wt, into.bucketCounts))) r.skip(wt, field, depth);
  }
  r.done(end);
  return into;
}

function exponentialPoint(r: Reader, end: number, depth: number, shared: Map<string, Json[]>): Json {
  const p: Json = { attributes: EMPTY, startTimeUnixNano: 0, timeUnixNano: 0, count: 0, sum: null, scale: 0, zeroCount: 0, zeroThreshold: 0, positive: null, negative: null, flags: 0, min: null, max: null };
  const attributes = attributeRun.start();
  r.enter(depth);
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        if (wt !== 2) break;
        attributes.add(r, tagStart);
        continue;
      case 2:
        if (wt !== 1) break;
        p.startTimeUnixNano = r.nanos();
        continue;
      case 3:
        if (wt !== 1) break;
        p.timeUnixNano = r.nanos();
        continue;
      case 4:
        if (wt !== 1) break;
        p.count = r.fixed64();
        continue;
      case 7:
        if (wt !== 1) break;
        p.zeroCount = r.fixed64();
        continue;
      case 5:
        if (wt !== 1) break;
        p.sum = r.double();
        continue;
      case 12:
        if (wt !== 1) break;
        p.min = r.double();
        continue;
      case 13:
        if (wt !== 1) break;
        p.max = r.double();
        continue;
      case 14:
        if (wt !== 1) break;
        p.zeroThreshold = r.double();
        continue;
      case 6:
        if (wt !== 0) break;
        p.scale = r.sint32();
        continue;
      case 8:
      case 9: {
        if (wt !== 2) break;
        const name = field === 8 ? 'positive' : 'negative';
        p[name] = exponentialBuckets(r, r.end(), depth + 1, (p[name] as { offset: number; bucketCounts: number[] } | null) ?? { offset: 0, bucketCounts: [] });
        continue;
      }
      case 10:
        if (wt !== 0) break;
        p.flags = r.varint();
        continue;
    }
    r.skip(wt, field, depth);
  }
  r.done(end);
  p.attributes = attributes.read(r, depth, shared);
  return p;
}

function summaryPoint(r: Reader, end: number, depth: number, shared: Map<string, Json[]>): Json {
  const quantiles: Array<{ quantile: number; value: number }> = [];
  const p: Json = { attributes: EMPTY, startTimeUnixNano: 0, timeUnixNano: 0, count: 0, sum: 0, quantileValues: quantiles, flags: 0 };
  const attributes = attributeRun.start();
  r.enter(depth);
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 7:
        if (wt !== 2) break;
        attributes.add(r, tagStart);
        continue;
      case 2:
        if (wt !== 1) break;
        p.startTimeUnixNano = r.nanos();
        continue;
      case 3:
        if (wt !== 1) break;
        p.timeUnixNano = r.nanos();
        continue;
      case 4:
        if (wt !== 1) break;
        p.count = r.fixed64();
        continue;
      case 5:
        if (wt !== 1) break;
        p.sum = r.double();
        continue;
      case 6: {
        if (wt !== 2) break;
        const q = { quantile: 0, value: 0 };
        const qEnd = r.end();
        r.enter(depth + 1);
        while (r.pos < qEnd) {
          const t = r.tag();
          if (t === ((1 << 3) | 1)) q.quantile = r.double();
          else if (t === ((2 << 3) | 1)) q.value = r.double();
          else r.skip(t & 7, t >>> 3, depth + 1);
        }
        r.done(qEnd);
        quantiles.push(q);
        continue;
      }
      case 8:
        if (wt !== 0) break;
        p.flags = r.varint();
        continue;
    }
    r.skip(wt, field, depth);
  }
  r.done(end);
  p.attributes = attributes.read(r, depth, shared);
  return p;
}

const POINT_READERS = {
  gauge: numberPoint,
  sum: numberPoint,
  histogram: histogramPoint,
  exponentialHistogram: exponentialPoint,
  summary: summaryPoint,
} as const;
const DATA_FIELDS: Record<number, keyof typeof POINT_READERS> = { 5: 'gauge', 7: 'sum', 9: 'histogram', 10: 'exponentialHistogram', 11: 'summary' };

function metric(r: Reader, end: number, depth: number, shared: Map<string, Json[]>): Json {
  const m: Json = { name: '', unit: '' };
  r.enter(depth);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    const kind = DATA_FIELDS[field];
    if ((field === 1 || field === 3) && wt === 2) {
      m[field === 1 ? 'name' : 'unit'] = r.string();
    } else if (kind && wt === 2) {
      const data = (m[kind] as { dataPoints: Json[]; aggregationTemporality: number; isMonotonic: boolean } | undefined) ?? { dataPoints: [], aggregationTemporality: 0, isMonotonic: false };
      const readPoint = POINT_READERS[kind];
      const dataEnd = r.end();
      r.enter(depth + 1);
      while (r.pos < dataEnd) {
        const t = r.tag();
        const f = t >>> 3;
        const w = t & 7;
        if (f === 1 && w === 2) data.dataPoints.push(readPoint(r, r.end(), depth + 2, shared));
        else if (f === 2 && w === 0 && kind !== 'gauge' && kind !== 'summary') data.aggregationTemporality = r.int32();
        else if (f === 3 && w === 0 && kind === 'sum') data.isMonotonic = r.bool();
        else r.skip(w, f, depth + 1);
      }
      r.done(dataEnd);
      m[kind] = data;
      m.data = kind;
    } else r.skip(wt, field, depth);
  }
  r.done(end);
  return m;
}

/** Resource (attributes: field 1) or InstrumentationScope (name: 1, attributes: 3), merged into `into`. */
function resourceOrScope(r: Reader, end: number, depth: number, scope: boolean, into: { name?: string; attributes: Json[] }) {
  r.enter(depth);
  while (r.pos < end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (wt === 2 && field === (scope ? 3 : 1)) into.attributes.push(keyValue(r, r.end(), depth + 1));
    else if (wt === 2 && scope && field === 1) into.name = r.string();
    else r.skip(wt, field, depth);
  }
  r.done(end);
  return into;
}

/** The request in the shape protobufjs decodes it to (see the file's comment); throws when malformed. */
export function decodeOtlpProtobuf(body: Uint8Array): OtlpRequest {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const r = new Reader(buf);
  const shared = new Map<string, Json[]>();
  const resourceMetrics: Json[] = [];
  while (r.pos < buf.length) {
    const tag = r.tag();
    if (tag !== ((1 << 3) | 2)) {
      r.skip(tag & 7, tag >>> 3, 0);
      continue;
    }
    const rm: { resource: { attributes: Json[] } | null; scopeMetrics: Json[] } = { resource: null, scopeMetrics: [] };
    const rmEnd = r.end();
    r.enter(1);
    while (r.pos < rmEnd) {
      const t = r.tag();
      if (t === ((1 << 3) | 2)) rm.resource = resourceOrScope(r, r.end(), 2, false, rm.resource ?? { attributes: [] });
      else if (t === ((2 << 3) | 2)) {
        const sm: { scope: { name: string; attributes: Json[] } | null; metrics: Json[] } = { scope: null, metrics: [] };
        const smEnd = r.end();
        r.enter(2);
        while (r.pos < smEnd) {
          const t2 = r.tag();
          if (t2 === ((1 << 3) | 2)) sm.scope = resourceOrScope(r, r.end(), 3, true, sm.scope ?? { name: '', attributes: [] }) as { name: string; attributes: Json[] };
          else if (t2 === ((2 << 3) | 2)) sm.metrics.push(metric(r, r.end(), 3, shared));
          else r.skip(t2 & 7, t2 >>> 3, 2);
        }
        r.done(smEnd);
        rm.scopeMetrics.push(sm);
      } else r.skip(t & 7, t >>> 3, 1);
    }
    r.done(rmEnd);
    resourceMetrics.push(rm);
  }
  return { resourceMetrics } as unknown as OtlpRequest;
}
