import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from './connect.js';
import type { Logger } from '../log.js';
import { backfillAggregates } from '../query/backfill.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Files named `NNNN_name.timescale.sql` only run where TimescaleDB is installed. */
const TIMESCALE_ONLY = /\.timescale\.sql$/;

/**
 * Applies every migration in migrations/ that is not yet recorded, in name order, each in
 * its own transaction. An advisory lock taken inside each transaction keeps two instances
 * starting together from applying the same file twice.
 */
export async function migrate(db: Db, log: Logger, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  await sql`create table if not exists metrograph_migrations (
    name text primary key,
    applied_at timestamptz not null default now(),
    skipped boolean not null default false
  )`.execute(db.kysely);

  const applied: string[] = [];
  for (const name of files) {
    const skip = TIMESCALE_ONLY.test(name) && !db.timescale;
    const script = await readFile(`${dir}/${name}`, 'utf8');
    const ran = await db.kysely.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('metrograph_migrations'))`.execute(trx);
      const done = await trx.selectFrom('metrograph_migrations').select('name').where('name', '=', name).executeTakeFirst();
      if (done) return false;
      if (!skip) await sql.raw(script).execute(trx);
      await trx.insertInto('metrograph_migrations').values({ name, skipped: skip }).execute();
      return true;
    });
    if (ran) {
      applied.push(name);
      log.info({ migration: name, skipped: skip }, skip ? 'migration skipped: needs TimescaleDB' : 'migration applied');
    }
  }
  // Aggregates recreated by a migration are filled outside its transaction (migrations/0052).
  await backfillAggregates(db, log);
  return applied;
}
