import { sql, type Kysely } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Database } from '../db/tables.js';
import type { Logger } from '../log.js';
import { analyzeChanged } from '../ops/statistics.js';
import { aggregatesOf, levelMs, type LevelName } from './plan.js';

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

export interface AggregateRefresher {
  /**
   * Refreshes every level up to its lag behind now (what policies do on a real TimescaleDB).
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

  async function refresh(level: LevelName, requested: number | null, to: number) {
    const floor = (await options.floor?.(level)) ?? null;
    const from = floor === null ? requested : requested === null ? floor : Math.max(requested, floor);
    if (from !== null && from >= to) return;
    for (const aggregate of aggregatesOf(level)) {
      await sql`call refresh_continuous_aggregate(${aggregate}::regclass,
        ${from === null ? null : new Date(from).toISOString()}::timestamptz, ${new Date(to).toISOString()}::timestamptz)`.execute(db.kysely);
    }
  }

  const refresher: AggregateRefresher = {
    refreshAll() {
      if (!db.timescale) return Promise.resolve();
      return serial(async () => {
        const started = Date.now();
        for (const level of REFRESH_ORDER) await refresh(level, null, floorTo(Date.now() - REFRESH_LAG[level], levelMs(level)));
        // No autovacuum in PGlite: the planner's statistics are kept here (src/ops/statistics.ts).
        const analyzed = db.kind === 'embedded' ? await analyzeChanged(db.kysely) : 0;
        log.debug({ ms: Date.now() - started, analyzed }, 'aggregates refreshed');
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
