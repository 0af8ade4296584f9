/**
 * Bounded storage: per-tenant retention of raw points and of each aggregate level, and
 * compression of raw chunks and of the aggregate levels' chunks (migrations/0031, 0032, 0090).
 *
 * Tables are shared by tenants and chunked by time only, so one TimescaleDB policy cannot
 * express a retention per tenant. The retention job therefore drops whole chunks older than
 * the longest retention any tenant has (`drop_chunks`, cheap), then deletes the rows of each
 * tenant whose retention is shorter, in bounded batches, each its own short transaction:
 * ctid batches in uncompressed chunks, whole compressed batches (per chunk and series group)
 * in compressed ones (through the hypertable, with the chunk's range). Without TimescaleDB,
 * only the batched deletes of raw points.
 *
 * Aggregates and deletes: TimescaleDB recomputes an invalidated range of a continuous aggregate
 * from its source, for every tenant, and both drop_chunks and DELETE invalidate. Refreshing a
 * range whose source rows are gone would therefore erase the aggregates kept there, e.g. the
 * hourly data a tenant keeps for a year after its raw points are gone. So before deleting, the
 * job moves each source's refresh floor (retention_floors) past the newest row it may delete
 * (plus a day, for the time until its next run), and every refresh starts at or after the
 * floor (src/query/refresh.ts). Continuous aggregate policies of a TimescaleDB server refresh
 * at most 35 days back (migrations/0005); the minimum retentions keep deletes out of that reach.
 * Late points are not refreshed this way: the late-points job (src/jobs/late-points.ts)
 * recomputes only the writing tenant's buckets, from its own rows, below the floor too, so a
 * tenant's late points reach its aggregates whatever the other tenants' retention.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/tables.js';
import { withOwnerForTenant, type TenantTx } from '../db/tenant.js';
import type { Env } from '../env.js';
import type { Scheduler } from '../jobs/scheduler.js';
import type { Logger } from '../log.js';
import type { ServiceMetrics } from '../observability/metrics.js';
import { createAggregateCatalog } from '../query/aggregate-catalog.js';
import { aggregatesOf, DAY, HOUR, LEVELS, type LevelName } from '../query/plan.js';
import { liftDecompressionLimit, REFRESH_WINDOW, type AggregateRefresher } from '../query/refresh.js';

/** What retention applies to: raw points, and each continuous aggregate level. */
export const SOURCES = ['raw', '1m', '5m', '1h', '1d'] as const;
export type Source = (typeof SOURCES)[number];

/** Days each source is kept, per tenant. */
export type Retention = Record<Source, number>;

export const RETENTION_DEFAULTS: Retention = { raw: 30, '1m': 30, '5m': 90, '1h': 365, '1d': 1825 };

/**
 * Allowed days per source. A level that feeds another (raw → 1m, 1m → 5m and 1h, 1h → 1d) is
 * kept longer than the refresh window of the policies reading it (3 hours, 3 days, 35 days),
 * and raw at least a week, so a tenant's short retention does not stop other tenants' late
 * points from reaching the aggregates (see the floor above).
 */
export const RETENTION_LIMITS: Record<Source, readonly [number, number]> = {
  raw: [7, 36_500],
  '1m': [7, 36_500],
  '5m': [1, 36_500],
  '1h': [36, 36_500],
  '1d': [1, 36_500],
};

const COLUMNS = { raw: 'raw_days', '1m': 'minute_days', '5m': 'five_minute_days', '1h': 'hour_days', '1d': 'day_days' } as const;

/** The source a level is refreshed from; only these lose rows that a refresh would miss. */
const FEEDS: Record<LevelName, 'raw' | '1m' | '1h'> = { '1m': 'raw', '5m': '1m', '1h': '1m', '1d': '1h' };

/** A floor runs this far ahead of the newest row retention may delete before its next run. */
const FLOOR_LEAD_MS = DAY;

/**
 * How old (ms) a chunk's end must be before it is compressed: COMPRESS_AFTER_HOURS, and for an
 * aggregate level at least its refresh window, so that routine refreshes never rewrite a
 * compressed chunk (late points still may: the chunk is then compressed again by the next run).
 *
 *   COMPRESS_AFTER_HOURS 48 → raw, 1m, 5m 48 h; 1h 3 days; 1d 35 days
 */
export function compressionAge(source: Source, compressAfterHours: number): number {
  const age = compressAfterHours * HOUR;
  return source === 'raw' ? age : Math.max(age, REFRESH_WINDOW[source]);
}

export interface TenantRetention extends Retention {
  /** Which values are the tenant's own (the rest are defaults). */
  custom: Source[];
  updatedAt: Date | null;
}

/** A tenant_retention row (or none: every default) as the days each source keeps. */
export function withDefaults(row: Partial<Record<(typeof COLUMNS)[Source], number | null>> | undefined): Retention & { custom: Source[] } {
  const custom: Source[] = [];
  const retention = { ...RETENTION_DEFAULTS };
  for (const source of SOURCES) {
    const value = row?.[COLUMNS[source]];
    if (value != null) {
      retention[source] = value;
      custom.push(source);
    }
  }
  return { ...retention, custom };
}

/** The transaction's tenant's retention (defaults where it set none). */
export async function tenantRetention(trx: TenantTx): Promise<TenantRetention> {
  const row = await trx.selectFrom('tenant_retention').selectAll().executeTakeFirst();
  return { ...withDefaults(row), updatedAt: row?.updated_at ?? null };
}

/**
 * Changes the transaction's tenant's retention: a number sets a source's days, null returns it
 * to the default, a source left out keeps its value. Returns the settings before and after.
 */
export async function setTenantRetention(trx: TenantTx, tenantId: string, changes: Partial<Record<Source, number | null>>): Promise<{ before: TenantRetention; after: TenantRetention }> {
  const before = await tenantRetention(trx);
  const values = Object.fromEntries(SOURCES.filter((s) => changes[s] !== undefined).map((s) => [COLUMNS[s], changes[s]]));
  await trx
    .insertInto('tenant_retention')
    .values({ tenant_id: tenantId, ...values })
    .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ ...values, updated_at: new Date() }))
    .execute();
  return { before, after: await tenantRetention(trx) };
}

/** The oldest instant (ms) each source still answers for a tenant with `retention`. */
export function horizons(retention: Retention, now: number): Record<Source, number> {
  return Object.fromEntries(SOURCES.map((s) => [s, now - retention[s] * DAY])) as Record<Source, number>;
}

/** Whether `from` is older than the transaction's tenant keeps raw points: a query from there is downsampled. */
export async function olderThanRaw(trx: TenantTx, from: Date): Promise<boolean> {
  return from.getTime() < horizons(await tenantRetention(trx), Date.now()).raw;
}

/**
 * The refresh floor of each level, from retention_floors, cached briefly: every refresh asks,
 * and floors move once an hour at most, a day ahead of any delete.
 */
export function createRefreshFloors(kysely: Kysely<Database>, ttlMs = 10_000) {
  let cached: { until: number; floors: Map<string, number> } | undefined;
  async function load() {
    if (cached && cached.until > Date.now()) return cached.floors;
    const rows = await kysely.selectFrom('retention_floors').select(['source', 'sealed_before']).execute();
    cached = { until: Date.now() + ttlMs, floors: new Map(rows.map((r) => [r.source, new Date(r.sealed_before).getTime()])) };
    return cached.floors;
  }
  return {
    /** Refreshes of `level` must not start before this (ms), or null. */
    async floor(level: LevelName): Promise<number | null> {
      return (await load()).get(FEEDS[level]) ?? null;
    },
    forget() {
      cached = undefined;
    },
  };
}
export type RefreshFloors = ReturnType<typeof createRefreshFloors>;

interface Chunk {
  chunk: string;
  range_start: Date;
  range_end: Date;
  is_compressed: boolean;
}

export interface RetentionDeps {
  db: Db;
  env: Env;
  log: Logger;
  metrics: ServiceMetrics;
  aggregates: AggregateRefresher;
  floors: RefreshFloors;
}

export interface RetentionReport {
  /** Rows deleted per source (chunks dropped whole are counted as chunks, not rows). */
  deleted: Record<Source, number>;
  droppedChunks: number;
  pointIds: number;
  /** Finished runs of the scheduler's log older than JOB_RUNS_RETENTION_DAYS. */
  jobRuns: number;
}

/** How long one run may keep deleting; what is left is deleted by the next run. */
const RUN_BUDGET_MS = 5 * 60_000;

export function createRetention(deps: RetentionDeps) {
  const { db, env, log, metrics } = deps;
  const kysely = db.kysely;
  const batch = env.RETENTION_BATCH_SIZE;
  const aggregates = createAggregateCatalog(kysely);

  /**
   * Deletes `where` from one table (a chunk, or a table without TimescaleDB) in ctid batches of
   * RETENTION_BATCH_SIZE, each its own transaction. `tenantId` sets the tenant for tables whose
   * row-level security would hide the rows from the owner.
   */
  async function deleteInBatches(table: string, where: RawBuilder<boolean>, deadline: number, tenantId?: string): Promise<number> {
    const relation = sql.raw(table); // a chunk name from TimescaleDB's catalog, quoted there, or a fixed table name
    const statement = sql<{ n: number }>`
      with gone as (
        delete from ${relation} where ctid = any(array(select ctid from ${relation} where ${where} limit ${batch}))
        returning 1
      ) select count(*)::int as n from gone`;
    let total = 0;
    for (;;) {
      const { rows } = tenantId ? await forTenant(tenantId, (trx) => statement.execute(trx)) : await statement.execute(kysely);
      const n = rows[0]?.n ?? 0;
      total += n;
      if (n < batch || Date.now() > deadline) return total;
    }
  }

  /** Runs `work` as the owner with `tenantId` set, so row-level security shows that tenant's rows (an owner-level path, src/db/tenant.ts). */
  function forTenant<T>(tenantId: string, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return withOwnerForTenant(kysely, tenantId, work);
  }

  async function chunksOf(hypertable: { schema: string; name: string }, before: Date): Promise<Chunk[]> {
    const { rows } = await sql<Chunk>`
      select format('%I.%I', chunk_schema, chunk_name) as chunk, range_start, range_end, is_compressed
      from timescaledb_information.chunks
      where hypertable_schema = ${hypertable.schema} and hypertable_name = ${hypertable.name} and range_start < ${before.toISOString()}::timestamptz
      order by range_start`.execute(kysely);
    return rows;
  }

  /** Every tenant's retention, defaults filled in. */
  async function allRetentions(): Promise<Array<{ tenantId: string } & Retention>> {
    const rows = await kysely.selectFrom('tenants as t').leftJoin('tenant_retention as r', 'r.tenant_id', 't.id').select(['t.id', 'r.raw_days', 'r.minute_days', 'r.five_minute_days', 'r.hour_days', 'r.day_days']).execute();
    return rows.map((row) => ({ tenantId: row.id, ...withDefaults(row) }));
  }

  /** Moves each source's refresh floor past the newest row this run may delete (never back). */
  async function raiseFloors(now: number, shortest: Record<'raw' | '1m' | '1h', number>) {
    for (const [source, days] of Object.entries(shortest)) {
      const sealed = new Date(now - days * DAY + FLOOR_LEAD_MS);
      await kysely
        .insertInto('retention_floors')
        .values({ source: source as 'raw' | '1m' | '1h', sealed_before: sealed })
        .onConflict((oc) =>
          oc.column('source').doUpdateSet((eb) => ({ sealed_before: eb.fn<Date>('greatest', ['retention_floors.sealed_before', 'excluded.sealed_before']), updated_at: sql<Date>`now()` })),
        )
        .execute();
    }
    deps.floors.forget();
    // A refresh that began before the floors moved may still be reading: let it finish first.
    await deps.aggregates.refreshAll();
  }

  /** Deletes a tenant's raw points older than `cutoff` (and, with TimescaleDB, only in chunks that survive drop_chunks). */
  async function deleteRaw(tenantId: string, cutoff: Date, deadline: number): Promise<number> {
    const seriesIds = await forTenant(tenantId, async (trx) => (await trx.selectFrom('series').select('id').where('tenant_id', '=', tenantId).execute()).map((r) => r.id));
    if (seriesIds.length === 0) return 0;
    const mine = (time: RawBuilder<unknown>) =>
      sql<boolean>`tenant_id = ${tenantId}::uuid and series_id = any(${seriesIds}::bigint[]) and ${time} < ${cutoff.toISOString()}::timestamptz`;
    if (!db.timescale) return deleteInBatches('points', mine(sql`time`), deadline);
    let total = 0;
    for (const chunk of await chunksOf({ schema: 'public', name: 'points' }, cutoff)) {
      if (Date.now() > deadline) break;
      if (!chunk.is_compressed) {
        total += await deleteInBatches(chunk.chunk, mine(sql`time`), deadline);
        continue;
      }
      // A compressed chunk, through the hypertable (its own table cannot be read by ctid): a
      // compressed batch wholly older than the cutoff goes without decompression, one the
      // cutoff cuts through is decompressed; bounded by series groups.
      const end = chunk.range_end < cutoff ? chunk.range_end : cutoff;
      for (let i = 0; i < seriesIds.length; i += 1_000) {
        const group = seriesIds.slice(i, i + 1_000);
        total += await kysely.transaction().execute(async (trx) => {
          await liftDecompressionLimit(trx);
          const result = await trx
            .deleteFrom('points')
            .where('tenant_id', '=', tenantId)
            .where('series_id', 'in', group)
            .where('time', '>=', chunk.range_start)
            .where('time', '<', end)
            .executeTakeFirst();
          return Number(result.numDeletedRows);
        });
      }
    }
    return total;
  }

  /**
   * Deletes a tenant's buckets of one level that start before `to` (and at or after `from`; of
   * `series` only, when given), from both of the level's materialisation tables.
   */
  async function deleteBuckets(tenantId: string, level: LevelName, range: { to: Date; from?: Date; series?: number[] }, deadline = Date.now() + RUN_BUDGET_MS): Promise<number> {
    const cutoff = range.to;
    const where = sql.join(
      [
        sql`tenant_id = ${tenantId}::uuid`,
        sql`bucket < ${cutoff.toISOString()}::timestamptz`,
        ...(range.from ? [sql`bucket >= ${range.from.toISOString()}::timestamptz`] : []),
        ...(range.series ? [sql`series_id = any(${range.series}::bigint[])`] : []),
      ],
      sql` and `,
    );
    // Tag-group rows (migrations/0076) are per metric: `series` are always every series of
    // their metrics (a purge), so the groups of those metrics go.
    const groupWhere = sql.join(
      [
        sql`tenant_id = ${tenantId}::uuid`,
        sql`bucket < ${cutoff.toISOString()}::timestamptz`,
        ...(range.from ? [sql`bucket >= ${range.from.toISOString()}::timestamptz`] : []),
        ...(range.series ? [sql`metric_id in (select metric_id from series_groups where series_id = any(${range.series}::bigint[]))`] : []),
      ],
      sql` and `,
    );
    let total = 0;
    const catalog = await aggregates();
    for (const aggregate of aggregatesOf(level)) {
      const table = catalog.get(aggregate);
      if (!table) continue;
      const condition = sql<boolean>`${aggregate.startsWith('group_') ? groupWhere : where}`;
      for (const chunk of await chunksOf(table, cutoff)) {
        if (Date.now() > deadline) break;
        if (range.from && chunk.range_end <= range.from) continue;
        if (!chunk.is_compressed) {
          total += await deleteInBatches(chunk.chunk, condition, deadline);
          continue;
        }
        // A compressed chunk (migrations/0090), through the materialisation hypertable narrowed
        // to the chunk's range (a chunk's compressed rows have no ctid to delete by): batches
        // of the tenant's segments are decompressed where the range cuts through them. One
        // transaction per chunk: a chunk holds a day (1m, 5m) or ten days (1h, 1d) of buckets.
        total += await kysely.transaction().execute(async (trx) => {
          await liftDecompressionLimit(trx);
          const result = await sql`delete from ${sql.raw(table.table)} where ${condition}
                                   and bucket >= ${chunk.range_start.toISOString()}::timestamptz and bucket < ${chunk.range_end.toISOString()}::timestamptz`.execute(trx);
          return Number(result.numAffectedRows ?? 0);
        });
      }
    }
    return total;
  }

  /** Client point ids older than the tenant's raw retention (by when they were stored). */
  function deletePointIds(tenantId: string, cutoff: Date, deadline: number): Promise<number> {
    return deleteInBatches('point_ids', sql<boolean>`tenant_id = ${tenantId}::uuid and created_at < ${cutoff.toISOString()}::timestamptz`, deadline, tenantId);
  }

  /**
   * One retention run at `now`: drop chunks older than every tenant's retention, then delete
   * each shorter-lived tenant's expired rows. Returns what it removed.
   */
  async function retain(now: Date): Promise<RetentionReport> {
    const deadline = Date.now() + RUN_BUDGET_MS;
    const report: RetentionReport = { deleted: { raw: 0, '1m': 0, '5m': 0, '1h': 0, '1d': 0 }, droppedChunks: 0, pointIds: 0, jobRuns: 0 };
    // The scheduler writes a row per tick of every job (several a minute): without this it grows for ever.
    const runsCutoff = new Date(now.getTime() - env.JOB_RUNS_RETENTION_DAYS * DAY);
    report.jobRuns = await deleteInBatches('job_runs', sql<boolean>`started_at < ${runsCutoff.toISOString()}::timestamptz and status <> 'RUNNING'`, deadline);
    const tenants = await allRetentions();
    if (tenants.length === 0) return report;
    const at = now.getTime();
    const longest = (source: Source) => Math.max(...tenants.map((t) => t[source]));
    const shortest = (source: Source) => Math.min(...tenants.map((t) => t[source]));
    const cutoff = (days: number) => new Date(at - days * DAY);

    if (db.timescale) await raiseFloors(at, { raw: shortest('raw'), '1m': shortest('1m'), '1h': shortest('1h') });

    for (const source of SOURCES) {
      if (source !== 'raw' && !db.timescale) continue;
      const common = cutoff(longest(source));
      if (db.timescale) {
        const relations = source === 'raw' ? ['points'] : aggregatesOf(source);
        for (const relation of relations) {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from drop_chunks(${relation}::regclass, older_than => ${common.toISOString()}::timestamptz)`.execute(kysely);
          report.droppedChunks += rows[0]?.n ?? 0;
        }
      }
      for (const tenant of tenants) {
        if (Date.now() > deadline) break;
        const mine = cutoff(tenant[source]);
        if (db.timescale && mine <= common) continue; // nothing left after drop_chunks
        const n = source === 'raw' ? await deleteRaw(tenant.tenantId, mine, deadline) : await deleteBuckets(tenant.tenantId, source, { to: mine }, deadline);
        report.deleted[source] += n;
        metrics.retentionDeleted.inc({ level: source }, n);
      }
    }
    for (const tenant of tenants) {
      if (Date.now() > deadline) break;
      report.pointIds += await deletePointIds(tenant.tenantId, cutoff(tenant.raw), deadline);
    }
    log.info({ ...report, tenants: tenants.length, ms: Date.now() - (deadline - RUN_BUDGET_MS) }, 'retention run');
    return report;
  }

  /** Raw points and every aggregate's materialisation hypertable, each with its compression age. */
  async function compressible(): Promise<Array<{ relation: string; schema: string; name: string; ageMs: number }>> {
    const catalog = await aggregates();
    const targets = [{ relation: 'points', schema: 'public', name: 'points', ageMs: compressionAge('raw', env.COMPRESS_AFTER_HOURS) }];
    for (const level of [...LEVELS].reverse()) {
      for (const aggregate of aggregatesOf(level.name)) {
        const table = catalog.get(aggregate);
        if (table) targets.push({ relation: aggregate, schema: table.schema, name: table.name, ageMs: compressionAge(level.name, env.COMPRESS_AFTER_HOURS) });
      }
    }
    return targets;
  }

  /**
   * Compresses the chunks of raw points and of every aggregate level whose end is older than
   * their compression age (compressionAge), and compresses again those that rows were written
   * into since (late points, refreshes: partially compressed). Returns how many it compressed.
   */
  async function compress(now: Date): Promise<number> {
    if (!db.timescale || env.COMPRESS_AFTER_HOURS === 0) return 0;
    const done: Record<string, number> = {};
    let total = 0;
    for (const target of await compressible()) {
      const olderThan = new Date(now.getTime() - target.ageMs).toISOString();
      // status: 1 compressed, 8 partially (rows written since it was compressed).
      const { rows } = await sql<{ chunk: string }>`
        select format('%I.%I', ch.schema_name, ch.table_name) as chunk
        from _timescaledb_catalog.chunk ch
        join _timescaledb_catalog.hypertable h on h.id = ch.hypertable_id
        join timescaledb_information.chunks i on i.chunk_schema = ch.schema_name and i.chunk_name = ch.table_name
        where h.schema_name = ${target.schema} and h.table_name = ${target.name} and not ch.dropped
          and (ch.status & 1 = 0 or ch.status & 8 <> 0) and i.range_end <= ${olderThan}::timestamptz
        order by i.range_start`.execute(kysely);
      // One chunk per statement: each is its own transaction, holding its locks only while it runs.
      for (const { chunk } of rows) await sql`select compress_chunk(${chunk}::regclass)`.execute(kysely);
      if (rows.length) done[target.relation] = rows.length;
      total += rows.length;
    }
    if (total) log.info({ chunks: total, ...done }, 'compressed chunks');
    return total;
  }

  /**
   * Who compresses: on a TimescaleDB server its background workers, through policies this sets
   * to each relation's compression age; on the embedded engine (no workers), or with
   * AGGREGATE_REFRESH=on (the service runs the work itself), the job below.
   */
  const selfCompress = db.kind === 'embedded' || env.AGGREGATE_REFRESH === 'on';

  async function ensureCompressionPolicy(): Promise<void> {
    if (!db.timescale || selfCompress) return;
    for (const target of await compressible()) {
      // The aggregates' policies are named by their view (TimescaleDB finds its materialisation).
      await sql`select remove_compression_policy(${target.relation}::regclass, if_exists => true)`.execute(kysely);
      if (env.COMPRESS_AFTER_HOURS > 0) {
        await sql`select add_compression_policy(${target.relation}::regclass, compress_after => make_interval(secs => ${target.ageMs / 1000}))`.execute(kysely);
      }
    }
  }

  return {
    retain,
    compress,
    deleteBuckets,
    floors: deps.floors,
    ensureCompressionPolicy,
    /**
     * What each RETENTION_CRON tick does (the job `retention`, src/jobs/register-jobs.ts):
     * compression first where the service does it, as its own run of that tick (`compression`
     * in job_runs), then retention. Returns the rows deleted.
     */
    async onTick(tick: Date, scheduler: Pick<Scheduler, 'run'>): Promise<number> {
      if (selfCompress) await scheduler.run('compression', tick, () => compress(tick));
      const report = await retain(tick);
      return Object.values(report.deleted).reduce((a, b) => a + b, 0) + report.pointIds + report.jobRuns;
    },
  };
}
export type Retainer = ReturnType<typeof createRetention>;
