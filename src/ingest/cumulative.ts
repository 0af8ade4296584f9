/**
 * Points from the standard protocols (OTLP, Prometheus remote-write) to the items the recorder
 * stores (src/ingest/record-points.ts), in the transaction that stores them:
 *
 * 1. The request claims its id (a hash of tenant and body) in point_ids. A resent identical
 *    request finds it claimed and stores nothing: a retry after a lost answer never counts twice.
 * 2. Cumulative values (OTLP cumulative Sums, Histograms and Summaries; Prometheus counters)
 *    become increments against the series' last value in cumulative_state (migration 0060),
 *    which is then updated — both commit with the points or neither. Per series, in time order:
 *    - no earlier value: the point is a start, stored as nothing, unless its start time says the
 *      series began at most FIRST_POINT_WINDOW_MS before it (then all of it is an increment);
 *    - a lower value (or fewer observations, or a later start time): a reset, the whole value is
 *      the increment since the restart;
 *    - otherwise the difference;
 *    - a point not newer than the last value is refused as out of order, unless it is that same
 *      value again (a resend, skipped).
 *    The state of a series moves only in the transaction that stores its increments, and only
 *    when they were stored (or refused by the cardinality budget, see migration 0060): a store
 *    that fails leaves the state where it was, so the next request's increment covers both.
 *    The state is written as a compare-and-set (stateWriteSql): two requests of one tenant
 *    never both count from the same last value. The recorder's one-round-trip path computes
 *    from the states it cached after its own commits; its general path takes the tenant's
 *    advisory lock and reads them (readStates).
 * 3. Distributions become distribution rows (src/ingest/distribution.ts).
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { MetricType, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { tagsKey, type RecordItem } from './record-item.js';
import { distributionRows, subtractBuckets, summaryRows, type Buckets, type DistributionRow } from './distribution.js';

/** A first cumulative point whose start time is at most this long before it counts whole. */
export const FIRST_POINT_WINDOW_MS = 5 * 60 * 1000;

/** One data point as a protocol decoded it, before cumulative values become increments. */
export type Observation = {
  name: string;
  type: MetricType;
  unit: string | null;
  tags: Tags;
  time: Date;
  /** Which data point of the request this is, for reporting rejections per data point. */
  source: number;
} & (
  | { kind: 'value'; value: number }
  | { kind: 'cumulative'; value: number; start: number | null }
  | { kind: 'distribution'; buckets: Buckets; cumulative: boolean; start: number | null }
  | { kind: 'summary'; count: number; sum: number | null; quantiles: Array<{ quantile: number; value: number }>; start: number | null }
);

export interface Rejection {
  source: number;
  reason: 'out_of_order';
  message: string;
}

/** What a cumulative series is compared with next. */
export type State = { t: number; s: number | null } & ({ v: number } | { b: Buckets });

/** The id a request claims in point_ids: the same tenant and bytes give the same id. */
export function requestId(tenantId: string, protocol: string, body: Uint8Array): string {
  const hash = createHash('sha256').update(tenantId).update('\u0000').update(protocol).update('\u0000').update(body).digest('hex');
  // Shaped as a UUID (version nibble 8: "custom"), which is what point_ids holds.
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-8${hash.slice(13, 16)}-${((parseInt(hash[16]!, 16) & 3) | 8).toString(16)}${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
}

/**
 * Keys by Tags object and metric name: the points of a protocol request share one Tags object
 * per tag set (src/ingest/otlp-decode.ts, prometheus-decode.ts), so a request hashes each of
 * its series once, not each point. Validated tags are never changed, so a key stays right.
 */
const seriesKeys = new WeakMap<Tags, Map<string, string>>();
function seriesKeyOf(o: Observation): string {
  let byName = seriesKeys.get(o.tags);
  if (!byName) seriesKeys.set(o.tags, (byName = new Map()));
  let key = byName.get(o.name);
  if (key === undefined) {
    key = createHash('sha1').update(o.name).update('\u0000').update(tagsKey(o.tags)).digest('base64url');
    byName.set(o.name, key);
  }
  return key;
}

/**
 * An item of an observation; each shape built whole (one hidden class per shape, no spread),
 * its fields in the order metric-input.ts builds a MetricInput: the recorder then reads items
 * of the protocols and of recordMetrics through one hidden class (a row item's extends it).
 */
function item(o: Observation, value: number): RecordItem {
  return { name: o.name, value, type: o.type, tags: o.tags, timestamp: o.time, unit: o.unit, id: null };
}

function rowItem(o: Observation, row: DistributionRow): RecordItem {
  return { name: o.name, value: row.value, type: o.type, tags: o.tags, timestamp: o.time, unit: o.unit, id: null, weight: row.weight, sumAdjust: row.sumAdjust, minValue: row.minValue, maxValue: row.maxValue };
}

/** A summary's count and sum as Buckets, so its cumulative state is kept like a histogram's. */
const summaryBuckets = (o: Extract<Observation, { kind: 'summary' }>): Buckets => ({ layout: 's', count: o.count, sum: o.sum, min: null, max: null, counts: {} });

export interface Applied {
  items: RecordItem[];
  /** For each item, the `source` of its observation. */
  sources: number[];
  /** For each item, the cumulative state key its value was measured against (null: none). */
  keys: Array<string | null>;
  rejections: Rejection[];
  /** Keys whose state this request moved (in `states`). */
  changed: Set<string>;
}

/** The cumulative state key of each observation that needs one (see applyObservations). */
export function cumulativeKeys(observations: readonly Observation[]): Map<Observation, string> {
  const keys = new Map<Observation, string>();
  for (const o of observations) if (o.kind === 'cumulative' || o.kind === 'summary' || (o.kind === 'distribution' && o.cumulative)) keys.set(o, seriesKeyOf(o));
  return keys;
}

/** The observations in time order, stable (equal times keep the request's order); the same array when already in order. */
function byTime(observations: readonly Observation[]): readonly Observation[] {
  const times = new Float64Array(observations.length);
  let ordered = true;
  for (let i = 0; i < observations.length; i++) {
    times[i] = observations[i]!.time.getTime();
    if (i > 0 && times[i]! < times[i - 1]!) ordered = false;
  }
  if (ordered) return observations;
  const order: number[] = new Array(observations.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => times[a]! - times[b]! || a - b);
  return order.map((i) => observations[i]!);
}

/**
 * Turns observations into the items to store (see the file's comment), against `states`: the
 * last state of every key in `keys` that has one, which this advances in place. Pure: the
 * caller reads the states before and writes the changed ones (stateWriteSql) in the
 * transaction that stores the items.
 */
export function applyObservations(observations: readonly Observation[], keys: ReadonlyMap<Observation, string>, states: Map<string, State>): Applied {
  const result: Applied = { items: [], sources: [], keys: [], rejections: [], changed: new Set() };
  const pushOne = (o: Observation, i: RecordItem, key: string | null = null) => {
    result.items.push(i);
    result.sources.push(o.source);
    result.keys.push(key);
  };
  const pushRows = (o: Observation, rows: DistributionRow[], key: string | null = null) => {
    for (const row of rows) pushOne(o, rowItem(o, row), key);
  };

  // Per series in time order, whatever order the request listed them in.
  for (const o of byTime(observations)) {
    if (o.kind === 'value') {
      pushOne(o, item(o, o.value));
      continue;
    }
    if (o.kind === 'distribution' && !o.cumulative) {
      pushRows(o, distributionRows(o.buckets));
      continue;
    }
    const key = keys.get(o)!;
    const previous = states.get(key);
    const time = o.time.getTime();
    const start = o.start;
    const current: State = o.kind === 'cumulative' ? { t: time, s: start, v: o.value } : { t: time, s: start, b: o.kind === 'summary' ? summaryBuckets(o) : o.buckets };
    if (previous && time <= previous.t) {
      const same = time === previous.t && JSON.stringify({ ...current, t: 0 }) === JSON.stringify({ ...previous, t: 0 });
      if (!same) result.rejections.push({ source: o.source, reason: 'out_of_order', message: `${o.name}: a cumulative point at ${o.time.toISOString()} is not newer than the last one stored (${new Date(previous.t).toISOString()})` });
      continue;
    }
    states.set(key, current);
    result.changed.add(key);
    // A start time later than the one remembered is a restart even if the value grew past the old one.
    const restarted = previous !== undefined && start !== null && previous.s !== null && start > previous.s;
    // Not `start <= time`: a start a little "after" its point is clock skew (the JS SDK stamps
    // both from the wall clock at different moments; a clock stepped back makes it so), and
    // requiring the order lost first increments intermittently in the tests.
    const whole = previous === undefined ? start !== null && Math.abs(time - start) <= FIRST_POINT_WINDOW_MS : restarted;
    if (!previous && !whole) continue; // a start: the next point's increment is measured from it
    if ('v' in current) {
      const before = previous && 'v' in previous ? previous.v : null;
      const increment = whole || before === null || current.v < before ? current.v : current.v - before;
      pushOne(o, item(o, increment), key);
      continue;
    }
    const delta = whole || !previous || !('b' in previous) ? current.b : (subtractBuckets(current.b, previous.b) ?? current.b);
    if (o.kind === 'summary') pushRows(o, summaryRows(delta.count, delta.sum, o.quantiles), key);
    else pushRows(o, distributionRows(delta), key);
  }
  return result;
}

/** Takes the tenant's cumulative lock and reads the states of `keys` (the general write path). */
export async function readStates(trx: TenantTx, keys: Iterable<string>): Promise<Map<string, State>> {
  const list = [...new Set(keys)];
  const states = new Map<string, State>();
  if (list.length === 0) return states;
  await sql`select pg_advisory_xact_lock(hashtextextended('metrograph.cumulative.' || current_tenant_id()::text, 0))`.execute(trx);
  const rows = await trx
    .selectFrom('cumulative_state')
    .select(['series_key', 'state'])
    .where((eb) => eb('series_key', '=', eb.fn.any(sql<string[]>`${list}::text[]`)))
    .execute();
  for (const row of rows) states.set(row.series_key, row.state as State);
  return states;
}

/** A series key as made by seriesKeyOf: base64url, safe to inline. */
const KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The statement that writes the states of `writes` as a compare-and-set: a key whose state was
 * read (`before`) is updated only where the stored state still has that time, a key that had
 * none is inserted (a unique violation if another writer inserted it meanwhile); when fewer
 * rows than expected changed, cumulative_state_expect (migrations/0085) aborts the transaction
 * with serialization_failure. SQL text with every value inlined, for the one-round-trip write
 * script as well as on its own. Null when there is nothing to write.
 */
export function stateWriteSql(writes: ReadonlyArray<{ key: string; before: State | undefined; after: State }>): string | null {
  if (writes.length === 0) return null;
  const updates = writes.filter((w) => w.before !== undefined);
  const inserts = writes.filter((w) => w.before === undefined);
  for (const w of writes) {
    if (!KEY.test(w.key) || !Number.isFinite(w.after.t) || (w.before && !Number.isFinite(w.before.t))) throw new Error('stateWriteSql: a state is not safe to inline');
  }
  const array = (values: Array<string | number>) => `'{${values.join(',')}}'`;
  const json = (list: typeof writes) => pg.escapeLiteral(`{${list.map((w) => `"${JSON.stringify(w.after).replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`);
  const parts: string[] = [];
  if (updates.length > 0) {
    parts.push(`updated as (
  update cumulative_state c set time = to_timestamp(i.t / 1000.0), state = i.state
  from unnest(${array(updates.map((w) => w.key))}::text[], ${array(updates.map((w) => w.before!.t))}::float8[], ${array(updates.map((w) => w.after.t))}::float8[], ${json(updates)}::jsonb[]) as i (key, before, t, state)
  where c.tenant_id = current_tenant_id() and c.series_key = i.key and (c.state ->> 't')::float8 = i.before
  returning 1)`);
  }
  if (inserts.length > 0) {
    parts.push(`inserted as (
  insert into cumulative_state (tenant_id, series_key, time, state)
  select current_tenant_id(), key, to_timestamp(t / 1000.0), state
  from unnest(${array(inserts.map((w) => w.key))}::text[], ${array(inserts.map((w) => w.after.t))}::float8[], ${json(inserts)}::jsonb[]) as i (key, t, state)
  returning 1)`);
  }
  const counted = [updates.length > 0 ? '(select count(*) from updated)' : null, inserts.length > 0 ? '(select count(*) from inserted)' : null].filter(Boolean).join(' + ');
  return `with ${parts.join(',\n')}
select cumulative_state_expect(${counted}, ${writes.length})`;
}
