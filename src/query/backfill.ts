import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Logger } from '../log.js';
import { levelMs, type LevelName } from './plan.js';
import { REFRESH_LAG } from './refresh.js';

/**
 * Fills the continuous aggregates a migration recreated (migrations/0052 lists them in
 * aggregate_backfill) from the raw points already stored, up to each level's refresh lag, as
 * the owner. refresh_continuous_aggregate cannot run inside a transaction, so a migration
 * cannot do it itself. Each aggregate leaves the list once filled, so an interrupted start
 * resumes where it stopped.
 */
export async function backfillAggregates(db: Db, log: Logger): Promise<void> {
  if (!db.timescale) return;
  const exists = await sql<{ t: string | null }>`select to_regclass('aggregate_backfill')::text as t`.execute(db.kysely);
  if (!exists.rows[0]?.t) return;
  const rows = await db.kysely.selectFrom('aggregate_backfill').select(['position', 'view_name']).orderBy('position').execute();
  for (const row of rows) {
    const level = row.view_name.replace(/^(group_)?(stats|sketch)_/, '') as LevelName;
    const width = levelMs(level);
    const end = Math.floor((Date.now() - REFRESH_LAG[level]) / width) * width;
    const started = Date.now();
    await sql`call refresh_continuous_aggregate(${row.view_name}::regclass, null, ${new Date(end).toISOString()}::timestamptz)`.execute(db.kysely);
    await db.kysely.deleteFrom('aggregate_backfill').where('position', '=', row.position).execute();
    log.info({ aggregate: row.view_name, ms: Date.now() - started }, 'continuous aggregate filled from raw points');
  }
}
