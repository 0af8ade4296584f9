/**
 * Planner statistics on the embedded engine. PGlite runs PostgreSQL in this process with no
 * background workers, so autovacuum never analyzes anything, and its activity counters do not
 * survive a restart: without statistics the planner guesses, and a query for 12 series of a
 * tenant scanned every series' rows of the range by the (tenant_id, bucket) index — 263 ms for
 * the 1-minute level and 45 ms for the hourly one, 36 ms and 11 ms once analyzed
 * (bench/query.ts data, 240 + 12 series).
 *
 * After each refresh, this analyzes what has changed enough since its statistics were taken,
 * judged by size (the counters are gone): tables and chunks never analyzed (a new chunk, a new
 * aggregate) and those that have grown to more than twice the pages they had then (the newest
 * chunk of each hypertable while it fills). One relation per statement, with `turn` between
 * them (src/db/engine-turns.ts), so requests get the engine. A TimescaleDB server has autovacuum: this is not called there.
 */
import { sql, type Kysely } from 'kysely';
import type { EngineTurn } from '../db/engine-turns.js';
import type { Database } from '../db/tables.js';

/** Analyzes the relations whose statistics are missing or still moving; returns how many. */
export async function analyzeChanged(kysely: Kysely<Database>, turn: EngineTurn = () => new Promise((resolve) => setImmediate(resolve))): Promise<number> {
  const { rows } = await sql<{ name: string }>`
    select format('%I.%I', n.nspname, c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'r' and n.nspname in ('public', '_timescaledb_internal')
      -- a hypertable's parent holds nothing; analyzing it would analyze every chunk again
      and not exists (select from _timescaledb_catalog.hypertable h where h.schema_name = n.nspname and h.table_name = c.relname)
      and (c.reltuples < 0 or pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + 1)
    order by 1`.execute(kysely);
  for (const { name } of rows) {
    const started = performance.now();
    await sql`analyze ${sql.raw(name)}`.execute(kysely); // from pg_class, quoted by format()
    await turn(performance.now() - started);
  }
  return rows.length;
}
