import { sql, type Kysely } from 'kysely';
import type { Db } from '../db/connect.js';
import { createSliceSizer, engineTurns } from '../db/engine-turns.js';
import type { Database } from '../db/tables.js';
import { MIN_TIMESTAMP } from '../ingest/metric-input.js';
import type { Logger } from '../log.js';
import { analyzeChanged } from '../ops/statistics.js';
import { mergeIntervals, type Interval } from './invalidations.js';
import { aggregatesOf, HOUR, levelMs, type LevelName } from './plan.js';

/**
 * How far behind now each level's materialisation stays (its refresh window's end, as in the
 * policies of migrations/0005). Everything newer is aggregated at query time from the level
 * below, so a point stamped within this lag of now is always visible at once.
 */
export const REFRESH_LAG: Record<LevelName, number> = {
  '1m': 10 * 60_000,
  '5m': 10 * 60_000,
  '1h': 60 * 60_000,
  '1d': 24 * 60 * 60_000,
};

/**
 * How far back each level's refreshes reach, at least: the policies' start offsets (migrations/0005).
 * The late-points job leaves this window to the refreshes; compression waits until a chunk is past it.
 */
export const REFRESH_WINDOW: Record<LevelName, number> = {
  '1m': 3 * 60 * 60_000,
  '5m': 6 * 60 * 60_000,
  '1h': 3 * 24 * 60 * 60_000,
  '1d': 35 * 24 * 60 * 60_000,
};

/** Levels in the order they must refresh (and be recomputed): a level reads the one below it. */
export const REFRESH_ORDER: readonly LevelName[] = ['1m', '5m', '1h', '1d'];

/**
 * Lets this transaction's DML decompress as many rows as it needs: deleting buckets or points
 * in compressed chunks (migrations/0090) decompresses the batches that hold them, and
 * TimescaleDB stops a transaction after 100 000 such rows by default.
 */
export async function liftDecompressionLimit(trx: Kysely<Database>): Promise<void> {
  await sql`set local timescaledb.max_tuples_decompressed_per_dml_transaction = 0`.execute(trx);
}
const floorTo = (ms: number, w: number) => Math.floor(ms / w) * w;
const ceilTo = (ms: number, w: number) => Math.ceil(ms / w) * w;

/**
 * The widest time window one refresh statement recomputes, at the 1-minute and 5-minute
 * levels; a level whose buckets are wider recomputes one bucket (1 hour, 1 day). On the
 * embedded engine every statement holds the only connection (src/db/engine-turns.ts): an hour
 * is one aggregate_invalidations row's width (src/query/invalidations.ts), and it held the
 * engine 0.1–1 s per aggregate in bench:ingest's late arm (300 series, 4 metrics, 20 000 points
 * a round), where whole-range statements held it 5–25 s.
 */
export const REFRESH_SLICE_MS = HOUR;

/** The widest range one statement recomputes at `level`: REFRESH_SLICE_MS, or one bucket where buckets are wider. */
export const sliceWidth = (level: LevelName): number => Math.max(REFRESH_SLICE_MS, levelMs(level));

/**
 * `ranges` widened to `level`'s buckets, merged, and cut where they cross a multiple of the
 * level's slice (REFRESH_SLICE_MS, or one bucket where buckets are wider): each piece is one
 * statement's work, oldest first.
 *
 *   5m, [10:07, 12:02) → [10:05, 11:00), [11:00, 12:00), [12:00, 12:05)
 *   1d, [Mon 10:00, Tue 02:00) → [Mon, Tue), [Tue, Wed)
 */
export function sliceRanges(ranges: readonly Interval[], level: LevelName): Interval[] {
  const w = levelMs(level);
  const slice = sliceWidth(level);
  const out: Interval[] = [];
  for (const r of mergeIntervals(ranges.filter((r) => r.from < r.to).map((r) => ({ from: floorTo(r.from, w), to: ceilTo(r.to, w) })))) {
    for (let from = r.from; from < r.to; ) {
      const to = Math.min(r.to, floorTo(from, slice) + slice);
      out.push({ from, to });
      from = to;
    }
  }
  return out;
}

/**
 * A range cut into more slices than this (an aggregate not refreshed since it was created, whose
 * invalidation is everything; an import spanning months in one transaction) is refreshed by one
 * statement, as before slicing: cutting it would mean thousands of statements over mostly empty time.
 */
const MAX_SLICES_PER_RANGE = 2_000;

/** A refresh statement that held the engine longer than this is logged (aggregate, window). */
const LONG_STATEMENT_MS = 1_000;

/** Microseconds since the epoch (TimescaleDB's internal time, ±infinity at the int64 ends) as ms, clamped to [lo, hi]. */
const usToMs = (us: string, lo: number, hi: number) => {
  const v = BigInt(us);
  return v <= BigInt(lo) * 1000n ? lo : v >= BigInt(hi) * 1000n ? hi : Number(v / 1000n);
};

export interface AggregateRefresher {
  /**
   * Refreshes every level from its watermark up to its lag behind now (where the service
   * refreshes the aggregates itself; policies do it on a TimescaleDB server, over their windows).
   * What changed behind a watermark is the late-points job's (src/jobs/late-points.ts).
   * Scheduled as the job `aggregate-refresh` (src/jobs/register-jobs.ts) where the service
   * refreshes itself, once per tick across instances.
   */
  refreshAll(): Promise<void>;
  /**
   * Recomputes, for every tenant, the buckets of each level that `times` span behind its
   * watermark (timescale/timescaledb#3877: real-time aggregation does not look behind it). Used
   * by purges; writes never wait for it: their late points are recorded and taken in by the
   * late-points job, per tenant (src/query/invalidations.ts, src/jobs/late-points.ts).
   */
  afterWrite(times: Date[]): Promise<void>;
}

export interface RefreshOptions {
  /**
   * The oldest time (ms) a level may be refreshed from, or null. Retention deletes old rows of a
   * level's source, and TimescaleDB recomputes an invalidated range from its source for every
   * tenant: refreshing where the source rows are gone would erase the aggregates kept there.
   * Refreshes start at this floor at the earliest (src/ops/retention.ts moves it).
   */
  floor?: (level: LevelName) => Promise<number | null>;
}

export function createAggregateRefresher(db: Db, log: Logger, options: RefreshOptions = {}): AggregateRefresher {
  let running: Promise<void> = Promise.resolve();

  // Refreshes are serialised: one CALL at a time, in level order.
  const serial = (work: () => Promise<void>) => (running = running.then(work, work));

  const turn = engineTurns(db);

  /**
   * What a refresh of `aggregate` over [from, to) would recompute: the ranges TimescaleDB has
   * logged as changed in its source (writes not yet taken into any aggregate, and those already
   * handed to this one) and the new data from its watermark on, clipped to [from, to).
   */
  async function invalidated(aggregate: string, from: number, to: number, fromWatermark = false): Promise<Interval[]> {
    const { rows } = await sql<{ lo: string; hi: string; watermark: boolean }>`
      with c as (select mat_hypertable_id, raw_hypertable_id from _timescaledb_catalog.continuous_agg where user_view_schema = 'public' and user_view_name = ${aggregate})
      select l.lowest_modified_value::text as lo, l.greatest_modified_value::text as hi, false as watermark
      from c join _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l on l.hypertable_id = c.raw_hypertable_id
      union all
      select l.lowest_modified_value::text, l.greatest_modified_value::text, false
      from c join _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l on l.materialization_id = c.mat_hypertable_id
      union all
      select _timescaledb_functions.cagg_watermark(c.mat_hypertable_id)::text, '9223372036854775807', true from c`.execute(db.kysely);
    // From the watermark, changes behind it are left alone: the late-points job recomputes those,
    // per tenant (every write behind now records its range, src/query/invalidations.ts). New data
    // from the watermark on is refreshed however far back it begins (an instance that was down
    // for days; an aggregate never refreshed, whose watermark is the earliest time).
    const watermark = rows.find((r) => r.watermark)!;
    const start = fromWatermark ? Math.max(from, usToMs(watermark.lo, from, to)) : from;
    // greatest_modified_value is the last changed instant: the range ends just after it.
    return rows.map((r) => ({ from: usToMs(r.lo, start, to), to: usToMs(r.hi, start - 1, to - 1) + 1 })).filter((r) => r.from < r.to);
  }

  /**
   * Drops the entries of TimescaleDB's invalidation log for `level`'s aggregates that lie wholly
   * behind the aggregate's watermark and that no recorded range (aggregate_invalidations, any
   * tenant) overlaps: every write there has been taken in by the late-points job, and no
   * refresh reaches them, so they would only pile up (one per late range, per aggregate) and
   * be read by every run. Embedded engine only: the log is TimescaleDB's catalog, which the
   * service owns there. Returns the entries dropped.
   */
  async function forgetTakenIn(level: LevelName): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      with gone as (
        delete from _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
        using _timescaledb_catalog.continuous_agg c
        where l.materialization_id = c.mat_hypertable_id
          and c.user_view_schema = 'public' and c.user_view_name = any(${aggregatesOf(level)}::text[])
          and l.greatest_modified_value < _timescaledb_functions.cagg_watermark(c.mat_hypertable_id)
          and not exists (
            select 1 from aggregate_invalidations i
            where (extract(epoch from i.hi) * 1000000)::bigint >= l.lowest_modified_value
              and (extract(epoch from i.lo) * 1000000)::bigint <= l.greatest_modified_value)
        returning 1
      ) select count(*)::int as n from gone`.execute(db.kysely);
    return rows[0]!.n;
  }

  /** The longest a refresh statement held the engine in the current run, and how many ran. */
  let run = { statements: 0, longestMs: 0 };

  async function call(aggregate: string, from: number | null, to: number) {
    const asked = performance.now();
    // Timed from when the statement has the connection: on the embedded engine it may wait in
    // line behind requests first (src/db/embedded.ts), and that wait is not the engine held by
    // this refresh (it used to be logged, sized and turned on as if it were).
    let started = asked;
    await db.kysely.connection().execute(async (connection) => {
      started = performance.now();
      await sql`call refresh_continuous_aggregate(${aggregate}::regclass,
        ${from === null ? null : new Date(from).toISOString()}::timestamptz, ${new Date(to).toISOString()}::timestamptz)`.execute(connection);
    });
    const held = performance.now() - started;
    if (held > LONG_STATEMENT_MS) log.info({ aggregate, from: from === null ? null : new Date(from), to: new Date(to), ms: Math.round(held), waitedMs: Math.round(started - asked) }, 'aggregate refresh: long statement');
    run.statements++;
    run.longestMs = Math.max(run.longestMs, held);
    await turn(held);
    return held;
  }

  /**
   * Refreshes `level` over [requested, to) (from its floor at the earliest) in slices
   * (sliceRanges): only where something changed, one statement per slice, with the engine's
   * turn between them. The result is the same as one statement over the whole range; what a run
   * does not reach (a failure) stays in TimescaleDB's log for the next one.
   */
  async function refresh(level: LevelName, requested: number | null, to: number, fromWatermark = false) {
    const floor = (await options.floor?.(level)) ?? null;
    const from = floor === null ? requested : requested === null ? floor : Math.max(requested, floor);
    if (from !== null && from >= to) return;
    for (const aggregate of aggregatesOf(level)) {
      const ranges = await invalidated(aggregate, from ?? MIN_TIMESTAMP.getTime(), to, fromWatermark);
      // A floor inside a bucket leaves that bucket out, as TimescaleDB does with a window's partial buckets (and it refuses a window of none).
      const start = from === null ? -Infinity : ceilTo(from, levelMs(level));
      const slices = sliceRanges(ranges, level)
        .map((s) => ({ from: Math.max(s.from, start), to: Math.min(s.to, to) }))
        .filter((s) => s.from < s.to);
      if (slices.length > MAX_SLICES_PER_RANGE) {
        await call(aggregate, slices[0]!.from, to);
        continue;
      }
      // Consecutive slices of one range are refreshed together while they are cheap (sparse data).
      const sizer = createSliceSizer();
      for (let i = 0; i < slices.length; ) {
        let j = i + 1;
        while (j < slices.length && j - i < sizer.units && slices[j]!.from === slices[j - 1]!.to) j++;
        sizer.held(await call(aggregate, slices[i]!.from, slices[j - 1]!.to), j - i);
        i = j;
      }
    }
  }

  const refresher: AggregateRefresher = {
    refreshAll() {
      if (!db.timescale) return Promise.resolve();
      return serial(async () => {
        const started = Date.now();
        run = { statements: 0, longestMs: 0 };
        // From each watermark on: changes behind it are the late-points job's, per tenant.
        // Reaching back recomputed every late range a second time for every tenant: over all
        // history 85–92 s runs in the test suite (points months old), and even a policy's window
        // (35 days at 1d) held one tenant's 5 weeks of late points for minutes of everyone's days.
        const now = Date.now();
        let forgotten = 0;
        for (const level of REFRESH_ORDER) {
          await refresh(level, null, floorTo(now - REFRESH_LAG[level], levelMs(level)), true);
          if (db.kind === 'embedded') forgotten += await forgetTakenIn(level);
        }
        // No autovacuum in PGlite: the planner's statistics are kept here (src/ops/statistics.ts).
        const analyzed = db.kind === 'embedded' ? await analyzeChanged(db.kysely, turn) : 0;
        log.info({ ms: Date.now() - started, statements: run.statements, longestStatementMs: Math.round(run.longestMs), analyzed, forgotten }, 'aggregates refreshed');
      });
    },
    afterWrite(times) {
      if (!db.timescale || times.length === 0) return Promise.resolve();
      let oldest = Infinity;
      let newest = -Infinity;
      for (const t of times) {
        const ms = t.getTime();
        if (ms < oldest) oldest = ms;
        if (ms > newest) newest = ms;
      }
      const now = Date.now();
      const behind = REFRESH_ORDER.filter((level) => oldest < now - REFRESH_LAG[level]);
      if (behind.length === 0) return Promise.resolve();
      return serial(async () => {
        for (const level of behind) {
          const w = levelMs(level);
          const watermark = floorTo(now - REFRESH_LAG[level], w);
          const end = Math.min(floorTo(newest, w) + w, watermark);
          const start = floorTo(oldest, w);
          if (start < end) await refresh(level, start, end);
        }
      });
    },
  };
  return refresher;
}
