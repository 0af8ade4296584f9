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
 * In slices (planSlices): each transaction recomputes one aggregate over one window of at most
 * an hour (one bucket at the 1 h and 1 d levels) for a few metrics, and on the embedded engine
 * requests get the engine between slices (src/db/engine-turns.ts). One transaction per tenant
 * over every level and range held the embedded engine's only connection 8–10 s per run in
 * bench:ingest's late arm, and every write waited. A run stops after RUN_HOLD_MS of slices; the
 * next one goes on where it stopped. A tenant's rows are deleted only once all its slices and
 * re-rolls are done: until then readers answer the ranges from raw points
 * (src/query/invalidations.ts), so a half-done recomputation is never read.
 *
 * Races: a row is deleted only if its generation is the one read; a write that widened it
 * meanwhile bumped the generation, so the row stays and the next run takes it again. The
 * materialisation tables are locked (SHARE ROW EXCLUSIVE) while a slice's buckets are
 * replaced, so a concurrent policy refresh on a TimescaleDB server cannot insert the same
 * buckets between our delete and insert.
 */
import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { createSliceSizer, engineTurns } from '../db/engine-turns.js';
import { withOwnerForTenant, withTenant } from '../db/tenant.js';
import { rolledPeriods, rollUp } from '../definitions/roll-up-reports.js';
import type { Logger } from '../log.js';
import { createAggregateCatalog } from '../query/aggregate-catalog.js';
import { within } from '../query/read-buckets.js';
import { mergeIntervals, type Interval } from '../query/invalidations.js';
import { aggregatesOf, type LevelName } from '../query/plan.js';
import { liftDecompressionLimit, REFRESH_ORDER, REFRESH_WINDOW, sliceRanges, sliceWidth } from '../query/refresh.js';

export const LATE_POINTS_JOB = 'late-points';

/** Rows taken per round; a run goes on while rows are left, up to ROUNDS. */
const BATCH = 500;
const ROUNDS = 20;
/** One slice's statement timeout: a slice is bounded in time and metrics, this only stops a runaway. */
const TIMEOUT_MS = 300_000;

/**
 * Metrics one slice recomputes at most (one at the tag-group levels). A slice's work grows with
 * the series it reads; at the tag-group levels every group of every metric is merged again
 * (group_sketch_1h took 0.4–4.9 s for 4 metrics × 1 hour in bench:ingest's late arm, 75 series
 * and about 35 groups per metric, under load).
 */
export const METRICS_PER_SLICE = 4;

/**
 * How long one run may hold the engine with slices (on every engine; on the embedded one the
 * run also leaves it as long again to requests, src/db/engine-turns.ts). What is left is taken
 * up where it stopped by the next run (the tick is every 15 s by default).
 */
export const RUN_HOLD_MS = 10_000;

/**
 * The watermark of a continuous aggregate never materialised: TimescaleDB's least timestamptz in
 * microseconds (4714-11-24 BC), as `_timescaledb_functions.cagg_watermark` gives it.
 */
const NEVER_MATERIALISED = '-210866803200000000';

/** A slice that held the engine longer than this is logged (aggregate, window, metrics). */
const LONG_SLICE_MS = 1_000;

/** One transaction of a recomputation: one aggregate, one window (sliceRanges), a few metrics. */
export interface Slice {
  level: LevelName;
  aggregate: string;
  from: number;
  to: number;
  metricIds: number[];
}

/**
 * A tenant's recorded ranges (per metric) as slices, in the order they must run: level by level
 * (a level reads the one below it), within a level the series' aggregates before the tag groups'
 * (which read them), oldest window first. Each slice covers one window of sliceRanges and the
 * metrics whose ranges touch it, at most METRICS_PER_SLICE of them.
 *
 *   lat and req late over [10:07, 11:20) → 1m [10:07, 11:00) and [11:00, 11:20) for both, then
 *   5m [10:05, 11:00), [11:00, 11:20), then 1h [10:00, 11:00), [11:00, 12:00) (× stats, sketch,
 *   group_stats, group_sketch), then 1d [day, next day)
 */
export function planSlices(ranges: ReadonlyArray<{ metricId: number } & Interval>, metricsPerSlice = METRICS_PER_SLICE): Slice[] {
  const slices: Slice[] = [];
  for (const level of REFRESH_ORDER) {
    const windows = new Map<number, { from: number; to: number; metrics: Set<number> }>();
    const width = sliceWidth(level);
    for (const range of ranges) {
      // Pieces never cross a multiple of the width: those in one such window are one slice, from the first to the last.
      for (const piece of sliceRanges([range], level)) {
        const cell = Math.floor(piece.from / width) * width;
        const window = windows.get(cell);
        if (window) {
          window.from = Math.min(window.from, piece.from);
          window.to = Math.max(window.to, piece.to);
          window.metrics.add(range.metricId);
        } else windows.set(cell, { ...piece, metrics: new Set([range.metricId]) });
      }
    }
    const ordered = [...windows.values()].sort((a, b) => a.from - b.from);
    for (const aggregate of aggregatesOf(level)) {
      // A tag-group level merges every group of a metric again: one metric per slice there.
      const per = aggregate.startsWith('group_') ? 1 : metricsPerSlice;
      for (const { from, to, metrics } of ordered) {
        const ids = [...metrics].sort((a, b) => a - b);
        for (let i = 0; i < ids.length; i += per) slices.push({ level, aggregate, from, to, metricIds: ids.slice(i, i + per) });
      }
    }
  }
  return slices;
}

export interface RunScope {
  /** The run's clock (the cron tick). */
  now?: Date;
  /**
   * Only these tenants' rows. An embedded engine shared by test suites holds every suite's
   * rows; a suite that takes in its own late points need not recompute all the others'.
   */
  tenantIds?: readonly string[];
}

export interface LatePoints {
  /** Handles every recorded range (up to a bound per run), or the scope's tenants'; returns the rows handled. */
  refreshPending(scope?: RunScope): Promise<number>;
}

export interface LatePointsDeps {
  db: Db;
  log: Logger;
  /** Called after a tenant's ranges were recomputed and re-rolled, before its rows are deleted: where a test interleaves a write. */
  beforeDelete?: (tenantId: string) => Promise<void>;
  /** Called after each slice is recomputed (tests read the slices). */
  afterSlice?: (tenantId: string, slice: Slice) => void;
  /** Called after each transaction of slices (consecutive ones of one aggregate taken together), with the time it held the engine and waited for it (tests read the sizes). */
  afterGroup?: (tenantId: string, group: readonly Slice[], time: { heldMs: number; waitedMs: number }) => void;
  /** Slices one run recomputes at most (tests; by default a run stops after RUN_HOLD_MS of them). */
  slicesPerRun?: number;
  /**
   * Materialises every level (the aggregate refresh), where the service refreshes them itself.
   * A run calls it first while a level that another level reads has never been materialised
   * (a new database whose first refresh has not run yet). Reading such a level means real-time
   * aggregation of everything below it, and a bucket's recompute narrows that only after
   * aggregating (its range is on the bucket it computes): one hour of group_sketch_1h held the
   * embedded engine 27 s per metric in bench:ingest's late arm when the job came first, about
   * 1.3 s after the refresh. The refresh works in bounded slices; the recompute does not.
   *
   * Given, it also says that the service's refresh goes on from each watermark however far
   * back it is (src/query/refresh.ts): this job then leaves every bucket past a watermark to it.
   */
  materialiseLevels?: () => Promise<unknown>;
}

export function createLatePoints(deps: LatePointsDeps): LatePoints {
  const { db, log } = deps;
  const kysely = db.kysely;
  /** Each continuous aggregate's materialisation table and definition, read once. */
  const aggregates = createAggregateCatalog(kysely);
  const turn = engineTurns(db);
  /** The run's budget: slices recomputed and the engine time they held. */
  let budget = { slices: 0, heldMs: 0, longestMs: 0 };
  const spent = () => budget.heldMs >= RUN_HOLD_MS || budget.slices >= (deps.slicesPerRun ?? Infinity);
  /** Set once every level that another reads has a watermark: a watermark never goes back to none. */
  let sourcesMaterialised = false;

  /** Has materialiseLevels run first when there is work and a read level was never materialised (see LatePointsDeps). */
  async function materialiseSourcesFirst(): Promise<void> {
    if (sourcesMaterialised || !db.timescale || !deps.materialiseLevels) return;
    const unmaterialised = async () =>
      (
        await sql<{ n: number }>`
          select count(*)::int as n from _timescaledb_catalog.continuous_agg c
          where c.parent_mat_hypertable_id is not null
            and _timescaledb_functions.cagg_watermark(c.parent_mat_hypertable_id) = ${NEVER_MATERIALISED}::bigint`.execute(kysely)
      ).rows[0]!.n;
    if ((await unmaterialised()) === 0) {
      sourcesMaterialised = true;
      return;
    }
    const pending = await kysely.selectFrom('aggregate_invalidations').select('metric_id').limit(1).executeTakeFirst();
    if (!pending) return;
    const started = performance.now();
    await deps.materialiseLevels();
    log.info({ ms: Math.round(performance.now() - started) }, 'late points: the aggregates had never been refreshed; refreshed them before recomputing');
    sourcesMaterialised = (await unmaterialised()) === 0;
  }

  /** Recomputes the tenant's buckets of consecutive slices of one aggregate and the same metrics, in one transaction. */
  async function recompute(tenantId: string, group: Slice[], now: Date, begun: () => void): Promise<void> {
    const slice = group[0]!;
    const view = (await aggregates()).get(slice.aggregate);
    if (!view) return;
    // As the owner (the application role has no privilege on the materialisation tables), with the tenant set so row-level security shows its series.
    await withOwnerForTenant(kysely, tenantId, async (trx) => {
      begun();
      await liftDecompressionLimit(trx);
      const series = (await trx.selectFrom('series').select('id').where('metric_id', 'in', slice.metricIds).execute()).map((r) => r.id);
      if (series.length === 0) return;
      const rows = slice.aggregate.startsWith('group_') ? sql`metric_id = any(${slice.metricIds}::bigint[])` : sql`series_id = any(${series}::bigint[])`;
      const table = sql.raw(view.table); // from TimescaleDB's catalog, quoted by aggregate-catalog.ts
      const columns = sql.raw(view.columns);
      await sql`lock table ${table} in share row exclusive mode`.execute(trx);
      // Buckets past the aggregate's watermark are not read from its materialisation
      // (real-time aggregation computes them from the level below, which holds the point by
      // now), and the refresh materialises them when the watermark passes: recomputing them
      // here would only redo work (for today's 1 d bucket, a day of every series). Every bucket
      // behind the watermark is recomputed here. Under TimescaleDB's policies, so are those
      // past a watermark left behind a policy's window (no policy reaches them); the service's
      // own refresh goes on from the watermark, however far back it is.
      const { rows: marks } = await sql<{ us: string }>`select _timescaledb_functions.cagg_watermark(${view.id}::int)::text as us`.execute(trx);
      const watermark = Number(BigInt(marks[0]!.us) / 1000n);
      const skipFrom = deps.materialiseLevels ? watermark : Math.max(watermark, now.getTime() - REFRESH_WINDOW[slice.level]);
      const spans = group.map((s) => ({ from: new Date(s.from), to: new Date(Math.min(s.to, skipFrom)) })).filter((s) => s.from < s.to);
      if (spans.length === 0) return;
      const mine = sql`tenant_id = ${tenantId}::uuid and ${rows} and (${within(sql`bucket`, spans)})`;
      await sql`delete from ${table} where ${mine}`.execute(trx);
      // The aggregate's own definition over its source narrowed to this tenant's series and the
      // spans (aggregate-catalog.ts narrowSource: spans are whole buckets of this level, so the
      // source's rows in them are exactly those its buckets group), and narrowed again outside.
      const { source } = view;
      const definition = source
        ? sql`${sql.raw(source.before)}(select * from ${sql.raw(source.relation)} where tenant_id = ${tenantId}::uuid and series_id = any(${series}::bigint[]) and (${within(sql.raw(source.time), spans)})) ${sql.raw(source.alias)}${sql.raw(source.after)}`
        : sql.raw(view.definition);
      await sql`insert into ${table} (${columns}) select ${columns} from (${definition}) q where ${mine}`.execute(trx);
    }, { timeoutMs: TIMEOUT_MS });
  }

  /**
   * Runs one piece of work as a slice: counted against the run's budget, then the engine's turn.
   * `work` calls `begun` once its transaction has the connection: a slice holds the engine from
   * then, not while it waits in line behind requests (src/db/embedded.ts hands the connection
   * out in arrival order). Timed from the call, slices over bench:abuse's dense data with its
   * attacks running waited 4.6–5.4 s in line, counted as held: one day's group_sketch_1d past
   * the watermark (a few ms of work, nothing recomputed) was logged as a 6.8 s "long slice", and
   * such waits halved the slice sizer, lengthened the turn and spent the run's budget on other
   * callers' time. Returns the time held and the time waited.
   */
  async function asSlice(work: (begun: () => void) => Promise<void>): Promise<{ held: number; waited: number }> {
    const started = performance.now();
    let begin: number | undefined;
    await work(() => (begin ??= performance.now()));
    const ended = performance.now();
    const held = ended - (begin ?? started);
    budget.slices++;
    budget.heldMs += held;
    budget.longestMs = Math.max(budget.longestMs, held);
    await turn(held);
    return { held, waited: (begin ?? started) - started };
  }

  /**
   * Re-rolls the tenant's rolled report periods that a range touches (days first: weeks and
   * months may be built from them), one period per transaction.
   */
  async function reroll(tenantId: string, ranges: Interval[], now: Date): Promise<void> {
    const touched = await withTenant(kysely, tenantId, async (trx) => {
      const periods: Array<{ period: (typeof rolled)[number]; start: Date; end: Date }> = [];
      const rolled = rolledPeriods(db.timescale);
      for (const period of rolled) {
        const rows = await trx
          .selectFrom('report_rollup_periods')
          .select(['start', 'end'])
          .where('period', '=', period)
          .where((eb) => eb.or(ranges.map((r) => eb.and([eb('start', '<', new Date(r.to)), eb('end', '>', new Date(r.from))]))))
          .orderBy('start')
          .execute();
        for (const p of rows) periods.push({ period, start: new Date(p.start), end: new Date(p.end) });
      }
      return periods;
    });
    for (const p of touched) {
      await asSlice(async (begun) => void (await withTenant(kysely, tenantId, (trx) => (begun(), rollUp(trx, p.period, p.start, p.end, { timescale: db.timescale, now })), { timeoutMs: TIMEOUT_MS })));
    }
  }

  /** Recomputes a unit's slices, consecutive ones of one aggregate and the same metrics together while they are cheap (sparse points). */
  async function recomputeSlices(tenantId: string, slices: Slice[]): Promise<void> {
    // One sizer per aggregate and metrics: a window's cost differs by an order of magnitude
    // between aggregates (a group sketch merges every series' sketch; a stats level adds
    // numbers), so a size learnt on one is no guide to the next. Shared, the size stats_1m grew
    // to (128 windows) was sketch_1m's first slice, and sketch_1h's was group_stats_1h's and
    // group_sketch_1h's: 1.1–2.5 s slices over bench:abuse's dense data instead of about 250 ms.
    const sizers = new Map<string, ReturnType<typeof createSliceSizer>>();
    for (let done = 0; done < slices.length; ) {
      const first = slices[done]!;
      const key = `${first.aggregate}:${first.metricIds.join()}`;
      let sizer = sizers.get(key);
      if (!sizer) sizers.set(key, (sizer = createSliceSizer()));
      let end = done + 1;
      while (end < slices.length && end - done < sizer.units && slices[end]!.aggregate === first.aggregate && slices[end]!.metricIds.join() === first.metricIds.join()) end++;
      const group = slices.slice(done, end);
      const { held, waited } = await asSlice((begun) => recompute(tenantId, group, new Date(), begun));
      sizer.held(held, group.length);
      if (held > LONG_SLICE_MS) log.info({ tenantId, aggregate: first.aggregate, from: new Date(first.from), to: new Date(group.at(-1)!.to), metrics: first.metricIds.length, windows: group.length, ms: Math.round(held), waitedMs: Math.round(waited) }, 'late points: long slice');
      deps.afterGroup?.(tenantId, group, { heldMs: held, waitedMs: waited });
      for (const slice of group) deps.afterSlice?.(tenantId, slice);
      done = end;
    }
  }

  /** A row's range; a point at exactly hi belongs to the minute starting there: ranges end after it. */
  const spanOf = (r: { metric_id: number; lo: Date; hi: Date }) => ({ metricId: Number(r.metric_id), from: new Date(r.lo).getTime(), to: new Date(r.hi).getTime() + 1 });

  async function round(now: Date, tenantIds: readonly string[] | undefined): Promise<{ seen: number; handled: number; finished: boolean }> {
    // The owner sees every tenant's rows (the table's owner policy).
    const rows = await kysely
      .selectFrom('aggregate_invalidations')
      .select(['tenant_id', 'metric_id', 'bucket', 'lo', 'hi', 'generation'])
      .$if(tenantIds !== undefined, (q) => q.where('tenant_id', 'in', tenantIds!))
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
    let finished = true;
    for (const [tenantId, tenantRows] of byTenant) {
      // Units: a tenant's rows of a few metrics. A unit, once begun, is finished (its slices
      // still take turns with requests), so a run's budget never leaves work half done for a
      // next run to throw away, and writes that keep widening rows cannot keep it from ending.
      const metrics = [...new Set(tenantRows.map((r) => r.metric_id))];
      const mine: typeof rows = [];
      try {
        for (let i = 0; i < metrics.length; i += METRICS_PER_SLICE) {
          if (spent()) {
            finished = false;
            break;
          }
          const chunk = new Set(metrics.slice(i, i + METRICS_PER_SLICE));
          const unit = tenantRows.filter((r) => chunk.has(r.metric_id));
          if (db.timescale) await recomputeSlices(tenantId, planSlices(unit.map(spanOf)));
          mine.push(...unit);
        }
        // Report periods are re-rolled once for the units done, before their rows go.
        if (mine.length > 0) {
          await reroll(tenantId, mergeIntervals(mine.map(spanOf)), now);
          await deps.beforeDelete?.(tenantId);
        }
      } catch (error) {
        // This tenant's rows stay for the next run; the others go on.
        log.warn({ tenantId, err: (error as Error).message }, 'late points: recomputation failed');
        continue;
      }
      if (mine.length === 0) break;
      const { rows: deleted } = await sql<{ n: number }>`
        with gone as (
          delete from aggregate_invalidations i
          using unnest(${mine.map((r) => r.metric_id)}::bigint[], ${mine.map((r) => new Date(r.bucket).toISOString())}::timestamptz[], ${mine.map((r) => r.generation)}::bigint[]) as d (metric_id, bucket, generation)
          where i.tenant_id = ${tenantId}::uuid and i.metric_id = d.metric_id and i.bucket = d.bucket and i.generation = d.generation
          returning 1
        ) select count(*)::int as n from gone`.execute(kysely);
      handled += deleted[0]?.n ?? 0;
      if (!finished) break;
    }
    return { seen: rows.length, handled, finished };
  }

  return {
    async refreshPending({ now = new Date(), tenantIds } = {}) {
      if (tenantIds?.length === 0) return 0;
      budget = { slices: 0, heldMs: 0, longestMs: 0 };
      await materialiseSourcesFirst();
      let total = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const { seen, handled, finished } = await round(now, tenantIds);
        total += handled;
        // All taken, the run's budget spent, or nothing could be handled (a tenant failed, or
        // writes keep widening its rows): the rest waits for the next run.
        if (seen < BATCH || !finished || handled === 0) break;
      }
      if (budget.slices > 0) log.info({ rows: total, slices: budget.slices, heldMs: Math.round(budget.heldMs), longestSliceMs: Math.round(budget.longestMs) }, 'late points recomputed');
      return total;
    },
  };
}
