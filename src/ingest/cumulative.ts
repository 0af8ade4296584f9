/**
 * Points from the standard protocols (OTLP, Prometheus remote-write) to the items the recorder
 * stores, in the transaction that stores them:
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
 *    The tenant's cumulative writes take one transaction-level advisory lock, so two requests
 *    of one tenant never read the same last value (writes of one tenant are group-committed,
 *    so this costs little).
 * 3. Distributions become distribution rows (src/ingest/distribution.ts).
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { MetricType, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { tagsKey, type RecordItem } from './record-points.js';
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
type State = { t: number; s: number | null } & ({ v: number } | { b: Buckets });

/** The id a request claims in point_ids: the same tenant and bytes give the same id. */
export function requestId(tenantId: string, protocol: string, body: Uint8Array): string {
  const hash = createHash('sha256').update(tenantId).update('\u0000').update(protocol).update('\u0000').update(body).digest('hex');
  // Shaped as a UUID (version nibble 8: "custom"), which is what point_ids holds.
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-8${hash.slice(13, 16)}-${((parseInt(hash[16]!, 16) & 3) | 8).toString(16)}${hash.slice(17, 20)}-${hash.slice(20, 32)}`;
}

/** Claims `id` for this request; false when an earlier request with the same id committed. */
async function claim(trx: TenantTx, id: string): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`insert into point_ids (tenant_id, id) values (current_tenant_id(), ${id}::uuid) on conflict do nothing returning id`.execute(trx);
  return rows.length === 1;
}

const seriesKeyOf = (o: Observation) => createHash('sha1').update(o.name).update('\u0000').update(tagsKey(o.tags)).digest('base64url');

function item(o: Observation, value: number, row?: DistributionRow): RecordItem {
  const base: RecordItem = { name: o.name, type: o.type, unit: o.unit, tags: o.tags, timestamp: o.time, value, id: null };
  return row ? { ...base, value: row.value, weight: row.weight, sumAdjust: row.sumAdjust, minValue: row.minValue, maxValue: row.maxValue } : base;
}

/** A summary's count and sum as Buckets, so its cumulative state is kept like a histogram's. */
const summaryBuckets = (o: Extract<Observation, { kind: 'summary' }>): Buckets => ({ layout: 's', count: o.count, sum: o.sum, min: null, max: null, counts: {} });

export interface Prepared {
  /** False when this exact request was stored before: nothing was stored now. */
  claimed: boolean;
  items: RecordItem[];
  /** For each item, the `source` of its observation. */
  sources: number[];
  rejections: Rejection[];
}

/**
 * Claims the request and turns its observations into items (see the file's comment). Runs in
 * the recorder's transaction (Recorder.recordPrepared).
 */
export async function prepareObservations(trx: TenantTx, id: string, observations: Observation[]): Promise<Prepared> {
  const result: Prepared = { claimed: await claim(trx, id), items: [], sources: [], rejections: [] };
  if (!result.claimed) return result;
  const push = (o: Observation, items: RecordItem[]) => {
    for (const i of items) {
      result.items.push(i);
      result.sources.push(o.source);
    }
  };

  const cumulative = observations.filter((o) => o.kind === 'cumulative' || o.kind === 'summary' || (o.kind === 'distribution' && o.cumulative));
  const states = new Map<string, State>();
  const changed = new Set<string>();
  const keys = new Map<Observation, string>();
  if (cumulative.length > 0) {
    for (const o of cumulative) keys.set(o, seriesKeyOf(o));
    await sql`select pg_advisory_xact_lock(hashtextextended('metrograph.cumulative.' || current_tenant_id()::text, 0))`.execute(trx);
    const { rows } = await sql<{ series_key: string; state: State }>`
      select series_key, state from cumulative_state where series_key = any(${[...new Set(keys.values())]}::text[])`.execute(trx);
    for (const row of rows) states.set(row.series_key, row.state);
  }

  // Per series in time order, whatever order the request listed them in.
  const ordered = [...observations].sort((a, b) => a.time.getTime() - b.time.getTime());
  for (const o of ordered) {
    if (o.kind === 'value') {
      push(o, [item(o, o.value)]);
      continue;
    }
    if (o.kind === 'distribution' && !o.cumulative) {
      push(o, distributionRows(o.buckets).map((row) => item(o, row.value, row)));
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
    changed.add(key);
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
      push(o, [item(o, increment)]);
      continue;
    }
    const delta = whole || !previous || !('b' in previous) ? current.b : (subtractBuckets(current.b, previous.b) ?? current.b);
    if (o.kind === 'summary') push(o, summaryRows(delta.count, delta.sum, o.quantiles).map((row) => item(o, row.value, row)));
    else push(o, distributionRows(delta).map((row) => item(o, row.value, row)));
  }

  if (changed.size > 0) {
    const list = [...changed];
    await sql`
      insert into cumulative_state (tenant_id, series_key, time, state)
      select current_tenant_id(), key, to_timestamp(t / 1000.0), state
      from unnest(${list}::text[], ${list.map((k) => states.get(k)!.t)}::float8[], ${list.map((k) => JSON.stringify(states.get(k)))}::jsonb[]) as input (key, t, state)
      on conflict (tenant_id, series_key) do update set time = excluded.time, state = excluded.state`.execute(trx);
  }
  return result;
}
