import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { audit } from '../audit.js';
import type { Database, MetricType, Tags } from '../db/tables.js';
import { tenantSettingsSql, UUID, withTenant, type TenantTx } from '../db/tenant.js';
import type { ErrorCode } from '../errors.js';
import { admitSeries, type Budgets } from './cardinality.js';
import type { Logger } from '../log.js';
import type { NewAuditRow } from '../ops/tables.js';
import type { MetricInput } from './metric-input.js';
import { invalidationSql, recordInvalidations } from '../query/invalidations.js';

/**
 * An item to store: a validated MetricInput, optionally one row of a distribution (an OTLP
 * histogram's bucket): `weight` observations at `value`, and on one row of the distribution its
 * exact sum (as `sumAdjust`), min and max. See migrations/0050_distribution_points.sql.
 */
export type RecordItem = MetricInput & {
  weight?: number | null;
  sumAdjust?: number | null;
  minValue?: number | null;
  maxValue?: number | null;
};

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
  | { ok: false; code: ErrorCode; message: string };

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

/** Sorted-key JSON: one string per distinct tag set. */
export function tagsKey(tags: Tags): string {
  // Validated tags come sorted already; the replacer (slower) is for rows read back from jsonb.
  const keys = Object.keys(tags);
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return JSON.stringify(tags, keys.sort());
  return JSON.stringify(tags);
}

const UNLIMITED: Budgets = { maxSeries: Number.MAX_SAFE_INTEGER, maxSeriesPerMetric: Number.MAX_SAFE_INTEGER, maxTagValues: Number.MAX_SAFE_INTEGER };

const seriesKey = (metricId: number, tags: Tags) => `${metricId}\u0000${tagsKey(tags)}`;

/** The failure of an item whose metric has another type or unit; null when it fits. */
function conflictOf(item: RecordItem, metric: MetricRow): ItemOutcome | null {
  if (metric.type !== item.type) {
    return { ok: false, code: 'BAD_USER_INPUT', message: `metric '${item.name}' is a ${metric.type}; it cannot record a ${item.type}` };
  }
  if (item.unit !== null && metric.unit !== null && item.unit !== metric.unit) {
    return { ok: false, code: 'BAD_USER_INPUT', message: `metric '${item.name}' has unit '${metric.unit}'; got '${item.unit}'` };
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
      outcomes[index] = { ok: false, code: 'INTERNAL', message: `metric '${item.name}' could not be created` };
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
      const message = refused.get(seriesKeys[index]!);
      if (message && !outcomes[index]) outcomes[index] = { ok: false, code: 'LIMIT_EXCEEDED', message };
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
 * Array literals (`{a,b,c}`) of values that need no quoting: uuids, integers, finite floats,
 * ISO timestamps. Sent as text, they cost the database the same as pg's own array encoding
 * and cost us a join instead of an escape per element.
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
  const times = arrayLiteral(rows.map((r) => r.time.toISOString()));
  const values = arrayLiteral(rows.map((r) => r.value));
  if (!rows.some((r) => r.client)) {
    await sql`
      insert into tenant_points (tenant_id, series_id, time, value, id)
      select current_tenant_id(), series_id, time, value, id
      from unnest(${ids}::uuid[], ${seriesIds}::bigint[], ${times}::timestamptz[], ${values}::float8[]) as input (id, series_id, time, value)`.execute(trx);
    return new Set();
  }
  const { rows: result } = await sql<{ claimed: string[] }>`
    with input (id, series_id, time, value, client) as (
      select * from unnest(
        ${ids}::uuid[], ${seriesIds}::bigint[], ${times}::timestamptz[], ${values}::float8[],
        ${arrayLiteral(rows.map((r) => (r.client ? 't' : 'f')))}::boolean[])
    ), claimed as (
      insert into point_ids (tenant_id, id)
      select current_tenant_id(), id from input where client
      on conflict do nothing
      returning id
    ), stored as (
      insert into tenant_points (tenant_id, series_id, time, value, id)
      select current_tenant_id(), series_id, time, value, id from input
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
    insert into tenant_points (tenant_id, series_id, time, value, id, weight, sum_adjust, min_value, max_value)
    select current_tenant_id(), series_id, time, value, id, weight, sum_adjust, min_value, max_value
    from unnest(
      ${arrayLiteral(rows.map((r) => r.id))}::uuid[], ${arrayLiteral(rows.map((r) => r.seriesId))}::bigint[],
      ${arrayLiteral(rows.map((r) => r.time.toISOString()))}::timestamptz[], ${arrayLiteral(rows.map((r) => r.item.value))}::float8[],
      ${nullableLiteral(rows.map((r) => r.item.weight))}::bigint[], ${nullableLiteral(rows.map((r) => r.item.sumAdjust))}::float8[],
      ${nullableLiteral(rows.map((r) => r.item.minValue))}::float8[], ${nullableLiteral(rows.map((r) => r.item.maxValue))}::float8[]
    ) as input (id, series_id, time, value, weight, sum_adjust, min_value, max_value)`.execute(trx);
  return new Set();
}

/**
 * A write decided from the caches alone: every metric and series already known and no client
 * id (only the database knows whether an id is new). Its outcomes are then known before
 * anything is sent, so it needs no answer from the database but "committed", and goes as one
 * script (see writeScript). Null when the database must be asked.
 */
function planFromCache(items: readonly RecordItem[], known: Known): { outcomes: ItemOutcome[]; rows: StoredPoint[] } | null {
  const now = new Date();
  const outcomes: ItemOutcome[] = new Array(items.length);
  const rows: StoredPoint[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    if (item.id !== null || isDistributionRow(item)) return null;
    const metric = known.metric(item.name);
    if (!metric) return null;
    const conflict = conflictOf(item, metric);
    if (conflict) {
      outcomes[index] = conflict;
      continue;
    }
    const seriesId = known.series(seriesKey(metric.id, item.tags));
    if (seriesId === undefined) return null;
    const id = randomUUID();
    const point: StoredPoint = { id, seriesId, metric: item.name, type: metric.type, unit: metric.unit, tags: item.tags, time: item.timestamp ?? now, value: item.value };
    rows.push(point);
    outcomes[index] = { ok: true, id, duplicate: false, point };
  }
  return { outcomes, rows };
}

/** Columns an audit row may set (NewAuditRow), in the order they are inserted. */
const AUDIT_COLUMNS = ['tenant_id', 'actor_kind', 'actor_key_id', 'actor_subject', 'actor_role', 'action', 'target', 'details', 'request_id', 'source_ip', 'forwarded_for', 'user_agent'] as const;

/**
 * The statements of a planned write as one script: the tenant's settings, the points, the
 * audit rows. Sent as one simple query, it runs as one transaction as the application role,
 * through tenant_points and under the policies, like withTenant, and has committed when the
 * query returns: one round trip instead of five (BEGIN, settings, points, audit, COMMIT).
 *
 * Nothing is sent as a parameter, so every value is made safe here: uuids from randomUUID,
 * integer series ids, finite floats and ISO timestamps need no quoting (each is checked), and
 * the audit rows go as one JSON text quoted by pg's escapeLiteral.
 */
function writeScript(tenantId: string, points: StoredPoint[], audit: NewAuditRow[]): string | null {
  const statements: string[] = [];
  if (points.length > 0) {
    const ids: string[] = new Array(points.length);
    const seriesIds: number[] = new Array(points.length);
    const times: string[] = new Array(points.length);
    const values: number[] = new Array(points.length);
    for (let i = 0; i < points.length; i++) {
      const p = points[i]!;
      if (!Number.isSafeInteger(p.seriesId) || !Number.isFinite(p.value) || !UUID.test(p.id)) throw new Error('writeScript: a point is not safe to inline');
      ids[i] = p.id;
      seriesIds[i] = p.seriesId;
      times[i] = p.time.toISOString();
      values[i] = p.value;
    }
    statements.push(`insert into tenant_points (tenant_id, series_id, time, value, id)
select current_tenant_id(), series_id, time, value, id
from unnest('${arrayLiteral(seriesIds)}'::bigint[], '${arrayLiteral(times)}'::timestamptz[], '${arrayLiteral(values)}'::float8[], '${arrayLiteral(ids)}'::uuid[]) as input (series_id, time, value, id)`);
  }
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

export interface Recorder {
  /** Stores already-validated items for a tenant; resolves after COMMIT with one outcome per item. */
  record(tenantId: string, items: MetricInput[], auditOf?: AuditOf): Promise<ItemOutcome[]>;
  /**
   * Like record, for a request that must do work in the transaction that stores its points
   * (claim its request id, turn cumulative values into increments against state kept in the
   * database): `prepare` runs there first and returns the items to store. It may run more than
   * once (a grouped write that failed is retried alone); only the run whose transaction
   * committed counts, and the promise resolves with that run's items and their outcomes.
   * `size` is an estimate of the items, for grouping.
   */
  recordPrepared(tenantId: string, size: number, prepare: Prepare, auditOf?: AuditOf): Promise<{ items: RecordItem[]; outcomes: ItemOutcome[] }>;
  /** Resolves when no write is queued or in flight. */
  drain(): Promise<void>;
  /** Forgets cached metric and series ids of a tenant (after a purge). */
  forget(tenantId: string): void;
}

/** Work in a write's transaction that returns the items to store (see Recorder.recordPrepared). */
export type Prepare = (trx: TenantTx) => Promise<RecordItem[]>;

interface Pending {
  items: RecordItem[];
  /** Items counted for grouping (the items a prepare will return are not known yet). */
  size: number;
  prepare?: Prepare;
  auditOf?: AuditOf;
  resolve(outcomes: ItemOutcome[]): void;
  reject(error: unknown): void;
}

/**
 * Group commit per tenant. Concurrent requests of one tenant that arrive while its writes are
 * in flight wait and are then written together in one transaction: many single-point
 * mutations cost a few statements, not a few each. Each request still gets its own outcomes
 * and returns only after the transaction holding its points has committed.
 */
export function createRecorder(options: RecorderOptions): Recorder {
  const { kysely, log } = options;
  const maxItems = options.maxItemsPerWrite ?? 5_000;
  const maxInFlight = options.maxWritesInFlight ?? 2;
  const tenants = new Map<string, { queue: Pending[]; inFlight: number }>();
  const metricCache = new Map<string, MetricRow>();
  const seriesCache = new Map<string, number>();
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
      const row = pending.auditOf?.(batch.length === 1 ? outcomes : outcomes.slice(offset, offset + pending.items.length));
      if (row) rows.push(row);
      offset += pending.items.length;
    }
    return rows;
  }

  async function write(tenantId: string, batch: Pending[]): Promise<ItemOutcome[]> {
    const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((p) => p.items);
    const known: Known = {
      metric: (name) => metricCache.get(`${tenantId}\u0000${name}`),
      series: (key) => seriesCache.get(`${tenantId}\u0000${key}`),
    };
    let outcomes: ItemOutcome[];
    const prepared = batch.some((p) => p.prepare);
    const plan = prepared ? null : planFromCache(items, known);
    if (plan) {
      // The common case once a tenant's series are known: one round trip, committed on return.
      outcomes = plan.outcomes;
      const script = writeScript(tenantId, plan.rows, auditRows(batch, outcomes));
      if (script) await sql.raw(script).execute(kysely);
    } else {
      const done = await withTenant(kysely, tenantId, async (trx) => {
        let all = items;
        if (prepared) {
          for (const pending of batch) if (pending.prepare) pending.items = await pending.prepare(trx);
          all = batch.length === 1 ? batch[0]!.items : batch.flatMap((p) => p.items);
        }
        const stored = await storePoints(trx, all, known, options.budgets);
        // Late points' ranges are recorded in the same transaction as the points (src/query/invalidations.ts).
        await recordInvalidations(trx, stored.outcomes.flatMap((o) => (o.ok && !o.duplicate ? [o.point] : [])));
        // Audit rows of the grouped requests, one INSERT for all of them, in this same transaction.
        await audit(trx, auditRows(batch, stored.outcomes));
        return stored;
      });
      outcomes = done.outcomes;
      for (const row of done.learned.metrics) bounded(metricCache, `${tenantId}\u0000${row.name}`, row);
      for (const [key, id] of done.learned.series) bounded(seriesCache, `${tenantId}\u0000${key}`, id);
    }
    const stored = outcomes.flatMap((o) => (o.ok && !o.duplicate ? [o.point] : []));
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
    recordPrepared(tenantId, size, prepare, auditOf) {
      return new Promise((resolve, reject) => {
        const pending: Pending = { items: [], size, prepare, auditOf, resolve: (outcomes) => resolve({ items: pending.items, outcomes }), reject };
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
