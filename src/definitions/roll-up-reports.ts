/**
 * Report rollups (migrations/0021): per series and UTC period, the statistics and sketch a
 * report needs, so a year of weekly or monthly p95 merges a few thousand rows instead of a
 * million (figures in migrations/0021 and bench/report.ts).
 *
 * Kept fresh by a node-cron job that runs once per tick across instances (job_runs), in each
 * tenant's own transaction as the application role: every completed period that ended within
 * REPORT_ROLLUP_LOOKBACK_DAYS is rolled up again, so points stamped within that window are
 * taken in even when they arrive late. Older history, and points stamped earlier that arrive
 * later (an import), are rolled up by an ADMIN's backfill. A report
 * reads a period from its rollup only when the period is recorded as rolled, and from the
 * continuous aggregates (or raw points) otherwise, so rollups make reports faster, never
 * different, as long as no point stamped before the lookback arrives unannounced.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database, RollupPeriod } from '../db/tables.js';
import { withTenant, type TenantTx } from '../db/tenant.js';
import type { JobRun, Scheduler } from '../jobs/scheduler.js';
import { DAY } from '../query/plan.js';
import { newest, RAW_SUM, RAW_WEIGHT } from '../query/read-buckets.js';
import { utcPeriod } from './calendar.js';

/**
 * The periods rolled up on each engine. With TimescaleDB a day is already the 1d continuous
 * aggregate; a daily rollup would copy it for a small gain. Without it nothing is
 * pre-aggregated, so days are rolled up too, and weeks and months are built from them.
 */
export function rolledPeriods(timescale: boolean): RollupPeriod[] {
  return timescale ? ['WEEK', 'MONTH'] : ['DAY', 'WEEK', 'MONTH'];
}

const TRUNC: Record<RollupPeriod, string> = { DAY: 'day', WEEK: 'week', MONTH: 'month' };

/** Rows (series_id, t, n, s, mn, mx, lt, lv) or (series_id, t, k, n) covering [from, to) to roll up into `period`. */
async function sourceRows(
  trx: TenantTx,
  period: RollupPeriod,
  kind: 'stats' | 'sketch',
  from: Date,
  to: Date,
  timescale: boolean,
  tenantSeries: () => Promise<number[]>,
): Promise<RawBuilder<unknown>> {
  const range = (column: RawBuilder<unknown>) => sql`${column} >= ${from.toISOString()}::timestamptz and ${column} < ${to.toISOString()}::timestamptz`;
  if (timescale) {
    return kind === 'stats'
      ? sql`select series_id, bucket as t, n, s, mn, mx, lt, lv from tenant_stats_1d where ${range(sql`bucket`)}`
      : sql`select series_id, bucket as t, u.k, coalesce(u.w, 1) as n from tenant_sketch_1d cross join lateral unnest(ks, ws) as u (k, w) where ${range(sql`bucket`)}`;
  }
  if (period !== 'DAY') {
    // Weeks and months from the daily rollups, when every day of the range has one.
    const days = Math.round((to.getTime() - from.getTime()) / DAY);
    const rolled = await trx
      .selectFrom('report_rollup_periods')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('period', '=', 'DAY')
      .where('start', '>=', from)
      .where('start', '<', to)
      .executeTakeFirstOrThrow();
    if (Number(rolled.n) === days) {
      return kind === 'stats'
        ? sql`select series_id, start as t, n, s, mn, mx, lt, lv from report_rollup_stats where period = 'DAY' and ${range(sql`start`)}`
        : sql`select series_id, start as t, k, n from report_rollup_sketch where period = 'DAY' and ${range(sql`start`)}`;
    }
  }
  // The tenant's series as an array: the planner takes it into the tenant view as an index
  // condition. On the time range alone it scanned every tenant's points of those days.
  const where = sql`series_id = any(${await tenantSeries()}::bigint[]) and ${range(sql`time`)}`;
  return kind === 'stats'
    ? sql`select series_id, time as t, ${RAW_WEIGHT} as n, ${RAW_SUM} as s,
            coalesce(min_value, value) as mn, coalesce(max_value, value) as mx, time as lt, value as lv
          from tenant_points where ${where}`
    : sql`select series_id, time as t, sketch_key(value) as k, ${RAW_WEIGHT} as n from tenant_points where ${where}`;
}

/** The completed UTC periods of `period` that lie inside [from, to) and ended by `now`. */
export function completedPeriods(period: RollupPeriod, from: Date, to: Date, now: Date): Array<{ start: number; end: number }> {
  const periods: Array<{ start: number; end: number }> = [];
  const last = Math.min(to.getTime(), now.getTime());
  for (let p = utcPeriod(period, from.getTime()); p.end <= last; p = utcPeriod(period, p.end)) {
    if (p.start >= from.getTime()) periods.push(p);
  }
  return periods;
}

/**
 * Rolls up every completed `period` inside [from, to) for the transaction's tenant, replacing
 * what was there. Returns the rows written.
 */
export async function rollUp(trx: TenantTx, period: RollupPeriod, from: Date, to: Date, options: { timescale: boolean; now?: Date }): Promise<number> {
  const periods = completedPeriods(period, from, to, options.now ?? new Date());
  if (periods.length === 0) return 0;
  const first = new Date(periods[0]!.start);
  const end = new Date(periods.at(-1)!.end);
  // Deleting a period's row deletes its stats and sketch rows (on delete cascade).
  await trx.deleteFrom('report_rollup_periods').where('period', '=', period).where('start', 'in', periods.map((p) => new Date(p.start))).execute();
  await trx
    .insertInto('report_rollup_periods')
    .values(periods.map((p) => ({ tenant_id: sql<string>`current_tenant_id()`, period, start: new Date(p.start), end: new Date(p.end) })))
    .execute();
  // The tenant's series ids, read once for both kinds of rows (sourceRows), and only if raw points are read.
  let seriesIds: Promise<number[]> | undefined;
  const tenantSeries = () => (seriesIds ??= trx.selectFrom('series').select('id').execute().then((rows) => rows.map((s) => s.id)));
  // Grouped by position: the same expression written twice would be two different parameters to PostgreSQL.
  const start = sql`date_trunc(${TRUNC[period]}, x.t, 'UTC')`;
  // Aggregated into a temporary table first: TimescaleDB refuses an INSERT … SELECT that reads
  // a continuous aggregate through our security_barrier views as the application role
  // ("permission denied for materialized view stats_1d"), while a plain SELECT is allowed.
  const stats = await staged(
    trx,
    sql`select x.series_id, ${start} as start, sum(x.n) as n, sum(x.s) as s, min(x.mn) as mn, max(x.mx) as mx, max(x.lt) as lt, ${newest(sql`x.lv`, sql`x.lt`)} as lv
        from (${await sourceRows(trx, period, 'stats', first, end, options.timescale, tenantSeries)}) x group by 1, 2`,
    sql`insert into report_rollup_stats (tenant_id, series_id, period, start, n, s, mn, mx, lt, lv)
        select current_tenant_id(), series_id, ${period}, start, n, s, mn, mx, lt, lv from rollup_rows`,
  );
  const sketch = await staged(
    trx,
    sql`select x.series_id, ${start} as start, x.k, sum(x.n) as n
        from (${await sourceRows(trx, period, 'sketch', first, end, options.timescale, tenantSeries)}) x group by 1, 2, 3`,
    sql`insert into report_rollup_sketch (tenant_id, series_id, period, start, k, n)
        select current_tenant_id(), series_id, ${period}, start, k, n from rollup_rows`,
  );
  return stats + sketch;
}

/** Runs `select` into the temporary table rollup_rows, then `insert` (which reads it); returns the rows inserted. */
async function staged(trx: TenantTx, select: RawBuilder<unknown>, insert: RawBuilder<unknown>): Promise<number> {
  await sql`create temporary table rollup_rows on commit drop as ${select}`.execute(trx);
  const result = await insert.execute(trx);
  await sql`drop table rollup_rows`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/** Rolls up every period kind of this engine over [from, to), days first (weeks and months may be built from them). */
export async function rollUpRange(trx: TenantTx, from: Date, to: Date, options: { timescale: boolean; now?: Date }): Promise<number> {
  let rows = 0;
  for (const period of rolledPeriods(options.timescale)) rows += await rollUp(trx, period, from, to, options);
  return rows;
}

/** Periods ending within the lookback: what a scheduled run re-rolls. Periods that ended earlier are left as they are. */
export function dueRange(period: RollupPeriod, now: Date, lookbackDays: number): { from: Date; to: Date } {
  return { from: new Date(utcPeriod(period, now.getTime() - lookbackDays * DAY).start), to: now };
}

/** Time allowed for one tenant's rollup statements (a backfill over months of raw points is long). */
const ROLLUP_TIMEOUT_MS = 300_000;

export interface ReportRollups {
  /** What each tick of the cron job does: re-rolls the recent periods of every tenant. Returns the rows written. */
  rollUpRecent(tick: Date): Promise<number>;
  /** An ADMIN's backfill of [from, to) for one tenant, logged as a job run. */
  backfill(tenantId: string, from: Date, to: Date): Promise<JobRun | null>;
}

export const ROLLUP_JOB = 'reports.rollup';
export const BACKFILL_JOB = 'reports.backfill';

export function createReportRollups(kysely: Kysely<Database>, scheduler: Scheduler, options: { timescale: boolean; lookbackDays: number }): ReportRollups {
  const { timescale, lookbackDays } = options;
  const inTenant = (tenantId: string, work: (trx: TenantTx) => Promise<number>) => withTenant(kysely, tenantId, work, { timeoutMs: ROLLUP_TIMEOUT_MS });

  return {
    async rollUpRecent(tick) {
      // The owning role lists tenants through the tenants_jobs policy (0021); each tenant's work runs as the application role.
      const tenants = await kysely.selectFrom('tenants').select('id').orderBy('id').execute();
      let rows = 0;
      for (const { id } of tenants) {
        rows += await inTenant(id, async (trx) => {
          let written = 0;
          for (const period of rolledPeriods(timescale)) {
            const { from, to } = dueRange(period, tick, lookbackDays);
            written += await rollUp(trx, period, from, to, { timescale, now: tick });
          }
          return written;
        });
      }
      return rows;
    },
    backfill(tenantId, from, to) {
      // Requested, not scheduled: its tick is the request's millisecond.
      return scheduler.run(BACKFILL_JOB, new Date(), () => inTenant(tenantId, (trx) => rollUpRange(trx, from, to, { timescale })), { tenantId, range: { from, to } });
    },
  };
}

