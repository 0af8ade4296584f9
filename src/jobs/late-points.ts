/**
 * The late-points job: takes the ranges writes recorded in aggregate_invalidations
 * (src/query/invalidations.ts), recomputes the tenant's own aggregate buckets there level by
 * level, re-rolls the report periods they touch, and deletes the rows it has handled.
 *
 * Per tenant, not refresh_continuous_aggregate: a refresh recomputes a range for every tenant
 * from the level below, so it cannot reach where another tenant's source rows are gone to
 * retention (src/ops/retention.ts keeps every refresh above a service-wide floor that follows
 * the shortest retention of any tenant). That floor is why, before this job, a point written
 * more than about 29 days back never reached the aggregates, even for a tenant that keeps 100
 * years. Here each statement reads and writes only one tenant's rows of the series of the
 * recorded metrics, from the aggregate's own definition (timescaledb_information), so one
 * tenant's retention never decides what another tenant's aggregates hold.
 *
 * Races: a row is deleted only if its generation is the one read; a write that widened it
 * meanwhile bumped the generation, so the row stays and the next run takes it again. The
 * materialisation tables are locked (SHARE ROW EXCLUSIVE) while a tenant's buckets are
 * replaced, so a concurrent policy refresh on a TimescaleDB server cannot insert the same
 * buckets between our delete and insert.
 */
import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { withOwnerForTenant, withTenant } from '../db/tenant.js';
import { rolledPeriods, rollUp } from '../definitions/roll-up-reports.js';
import type { Logger } from '../log.js';
import { createAggregateCatalog } from '../query/aggregate-catalog.js';
import { mergeIntervals, type Interval } from '../query/invalidations.js';
import { aggregatesOf, levelMs } from '../query/plan.js';
import { liftDecompressionLimit, REFRESH_ORDER, REFRESH_WINDOW } from '../query/refresh.js';

export const LATE_POINTS_JOB = 'late-points';

/** Rows taken per round; a run goes on while rows are left, up to ROUNDS. */
const BATCH = 500;
const ROUNDS = 20;
/** A tenant's recomputation may cover days of raw points. */
const TIMEOUT_MS = 300_000;

const SPAN_GAP_MS = 86_400_000;

export interface LatePoints {
  /** Handles every recorded range (up to a bound per run); returns the rows handled. */
  refreshPending(now?: Date): Promise<number>;
}

export interface LatePointsDeps {
  db: Db;
  log: Logger;
  /** Called after a tenant's ranges were recomputed and re-rolled, before its rows are deleted: where a test interleaves a write. */
  beforeDelete?: (tenantId: string) => Promise<void>;
}

export function createLatePoints(deps: LatePointsDeps): LatePoints {
  const { db, log } = deps;
  const kysely = db.kysely;
  /** Each continuous aggregate's materialisation table and definition, read once. */
  const aggregates = createAggregateCatalog(kysely);

  /** Recomputes one tenant's buckets of `seriesIds` over `ranges` at every level, in one transaction. */
  async function recompute(tenantId: string, metricIds: number[], ranges: Interval[], now: Date): Promise<void> {
    const views = await aggregates();
    // As the owner (the application role has no privilege on the materialisation tables), with the tenant set so row-level security shows its series.
    await withOwnerForTenant(kysely, tenantId, async (trx) => {
      await liftDecompressionLimit(trx);
      const series = (await trx.selectFrom('series').select('id').where('metric_id', 'in', metricIds).execute()).map((r) => r.id);
      if (series.length === 0) return;
      for (const level of REFRESH_ORDER) {
        const w = levelMs(level);
        // Spans less than a day apart are recomputed as one: a few statements for an import of
        // weeks of hourly points, at the price of recomputing the (unchanged) buckets between.
        const spans = mergeIntervals(ranges.map((r) => ({ from: Math.floor(r.from / w) * w, to: Math.ceil(r.to / w) * w })), SPAN_GAP_MS);
        // The series' aggregates first, then the tag groups' (1h, 1d), which read them.
        for (const aggregate of aggregatesOf(level)) {
          const view = views.get(aggregate);
          if (!view) continue;
          const table = sql.raw(view.table); // from TimescaleDB's catalog, quoted by aggregate-catalog.ts
          const columns = sql.raw(view.columns);
          await sql`lock table ${table} in share row exclusive mode`.execute(trx);
          // Buckets past the aggregate's watermark are not read from its materialisation
          // (real-time aggregation computes them from the level below, which holds the point by
          // now), and those within the refresh window are materialised by the refresh when the
          // watermark passes: recomputing them here would only redo work (for today's 1 d bucket,
          // a day of every series). Older ones past the watermark no refresh would reach (below
          // the retention floor, or outside a policy's window): those are recomputed here.
          const { rows: marks } = await sql<{ us: string }>`select _timescaledb_functions.cagg_watermark(${view.id}::int)::text as us`.execute(trx);
          const skipFrom = Math.max(Number(BigInt(marks[0]!.us) / 1000n), now.getTime() - REFRESH_WINDOW[level]);
          for (const { from, to: end } of spans) {
            const span = { from, to: Math.min(end, skipFrom) };
            if (span.from >= span.to) continue;
            const rows = aggregate.startsWith('group_') ? sql`metric_id = any(${metricIds}::bigint[])` : sql`series_id = any(${series}::bigint[])`;
            const mine = sql`tenant_id = ${tenantId}::uuid and ${rows}
                             and bucket >= ${new Date(span.from).toISOString()}::timestamptz and bucket < ${new Date(span.to).toISOString()}::timestamptz`;
            await sql`delete from ${table} where ${mine}`.execute(trx);
            // The aggregate's own definition, narrowed to this tenant, these series and this range
            // (the conditions are on its grouping columns, so PostgreSQL applies them before grouping).
            await sql`insert into ${table} (${columns}) select ${columns} from (${sql.raw(view.definition)}) q where ${mine}`.execute(trx);
          }
        }
      }
    }, { timeoutMs: TIMEOUT_MS });
  }

  /** Re-rolls the tenant's rolled report periods that a range touches (days first: weeks and months may be built from them). */
  async function reroll(tenantId: string, ranges: Interval[], now: Date): Promise<void> {
    await withTenant(
      kysely,
      tenantId,
      async (trx) => {
        for (const period of rolledPeriods(db.timescale)) {
          const touched = await trx
            .selectFrom('report_rollup_periods')
            .select(['start', 'end'])
            .where('period', '=', period)
            .where((eb) => eb.or(ranges.map((r) => eb.and([eb('start', '<', new Date(r.to)), eb('end', '>', new Date(r.from))]))))
            .orderBy('start')
            .execute();
          for (const p of touched) await rollUp(trx, period, new Date(p.start), new Date(p.end), { timescale: db.timescale, now });
        }
      },
      { timeoutMs: TIMEOUT_MS },
    );
  }

  async function round(now: Date): Promise<{ seen: number; handled: number }> {
    // The owner sees every tenant's rows (the table's owner policy).
    const rows = await kysely
      .selectFrom('aggregate_invalidations')
      .select(['tenant_id', 'metric_id', 'bucket', 'lo', 'hi', 'generation'])
      .orderBy('bucket')
      .orderBy('tenant_id')
      .orderBy('metric_id')
      .limit(BATCH)
      .execute();
    const byTenant = new Map<string, typeof rows>();
    for (const row of rows) {
      const mine = byTenant.get(row.tenant_id);
      if (mine) mine.push(row);
      else byTenant.set(row.tenant_id, [row]);
    }
    let handled = 0;
    for (const [tenantId, mine] of byTenant) {
      // A point at exactly hi belongs to the minute starting there: ranges end after it.
      const ranges = mergeIntervals(mine.map((r) => ({ from: new Date(r.lo).getTime(), to: new Date(r.hi).getTime() + 1 })));
      try {
        if (db.timescale) await recompute(tenantId, [...new Set(mine.map((r) => r.metric_id))], ranges, new Date());
        await reroll(tenantId, ranges, now);
        await deps.beforeDelete?.(tenantId);
      } catch (error) {
        // This tenant's rows stay for the next run; the others go on.
        log.warn({ tenantId, err: (error as Error).message }, 'late points: recomputation failed');
        continue;
      }
      const { rows: deleted } = await sql<{ n: number }>`
        with gone as (
          delete from aggregate_invalidations i
          using unnest(${mine.map((r) => r.metric_id)}::bigint[], ${mine.map((r) => new Date(r.bucket).toISOString())}::timestamptz[], ${mine.map((r) => r.generation)}::bigint[]) as d (metric_id, bucket, generation)
          where i.tenant_id = ${tenantId}::uuid and i.metric_id = d.metric_id and i.bucket = d.bucket and i.generation = d.generation
          returning 1
        ) select count(*)::int as n from gone`.execute(kysely);
      handled += deleted[0]?.n ?? 0;
    }
    return { seen: rows.length, handled };
  }

  return {
    async refreshPending(now = new Date()) {
      let total = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const { seen, handled } = await round(now);
        total += handled;
        // All taken, or nothing could be handled (a tenant failed, or writes keep widening its rows): the rest waits for the next run.
        if (seen < BATCH || handled === 0) break;
      }
      return total;
    },
  };
}


