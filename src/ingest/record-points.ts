import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { audit } from '../audit.js';
import type { Database, MetricType, NewAuditRow, Tags } from '../db/tables.js';
import { tenantSettingsSql, UUID, withTenant, type TenantTx } from '../db/tenant.js';
import type { ErrorCode } from '../errors.js';
import { phrased, type Phrased } from '../messages.js';
import { admitSeries, type Budgets } from './cardinality.js';
import type { Logger } from '../log.js';
import type { MetricInput } from './metric-input.js';
import { tagsKey, type RecordItem } from './record-item.js';
import { invalidationSql, recordInvalidations } from '../query/invalidations.js';
import type { RejectReason } from '../observability/metrics.js';
import { applyObservations, cumulativeKeys, readStates, stateWriteSql, type Applied, type Observation, type State } from './cumulative.js';

const isDistributionRow = (item: RecordItem) => item.weight != null || item.sumAdjust != null || item.minValue != null || item.maxValue != null;

/** A point as stored, with what a live subscriber or a caller needs to know of its series. */
export interface StoredPoint {
  id: string;
  seriesId: number;
  metric: string;
  type: MetricType;
  unit: string | null;
  tags: Tags;
  time: Date;
  value: number;
}

export type ItemOutcome =
  | { ok: true; id: string; duplicate: boolean; point: StoredPoint }
  | ({ ok: false; code: ErrorCode } & Phrased);

interface MetricRow {
  id: number;
  name: string;
  type: MetricType;
  unit: string | null;
}

/**
 * What a committed write taught us about metric and series ids. Applied to the caches only
 * after COMMIT, so a rolled-back insert never leaves an id behind that does not exist.
 */
interface Learned {
  metrics: MetricRow[];
  series: Array<[key: string, id: number]>;
}

const UNLIMITED: Budgets = { maxSeries: Number.MAX_SAFE_INTEGER, maxSeriesPerMetric: Number.MAX_SAFE_INTEGER, maxTagValues: Number.MAX_SAFE_INTEGER };

const seriesKey = (metricId: number, tags: Tags) => `${metricId}\u0000${tagsKey(tags)}`;

/** The failure of an item whose metric has another type or unit; null when it fits. */
function conflictOf(item: RecordItem, metric: MetricRow): ItemOutcome | null {
  if (metric.type !== item.type) {
    return { ok: false, code: 'BAD_USER_INPUT', ...phrased('point.typeConflict', { metric: item.name, type: metric.type, got: item.type }) };
  }
  if (item.unit !== null && metric.unit !== null && item.unit !== metric.unit) {
    return { ok: false, code: 'BAD_USER_INPUT', ...phrased('point.unitConflict', { metric: item.name, unit: metric.unit, got: item.unit }) };
  }
  return null;
}

/** What is known of a tenant without asking the database: metric rows by name, series ids by seriesKey. */
interface Known {
  metric(name: string): MetricRow | undefined;
  series(key: string): number | undefined;
}

/**
 * Stores valid items for the transaction's tenant in a constant number of statements:
 * metrics (only names not seen before), series (only tag sets not seen before), then all
 * points and client ids in one statement. Items that conflict with a metric's type or unit
 * fail on their own; the rest are stored.
 */
export async function storePoints(
  trx: TenantTx,
  items: readonly RecordItem[],
  known: Known,
  budgets: Budgets = UNLIMITED,
): Promise<{ outcomes: ItemOutcome[]; learned: Learned }> {
  const learned: Learned = { metrics: [], series: [] };
  const now = new Date();

  // 1. Metrics. For a name new to the tenant, its first item in the batch sets type and unit.
  const metrics = new Map<string, MetricRow>();
  const unknown = new Map<string, MetricInput>();
  for (const item of items) {
    const cached = known.metric(item.name);
    if (cached) metrics.set(item.name, cached);
    else if (!unknown.has(item.name)) unknown.set(item.name, item);
  }
  if (unknown.size > 0) {
    const fresh = [...unknown.values()];
    const rows = await ensureMetrics(trx, fresh);
    for (const row of rows) {
      metrics.set(row.name, row);
      learned.metrics.push(row);
    }
  }

  // 2. Check each item against its metric, then find or create its series.
  const outcomes: Array<ItemOutcome | undefined> = new Array(items.length);
  const seriesKeys: string[] = new Array(items.length);
  const seriesIds = new Map<string, number>();
  const newSeries = new Map<string, { metricId: number; tags: Tags; metricName: string }>();
  items.forEach((item, index) => {
    const metric = metrics.get(item.name);
    if (!metric) {
      outcomes[index] = { ok: false, code: 'INTERNAL', ...phrased('point.metricNotCreated', { metric: item.name }) };
      return;
    }
    const conflict = conflictOf(item, metric);
    if (conflict) {
      outcomes[index] = conflict;
      return;
    }
    const key = seriesKey(metric.id, item.tags);
    seriesKeys[index] = key;
    const cached = known.series(key);
    if (cached !== undefined) seriesIds.set(key, cached);
    else newSeries.set(key, { metricId: metric.id, tags: item.tags, metricName: metric.name });
  });
  if (newSeries.size > 0) {
    // Cardinality budgets: a point that would create a series beyond one fails on its own.
    const refused = await admitSeries(trx, [...newSeries].map(([key, s]) => ({ key, ...s })), budgets);
    for (const key of refused.keys()) newSeries.delete(key);
    items.forEach((_item, index) => {
      const refusal = refused.get(seriesKeys[index]!);
      if (refusal && !outcomes[index]) outcomes[index] = { ok: false, code: 'LIMIT_EXCEEDED', ...refusal };
    });
  }
  if (newSeries.size > 0) {
    for (const [key, id] of await ensureSeries(trx, [...newSeries.values()])) {
      seriesIds.set(key, id);
      learned.series.push([key, id]);
    }
  }

  // 3. Points. A client id seen twice (in this write or an earlier one) is stored once.
  const firstWithId = new Map<string, number>();
  const rows: Array<{ index: number; id: string; seriesId: number; time: Date; client: boolean }> = [];
  const distribution = items.some(isDistributionRow);
  items.forEach((item, index) => {
    if (outcomes[index]) return;
    const seriesId = seriesIds.get(seriesKeys[index]!)!;
    if (item.id !== null) {
      if (firstWithId.has(item.id)) return; // a repeat inside this write: answered below
      firstWithId.set(item.id, index);
    }
    rows.push({ index, id: item.id ?? randomUUID(), seriesId, time: item.timestamp ?? now, client: item.id !== null });
  });

  const claimed = rows.length
    ? distribution
      ? await insertDistributionPoints(trx, rows.map((row) => ({ ...row, item: items[row.index]! })))
      : await insertPoints(trx, rows.map((row) => ({ ...row, value: items[row.index]!.value })))
    : new Set<string>();
  for (const row of rows) {
    const item = items[row.index]!;
    const metric = metrics.get(item.name)!;
    const duplicate = row.client && !claimed.has(row.id);
    outcomes[row.index] = {
      ok: true,
      id: row.id,
      duplicate,
      point: { id: row.id, seriesId: row.seriesId, metric: item.name, type: metric.type, unit: metric.unit, tags: item.tags, time: row.time, value: item.value },
    };
  }
  items.forEach((item, index) => {
    if (outcomes[index] || item.id === null) return;
    const first = outcomes[firstWithId.get(item.id)!]!;
    outcomes[index] = first.ok ? { ...first, duplicate: true } : first;
  });
  return { outcomes: outcomes as ItemOutcome[], learned };
}

async function ensureMetrics(trx: TenantTx, items: MetricInput[]): Promise<MetricRow[]> {
  const names = items.map((i) => i.name);
  // The select half cannot see rows the insert half adds (one snapshot), so the union has
  // each name once. A name another transaction committed after our snapshot is in neither
  // half; it is read again below.
  const { rows } = await sql<MetricRow>`
    with input (name, type, unit) as (
      select * from unnest(${names}::text[], ${items.map((i) => i.type)}::text[], ${items.map((i) => i.unit)}::text[])
    ), inserted as (
      insert into metrics (tenant_id, name, type, unit)
      select current_tenant_id(), name, type, unit from input
      on conflict (tenant_id, name) do nothing
      returning id, name, type, unit
    )
    select id, name, type, unit from inserted
    union all
    select m.id, m.name, m.type, m.unit from metrics m
    where m.tenant_id = current_tenant_id() and m.name = any(${names}::text[])`.execute(trx);
  if (rows.length === names.length) return rows;
  const found = new Set(rows.map((r) => r.name));
  const missing = names.filter((n) => !found.has(n));
  const late = await trx.selectFrom('metrics').select(['id', 'name', 'type', 'unit']).where('name', 'in', missing).execute();
  return [...rows, ...late];
}

async function ensureSeries(trx: TenantTx, wanted: Array<{ metricId: number; tags: Tags }>): Promise<Array<[string, number]>> {
  const metricIds = wanted.map((w) => w.metricId);
  const tags = wanted.map((w) => JSON.stringify(w.tags));
  const { rows } = await sql<{ id: number; metric_id: number; tags: Tags }>`
    with input (metric_id, tags) as (
      select * from unnest(${metricIds}::bigint[], ${tags}::jsonb[])
    ), inserted as (
      insert into series (tenant_id, metric_id, tags)
      select current_tenant_id(), metric_id, tags from input
      on conflict (metric_id, md5(tags::text)) do nothing
      returning id, metric_id, tags
    )
    select id, metric_id, tags from inserted
    union all
    select s.id, s.metric_id, s.tags from series s join input i
      on s.metric_id = i.metric_id and md5(s.tags::text) = md5(i.tags::text)`.execute(trx);
  let result = rows;
  if (rows.length < wanted.length) {
    // Created by a concurrent transaction after our snapshot: now committed, so visible.
    const { rows: late } = await sql<{ id: number; metric_id: number; tags: Tags }>`
      select s.id, s.metric_id, s.tags from series s
      join unnest(${metricIds}::bigint[], ${tags}::jsonb[]) as i (metric_id, tags)
        on s.metric_id = i.metric_id and md5(s.tags::text) = md5(i.tags::text)`.execute(trx);
    result = late;
  }
  return result.map((row) => [seriesKey(row.metric_id, row.tags), row.id]);
}

/**
 * Array literals (`{a,b,c}`) of values that need no quoting: uuids, integers, finite floats.
 * Sent as text, they cost the database the same as pg's own array encoding and cost us a join
 * instead of an escape per element. Times go as epoch milliseconds (float8, turned into
 * timestamptz by `to_timestamp(t / 1000.0)`, exact to the microsecond at today's dates): 13
 * digits instead of a 24-character toISOString per point (bench:ingest, #13).
 */
function arrayLiteral(values: ReadonlyArray<string | number>): string {
  return `{${values.join(',')}}`;
}

/** One statement for every point of the write; returns the client ids it claimed (new ones). */
async function insertPoints(
  trx: TenantTx,
  rows: Array<{ id: string; seriesId: number; time: Date; value: number; client: boolean }>,
): Promise<Set<string>> {
  const ids = arrayLiteral(rows.map((r) => r.id));
  const seriesIds = arrayLiteral(rows.map((r) => r.seriesId));
  const times = arrayLiteral(rows.map((r) => r.time.getTime()));
  const values = arrayLiteral(rows.map((r) => r.value));
  if (!rows.some((r) => r.client)) {
    await sql`
      insert into tenant_point_writes (tenant_id, series_id, time, value, id)
      select current_tenant_id(), series_id, to_timestamp(time / 1000.0), value, id
      from unnest(${ids}::uuid[], ${seriesIds}::bigint[], ${times}::float8[], ${values}::float8[]) as input (id, series_id, time, value)`.execute(trx);
    return new Set();
  }
  const { rows: result } = await sql<{ claimed: string[] }>`
    with input (id, series_id, time, value, client) as (
      select * from unnest(
        ${ids}::uuid[], ${seriesIds}::bigint[], ${times}::float8[], ${values}::float8[],
        ${arrayLiteral(rows.map((r) => (r.client ? 't' : 'f')))}::boolean[])
    ), claimed as (
      insert into point_ids (tenant_id, id)
      select current_tenant_id(), id from input where client
      on conflict do nothing
      returning id
    ), stored as (
      insert into tenant_point_writes (tenant_id, series_id, time, value, id)
      select current_tenant_id(), series_id, to_timestamp(time / 1000.0), value, id from input
      where not client or id in (select id from claimed)
    )
    select coalesce(array_agg(id), '{}') as claimed from claimed`.execute(trx);
  return new Set(result[0]?.claimed ?? []);
}

/** An array literal of nullable numbers (`NULL` for null): finite floats and integers only. */
function nullableLiteral(values: ReadonlyArray<number | null | undefined>): string {
  return `{${values.map((v) => (v == null ? 'NULL' : v)).join(',')}}`;
}

/**
 * insertPoints for rows of which some carry the distribution columns (weight, sum_adjust,
 * min_value, max_value). Kept apart so the common write does not pay for four null arrays.
 * Client ids are not used by these writers (their requests are made idempotent whole).
 */
async function insertDistributionPoints(trx: TenantTx, rows: Array<{ id: string; seriesId: number; time: Date; item: RecordItem; client: boolean }>): Promise<Set<string>> {
  if (rows.some((r) => r.client)) throw new Error('insertDistributionPoints: client ids are not supported with distribution rows');
  await sql`
    insert into tenant_point_writes (tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value)
    select current_tenant_id(), series_id, to_timestamp(time / 1000.0), value, id, weight, sum_adjust, min_value, max_value
    from unnest(
      ${arrayLiteral(rows.map((r) => r.id))}::uuid[], ${arrayLiteral(rows.map((r) => r.seriesId))}::bigint[],
      ${arrayLiteral(rows.map((r) => r.time.getTime()))}::float8[], ${arrayLiteral(rows.map((r) => r.item.value))}::float8[],
      ${nullableLiteral(rows.map((r) => r.item.weight))}::bigint[], ${nullableLiteral(rows.map((r) => r.item.sumAdjust))}::float8[],
      ${nullableLiteral(rows.map((r) => r.item.minValue))}::float8[], ${nullableLiteral(rows.map((r) => r.item.maxValue))}::float8[]
    ) as input (id, series_id, time, value, weight, sum_adjust, min_value, max_value)`.execute(trx);
  return new Set();
}

/** The points the outcomes stored now (not duplicates); a loop, not an array per outcome. */
function storedPoints(outcomes: readonly ItemOutcome[]): StoredPoint[] {
  const points: StoredPoint[] = [];
  for (const o of outcomes) if (o.ok && !o.duplicate) points.push(o.point);
  return points;
}

/**
 * A write decided from the caches alone: every metric and series already known and no client
 * id (only the database knows whether an id is new). Its outcomes are then known before
 * anything is sent, so it needs no answer from the database but "committed", and goes as one
 * script (see writeScript). Null when the database must be asked.
 */
function planFromCache(items: readonly RecordItem[], known: Known): { outcomes: ItemOutcome[]; points: StoredPoint[]; stored: RecordItem[] } | null {
  const now = new Date();
  const outcomes: ItemOutcome[] = new Array(items.length);
  // The points to store and, at the same index, their items (for the distribution columns).
  const points: StoredPoint[] = [];
  const stored: RecordItem[] = [];
  // Items of a write share names and Tags objects (a protocol request's points, a batch's
  // repeated tag sets): each metric and series is looked up once, not once per item.
  let lastName: string | undefined;
  let metric: MetricRow | undefined;
  let seriesOfMetric: Map<Tags, number> | undefined;
  const seriesByMetric = new Map<number, Map<Tags, number>>();
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    if (item.id !== null) return null;
    if (item.name !== lastName) {
      metric = known.metric(item.name);
      lastName = item.name;
      if (!metric) return null;
      seriesOfMetric = seriesByMetric.get(metric.id);
      if (!seriesOfMetric) seriesByMetric.set(metric.id, (seriesOfMetric = new Map()));
    }
    if (!metric) return null;
    const conflict = conflictOf(item, metric);
    if (conflict) {
      outcomes[index] = conflict;
      continue;
    }
    let seriesId = seriesOfMetric!.get(item.tags);
    if (seriesId === undefined) {
      seriesId = known.series(seriesKey(metric.id, item.tags));
      if (seriesId === undefined) return null;
      seriesOfMetric!.set(item.tags, seriesId);
    }
    const outcome = new StoredOutcome(randomUUID(), seriesId, item.name, metric.type, metric.unit, item.tags, item.timestamp ?? now, item.value);
    points.push(outcome);
    stored.push(item);
    outcomes[index] = outcome;
  }
  return { outcomes, points, stored };
}

/**
 * A stored point that is also its item's outcome (its `point` is itself): a write decided from
 * the caches makes one object per item, not a point and an outcome around it (#13: the objects
 * of a request, alive until it is answered, are most of what its garbage collection costs).
 */
class StoredOutcome implements StoredPoint {
  readonly ok = true;
  readonly duplicate = false;
  constructor(
    readonly id: string,
    readonly seriesId: number,
    readonly metric: string,
    readonly type: MetricType,
    readonly unit: string | null,
    readonly tags: Tags,
    readonly time: Date,
    readonly value: number,
  ) {}

  get point(): StoredPoint {
    return this;
  }
}

/** Columns an audit row may set (NewAuditRow), in the order they are inserted. */
const AUDIT_COLUMNS = ['tenant_id', 'actor_kind', 'actor_key_id', 'actor_subject', 'actor_role', 'action', 'target', 'details', 'request_id', 'source_ip', 'forwarded_for', 'user_agent'] as const;

/** A finite number or null, checked before it is inlined. */
const safeNumber = (value: number | null | undefined) => {
  if (value != null && !Number.isFinite(value)) throw new Error('writeScript: a value is not safe to inline');
  return value;
};

/**
 * The unnest arrays of a planned write's rows, checked as they are added: series ids are
 * integers, values and times finite, the ids randomUUID's (planFromCache takes no client id).
 * With `item`, also the distribution columns (weight, sum_adjust, min_value, max_value).
 */
class Columns {
  readonly ids: string[] = [];
  readonly seriesIds: number[] = [];
  /**
   * Epoch milliseconds after the first point's (timeBase): the points of a write are
   * milliseconds to minutes apart, so these are small integers, which V8 writes as text
   * several times faster than 13-digit ones (about 0.2 µs a point, #13). Integers below 2^53
   * and their sum are exact in float8: the database adds timeBase back to the same instant.
   */
  readonly times: number[] = [];
  private timeBase = 0;
  readonly values: number[] = [];
  readonly weights: Array<number | null | undefined> = [];
  readonly sumAdjusts: Array<number | null | undefined> = [];
  readonly minValues: Array<number | null | undefined> = [];
  readonly maxValues: Array<number | null | undefined> = [];

  add(p: StoredPoint, item: RecordItem | null): void {
    const time = p.time.getTime();
    if (!Number.isSafeInteger(p.seriesId) || !Number.isFinite(p.value) || !Number.isFinite(time)) throw new Error('writeScript: a point is not safe to inline');
    this.ids.push(p.id);
    this.seriesIds.push(p.seriesId);
    if (this.times.length === 0) this.timeBase = time;
    this.times.push(time - this.timeBase);
    this.values.push(p.value);
    if (item) {
      this.weights.push(safeNumber(item.weight));
      this.sumAdjusts.push(safeNumber(item.sumAdjust));
      this.minValues.push(safeNumber(item.minValue));
      this.maxValues.push(safeNumber(item.maxValue));
    }
  }

  /** The timestamptz of an unnest row's `time`. */
  time(): string {
    return `to_timestamp((${this.timeBase}::float8 + time) / 1000.0)`;
  }

  /** The arrays as unnest arguments: series_id, time (ms after timeBase), value, id[, the distribution columns]. */
  sql(): string {
    const base = `'${arrayLiteral(this.seriesIds)}'::bigint[], '${arrayLiteral(this.times)}'::float8[], '${arrayLiteral(this.values)}'::float8[], '${arrayLiteral(this.ids)}'::uuid[]`;
    if (this.weights.length === 0) return base;
    return `${base}, '${nullableLiteral(this.weights)}'::bigint[], '${nullableLiteral(this.sumAdjusts)}'::float8[],
            '${nullableLiteral(this.minValues)}'::float8[], '${nullableLiteral(this.maxValues)}'::float8[]`;
  }
}

/**
 * The statements of a planned write as one script: the tenant's settings, the request claims
 * (a plain insert: a request stored before makes the script fail with a unique violation, and
 * the recorder takes its general path, which answers it as a resend), the points, the
 * cumulative states (a compare-and-set, src/ingest/cumulative.ts), the late points' ranges,
 * the audit rows. Sent as one simple query, it runs as one transaction as the application
 * role, through tenant_point_writes and under the policies, like withTenant, and has committed when
 * the query returns: one round trip instead of five to twelve.
 *
 * Nothing is sent as a parameter, so every value is made safe here: point ids from randomUUID
 * and checked claim ids, integer series ids, finite floats and epoch milliseconds need no
 * quoting (each number is checked), and JSON text is quoted by pg's escapeLiteral.
 */
function writeScript(tenantId: string, points: readonly StoredPoint[], items: readonly RecordItem[], audit: NewAuditRow[], claims: string[] = [], states: string | null = null): string | null {
  const statements: string[] = [];
  if (claims.length > 0) {
    for (const id of claims) if (!UUID.test(id)) throw new Error('writeScript: a claim is not a UUID');
    statements.push(`insert into point_ids (tenant_id, id) select current_tenant_id(), id from unnest('${arrayLiteral(claims)}'::uuid[]) as input (id)`);
  }
  // The columns of the plain rows and of the distribution rows, in one pass over the points.
  const plain = new Columns();
  const distribution = new Columns();
  for (let i = 0; i < points.length; i++) {
    const item = items[i]!;
    if (isDistributionRow(item)) distribution.add(points[i]!, item);
    else plain.add(points[i]!, null);
  }
  if (plain.ids.length > 0) {
    statements.push(`insert into tenant_point_writes (tenant_id, series_id, time, value, id)
select current_tenant_id(), series_id, ${plain.time()}, value, id
from unnest(${plain.sql()}) as input (series_id, time, value, id)`);
  }
  if (distribution.ids.length > 0) {
    statements.push(`insert into tenant_point_writes (tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value)
select current_tenant_id(), series_id, ${distribution.time()}, value, id, weight, sum_adjust, min_value, max_value
from unnest(${distribution.sql()}) as input (series_id, time, value, id, weight, sum_adjust, min_value, max_value)`);
  }
  // After the points: the rows it locks are held for the rest of the script only.
  if (states) statements.push(states);
  // [late points, #12b] The ranges of late points, recorded in the same transaction as the points.
  const late = invalidationSql(points);
  if (late) statements.push(late);
  if (audit.length > 0) {
    const json = JSON.stringify(
      audit.map((row) => {
        const out: Record<string, unknown> = {};
        for (const column of AUDIT_COLUMNS) {
          const value = (row as Record<string, unknown>)[column];
          out[column] = column === 'details' && typeof value === 'string' ? JSON.parse(value) : value;
        }
        return out;
      }),
    );
    statements.push(`insert into audit_log (${AUDIT_COLUMNS.join(', ')})
select ${AUDIT_COLUMNS.join(', ')} from jsonb_populate_recordset(null::audit_log, ${pg.escapeLiteral(json)}::jsonb)`);
  }
  if (statements.length === 0) return null;
  return `${tenantSettingsSql(tenantId)};\n${statements.join(';\n')}`;
}

export interface RecorderOptions {
  kysely: Kysely<Database>;
  log: Logger;
  /** Called after each commit with the points it stored (not duplicates). */
  onCommitted?: (tenantId: string, points: StoredPoint[]) => void;
  /** Awaited after each commit, before the writers are answered (e.g. retiring cached answers the points change). */
  afterCommit?: (tenantId: string, points: StoredPoint[]) => Promise<void>;
  /** Writes of one tenant waiting together are stored in one transaction up to this many items. */
  maxItemsPerWrite?: number;
  /** Transactions in flight per tenant; more requests wait and are then written together. */
  maxWritesInFlight?: number;
  /** Default cardinality budgets (a tenant's tenant_limits row overrides them). */
  budgets?: Budgets;
}

/**
 * The audit row of one request, from its items' outcomes (null: nothing to record). It is
 * inserted in the transaction that stores the request's points, so both commit or neither.
 */
export type AuditOf = (outcomes: ItemOutcome[]) => NewAuditRow | null;

/** A data point of a protocol request not stored, and why. */
export interface ProtocolRejection {
  source: number;
  reason: RejectReason;
  message: string;
}

/**
 * A protocol request (OTLP, remote-write) for the recorder: claimed whole by `claimId`, decoded
 * into observations whose cumulative values become increments (src/ingest/cumulative.ts).
 */
export interface ObservationWrite {
  /** The request's id in point_ids (cumulative.ts requestId): a resend stores nothing. */
  claimId: string;
  /** Data points, for grouping. */
  size: number;
  /** Metric names whose types in the tenant decide how the request decodes (remote-write); empty for none. */
  typesOf: readonly string[];
  /** The observations, given the types the tenant's metrics of `typesOf` have (a name absent is new). */
  decode(types: ReadonlyMap<string, MetricType>): { observations: Observation[]; rejections: ProtocolRejection[] };
  /** The request's audit row, written in the transaction that stores it. */
  auditOf?: (result: ObservationResult) => NewAuditRow | null;
}

export interface ObservationResult {
  /** False when this exact request was stored before: nothing was stored now. */
  claimed: boolean;
  items: RecordItem[];
  /** For each item, the `source` of its observation. */
  sources: number[];
  /** Data points refused before the store (by the decoder or as out of order). */
  rejections: ProtocolRejection[];
  /** One outcome per item. */
  outcomes: ItemOutcome[];
}

export interface Recorder {
  /** Stores already-validated items for a tenant; resolves after COMMIT with one outcome per item. */
  record(tenantId: string, items: MetricInput[], auditOf?: AuditOf): Promise<ItemOutcome[]>;
  /**
   * Stores a protocol request (see ObservationWrite): its claim, its points, the cumulative
   * states it moved and its audit row commit together or not at all; resolves after COMMIT.
   */
  recordObservations(tenantId: string, write: ObservationWrite): Promise<ObservationResult>;
  /** Resolves when no write is queued or in flight. */
  drain(): Promise<void>;
  /** Forgets cached metric and series ids and cumulative states of a tenant (after a purge). */
  forget(tenantId: string): void;
}

interface Pending {
  items: RecordItem[];
  /** Items counted for grouping (a protocol request's items are not known before it is decoded). */
  size: number;
  auditOf?: AuditOf;
  /** A protocol request, and what its last planned run made of it. */
  write?: ObservationWrite;
  result?: Omit<ObservationResult, 'outcomes'>;
  resolve(outcomes: ItemOutcome[]): void;
  reject(error: unknown): void;
}

/** with_check_option_violation: a cached series id no longer the tenant's (migrations/0092); the caches are dropped. */
const STALE_SERIES = '44000';
/** Errors after which a write is tried again on the general path (nothing of it committed). */
const RETRY_CODES = new Set([
  '23505', // unique_violation: a request claimed before, or a cumulative state inserted meanwhile
  STALE_SERIES,
  '40001', // serialization_failure: a cumulative state moved meanwhile (migrations/0085)
  '40P01', // deadlock_detected
]);
const retryable = (error: unknown) => RETRY_CODES.has((error as { code?: string })?.code ?? '');

/** What a planned write decided for the cumulative states of its requests. */
interface StatePlan {
  /** States to write, compare-and-set against `before`. */
  writes: Array<{ key: string; before: State | undefined; after: State }>;
}

/**
 * Decodes the batch's protocol requests and turns their cumulative values into increments
 * against `states` (advanced in place, request after request), filling each pending's items
 * and result. `claimed`: whether each request is to be stored.
 */
function applyBatch(batch: Pending[], types: ReadonlyMap<string, MetricType>, keysOf: Map<Pending, Map<Observation, string>>, decoded: Map<Pending, ReturnType<ObservationWrite['decode']>>, states: Map<string, State>, claimed: (p: Pending) => boolean): Map<Pending, Applied> {
  const applied = new Map<Pending, Applied>();
  for (const pending of batch) {
    const write = pending.write;
    if (!write) continue;
    const d = decoded.get(pending) ?? write.decode(types);
    if (!claimed(pending)) {
      pending.items = [];
      pending.result = { claimed: false, items: [], sources: [], rejections: d.rejections };
      continue;
    }
    const a = applyObservations(d.observations, keysOf.get(pending) ?? cumulativeKeys(d.observations), states);
    applied.set(pending, a);
    pending.items = a.items;
    pending.result = { claimed: true, items: a.items, sources: a.sources, rejections: [...d.rejections, ...a.rejections] };
  }
  return applied;
}

/**
 * The states to write once the outcomes are known: a key moves only if none of the items
 * measured against it failed, but for the cardinality budget (a series refused keeps its
 * state, migrations/0060): a store that failed leaves the state where it was, so the next
 * request's increment is measured from the last value actually stored.
 */
function statePlan(batch: Pending[], applied: Map<Pending, Applied>, outcomes: ItemOutcome[], before: ReadonlyMap<string, State>, states: ReadonlyMap<string, State>): StatePlan {
  const changed = new Set<string>();
  const blocked = new Set<string>();
  let offset = 0;
  for (const pending of batch) {
    const a = applied.get(pending);
    if (a) {
      for (const key of a.changed) changed.add(key);
      a.keys.forEach((key, i) => {
        const outcome = outcomes[offset + i]!;
        if (key !== null && !outcome.ok && outcome.code !== 'LIMIT_EXCEEDED') blocked.add(key);
      });
    }
    offset += pending.items.length;
  }
  const writes: StatePlan['writes'] = [];
  for (const key of [...changed].sort()) if (!blocked.has(key)) writes.push({ key, before: before.get(key), after: states.get(key)! });
  return { writes };
}

/**
 * Group commit per tenant. Concurrent requests of one tenant that arrive while its writes are
 * in flight wait and are then written together in one transaction: many single-point
 * mutations cost a few statements, not a few each. Each request still gets its own outcomes
 * and returns only after the transaction holding its points has committed.
 *
 * A write whose metrics, series and cumulative states are all cached goes as one script (one
 * round trip, writeScript). The cumulative states cached are those the writes sent so far
 * leave (a write in flight included: the next one computes on top of it); each is written as
 * a compare-and-set, so a cached state that turns out stale (a write that failed, another
 * instance) fails that script whole, and the write is done again on the general path, which
 * reads the states under the tenant's lock.
 */
export function createRecorder(options: RecorderOptions): Recorder {
  const { kysely, log } = options;
  const maxItems = options.maxItemsPerWrite ?? 5_000;
  const maxInFlight = options.maxWritesInFlight ?? 2;
  const tenants = new Map<string, { queue: Pending[]; inFlight: number }>();
  const metricCache = new Map<string, MetricRow>();
  const seriesCache = new Map<string, number>();
  const stateCache = new Map<string, State>();
  const idle = new Set<() => void>();

  const bounded = <V>(map: Map<string, V>, key: string, value: V) => {
    if (map.size >= 200_000) map.clear();
    map.set(key, value);
  };

  /** The audit rows of the grouped requests, from their slices of the outcomes. */
  function auditRows(batch: Pending[], outcomes: ItemOutcome[]): NewAuditRow[] {
    const rows: NewAuditRow[] = [];
    let offset = 0;
    for (const pending of batch) {
      const slice = batch.length === 1 ? outcomes : outcomes.slice(offset, offset + pending.items.length);
      const row = pending.write ? pending.write.auditOf?.({ ...pending.result!, outcomes: slice }) : pending.auditOf?.(slice);
      if (row) rows.push(row);
      offset += pending.items.length;
    }
    return rows;
  }

  const stateKey = (tenantId: string, key: string) => `${tenantId}\u0000${key}`;
  function forgetStates(tenantId: string) {
    const prefix = `${tenantId}\u0000`;
    for (const key of stateCache.keys()) if (key.startsWith(prefix)) stateCache.delete(key);
  }

  /**
   * The one-round-trip script of a batch decided from the caches, or null when the database
   * must be asked. Caches the cumulative states it leaves (see createRecorder).
   */
  function planFast(tenantId: string, batch: Pending[], known: Known): { script: string | null; outcomes: ItemOutcome[] } | null {
    const protocol = batch.filter((p) => p.write);
    const types = new Map<string, MetricType>();
    const decoded = new Map<Pending, ReturnType<ObservationWrite['decode']>>();
    const keysOf = new Map<Pending, Map<Observation, string>>();
    const before = new Map<string, State>();
    for (const pending of protocol) {
      for (const name of pending.write!.typesOf) {
        const metric = known.metric(name);
        if (!metric) return null;
        types.set(name, metric.type);
      }
    }
    for (const pending of protocol) {
      const d = pending.write!.decode(types);
      const keys = cumulativeKeys(d.observations);
      for (const key of keys.values()) {
        if (before.has(key)) continue;
        const state = stateCache.get(stateKey(tenantId, key));
        if (state === undefined) return null;
        before.set(key, state);
      }
      decoded.set(pending, d);
      keysOf.set(pending, keys);
    }
    const states = new Map(before);
    const applied = applyBatch(batch, types, keysOf, decoded, states, () => true);
    const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((p) => p.items);
    const plan = planFromCache(items, known);
    if (!plan) return null;
    const { writes } = statePlan(batch, applied, plan.outcomes, before, states);
    for (const w of writes) bounded(stateCache, stateKey(tenantId, w.key), w.after);
    const script = writeScript(tenantId, plan.points, plan.stored, auditRows(batch, plan.outcomes), protocol.map((p) => p.write!.claimId), stateWriteSql(writes));
    return { script, outcomes: plan.outcomes };
  }

  /** The general path: one transaction that asks the database what the caches do not know. */
  async function writeGeneral(tenantId: string, batch: Pending[], known: Known): Promise<{ outcomes: ItemOutcome[]; learned: Learned; states: StatePlan['writes'] }> {
    return withTenant(kysely, tenantId, async (trx) => {
      const protocol = batch.filter((p) => p.write);
      let applied = new Map<Pending, Applied>();
      const before = new Map<string, State>();
      const states = new Map<string, State>();
      if (protocol.length > 0) {
        const ids = protocol.map((p) => p.write!.claimId);
        const { rows } = await sql<{ id: string }>`
          insert into point_ids (tenant_id, id) select current_tenant_id(), id from unnest(${ids}::uuid[]) as input (id)
          on conflict do nothing returning id`.execute(trx);
        // Two identical requests in one batch: the first is stored, the second is its resend.
        const fresh = new Set(rows.map((r) => r.id));
        const claimed = new Set<Pending>();
        for (const pending of protocol) if (fresh.delete(pending.write!.claimId)) claimed.add(pending);
        const names = [...new Set(protocol.flatMap((p) => (claimed.has(p) ? p.write!.typesOf : [])))];
        const types = new Map<string, MetricType>();
        if (names.length > 0) {
          const found = await trx.selectFrom('metrics').select(['name', 'type']).where('name', 'in', names).execute();
          for (const row of found) types.set(row.name, row.type);
        }
        const decoded = new Map<Pending, ReturnType<ObservationWrite['decode']>>();
        const keysOf = new Map<Pending, Map<Observation, string>>();
        for (const pending of protocol) {
          if (!claimed.has(pending)) continue;
          const d = pending.write!.decode(types);
          decoded.set(pending, d);
          keysOf.set(pending, cumulativeKeys(d.observations));
        }
        for (const [key, state] of await readStates(trx, [...keysOf.values()].flatMap((k) => [...k.values()]))) {
          before.set(key, state);
          states.set(key, state);
        }
        applied = applyBatch(batch, types, keysOf, decoded, states, (p) => claimed.has(p));
      }
      const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((p) => p.items);
      const stored = await storePoints(trx, items, known, options.budgets);
      const { writes } = statePlan(batch, applied, stored.outcomes, before, states);
      const stateSql = stateWriteSql(writes);
      if (stateSql) await sql.raw(stateSql).execute(trx);
      // Late points' ranges are recorded in the same transaction as the points (src/query/invalidations.ts).
      await recordInvalidations(trx, storedPoints(stored.outcomes));
      // Audit rows of the grouped requests, one INSERT for all of them, in this same transaction.
      await audit(trx, auditRows(batch, stored.outcomes));
      return { ...stored, states: writes };
    });
  }

  async function write(tenantId: string, batch: Pending[]): Promise<ItemOutcome[]> {
    const known: Known = {
      metric: (name) => metricCache.get(`${tenantId}\u0000${name}`),
      series: (key) => seriesCache.get(`${tenantId}\u0000${key}`),
    };
    let outcomes: ItemOutcome[] | null = null;
    const plan = planFast(tenantId, batch, known);
    if (plan) {
      try {
        // The common case once a tenant's series are known: one round trip, committed on return.
        if (plan.script) await sql.raw(plan.script).execute(kysely);
        outcomes = plan.outcomes;
      } catch (error) {
        // Nothing of the script committed; what the caches said may be stale: ask the database.
        forgetStates(tenantId);
        if (!retryable(error)) throw error;
        if ((error as { code?: string }).code === STALE_SERIES) forget(tenantId);
      }
    }
    if (!outcomes) {
      for (let attempt = 1; ; attempt++) {
        try {
          const done = await writeGeneral(tenantId, batch, known);
          outcomes = done.outcomes;
          for (const row of done.learned.metrics) bounded(metricCache, `${tenantId}\u0000${row.name}`, row);
          for (const [key, id] of done.learned.series) bounded(seriesCache, `${tenantId}\u0000${key}`, id);
          for (const w of done.states) bounded(stateCache, stateKey(tenantId, w.key), w.after);
          break;
        } catch (error) {
          // A state another write moved between the read and the write: read it again.
          const code = (error as { code?: string }).code;
          if (attempt >= 3 || (code !== '40001' && code !== '40P01')) throw error;
        }
      }
    }
    const stored = storedPoints(outcomes);
    if (stored.length && options.afterCommit) {
      await options.afterCommit(tenantId, stored).catch((error) => log.warn({ err: (error as Error).message }, 'ingest: afterCommit failed'));
    }
    if (stored.length && options.onCommitted) {
      try {
        options.onCommitted(tenantId, stored);
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'ingest: onCommitted listener failed');
      }
    }
    return outcomes;
  }

  function forget(tenantId: string) {
    const prefix = `${tenantId}\u0000`;
    for (const key of metricCache.keys()) if (key.startsWith(prefix)) metricCache.delete(key);
    for (const key of seriesCache.keys()) if (key.startsWith(prefix)) seriesCache.delete(key);
    forgetStates(tenantId);
  }

  function pump(tenantId: string) {
    const state = tenants.get(tenantId);
    if (!state) return;
    while (state.inFlight < maxInFlight && state.queue.length > 0) {
      const batch: Pending[] = [];
      let count = 0;
      while (state.queue.length > 0 && (batch.length === 0 || count + state.queue[0]!.size <= maxItems)) {
        const next = state.queue.shift()!;
        batch.push(next);
        count += next.size;
      }
      state.inFlight++;
      void run(tenantId, batch).finally(() => {
        state.inFlight--;
        if (state.inFlight === 0 && state.queue.length === 0) {
          tenants.delete(tenantId);
          if (tenants.size === 0) for (const resolve of idle) resolve();
        } else pump(tenantId);
      });
    }
  }

  async function run(tenantId: string, batch: Pending[]) {
    try {
      const outcomes = await write(tenantId, batch);
      let offset = 0;
      for (const pending of batch) {
        pending.resolve(outcomes.slice(offset, offset + pending.items.length));
        offset += pending.items.length;
      }
    } catch (error) {
      // Ids cached from another instance's view may be stale (a purge): start afresh. Then
      // write each request alone, so one request's failure is never another's.
      forget(tenantId);
      if (batch.length === 1) return batch[0]!.reject(error);
      log.warn({ err: (error as Error).message, requests: batch.length }, 'ingest: grouped write failed; writing requests one by one');
      for (const pending of batch) {
        await write(tenantId, [pending]).then(pending.resolve, pending.reject);
      }
    }
  }

  function enqueue(tenantId: string, pending: Pending) {
    let state = tenants.get(tenantId);
    if (!state) tenants.set(tenantId, (state = { queue: [], inFlight: 0 }));
    state.queue.push(pending);
    pump(tenantId);
  }

  return {
    record(tenantId, items, auditOf) {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise((resolve, reject) => enqueue(tenantId, { items, size: items.length, auditOf, resolve, reject }));
    },
    recordObservations(tenantId, write) {
      return new Promise((resolve, reject) => {
        const pending: Pending = { items: [], size: write.size, write, resolve: (outcomes) => resolve({ ...pending.result!, outcomes }), reject };
        enqueue(tenantId, pending);
      });
    },
    drain() {
      if (tenants.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          idle.delete(done);
          resolve();
        };
        idle.add(done);
      });
    },
    forget,
  };
}
