/**
 * purgeMetrics: a tenant's points of some metrics older than a date, and the aggregate buckets
 * that held them, removed for good.
 *
 * The points go in one tenant transaction, through a security definer function that filters
 * every statement by the transaction's tenant (the application role may not delete points),
 * with the METRICS_PURGED audit row. Then the aggregates: TimescaleDB recomputes the purged
 * range of each level from its source (a refresh; it cannot run inside a transaction), except
 * below a level's refresh floor (src/ops/retention.ts), where recomputing would erase what
 * retention kept; there the tenant's buckets of the purged series are deleted directly. A
 * bucket there that straddles `olderThan` goes whole: it cannot be recomputed.
 */
import { sql } from 'kysely';
import { auditRow, audit, type Actor } from '../audit.js';
import type { TenantPrincipal } from '../auth.js';
import type { Db } from '../db/connect.js';
import { withTenantWrite } from '../db/tenant.js';
import type { QueryCache } from '../query/cache.js';
import type { AggregateRefresher } from '../query/refresh.js';
import type { Retainer } from './retention.js';
import { userError } from '../errors.js';
import { LEVELS } from '../query/plan.js';

export interface PurgeResult {
  deleted: number;
  metrics: string[];
  olderThan: Date;
}

/** A purge may cut through years of compressed data: far longer than a query may take. */
const PURGE_TIMEOUT_MS = 10 * 60_000;

/** Purges as `principal` (the caller has checked it is an ADMIN); `actor` is who the audit row names. */
export async function purgeMetrics(
  deps: { db: Db; aggregates: AggregateRefresher; retention: Retainer; queryCache: QueryCache },
  principal: TenantPrincipal,
  actor: Actor,
  input: { metrics: string[]; olderThan: Date },
): Promise<PurgeResult> {
  const { db, aggregates, retention } = deps;
  const names = [...new Set(input.metrics)];
  const purged = await withTenantWrite(
    db.kysely,
    db.reads,
    principal.tenantId,
    async (trx) => {
      const metrics = await trx.selectFrom('metrics').select(['id', 'name']).where('name', 'in', names).execute();
      const missing = names.find((name) => !metrics.some((m) => m.name === name));
      if (missing) throw userError('NOT_FOUND', 'metric.notFound', { metric: missing }, { metric: missing });
      const series = (await trx.selectFrom('series').select('id').where('metric_id', 'in', metrics.map((m) => m.id)).execute()).map((s) => s.id);
      const { rows } = await sql<{ deleted: number; oldest: Date | null; newest: Date | null }>`
        select deleted::float8 as deleted, oldest, newest from purge_tenant_points(${series}::bigint[], ${input.olderThan.toISOString()}::timestamptz)`.execute(trx);
      const { deleted, oldest, newest } = rows[0]!;
      await audit(
        trx,
        auditRow(principal.tenantId, actor, {
          action: 'METRICS_PURGED',
          target: names.join(',').slice(0, 500),
          details: { metrics: names, olderThan: input.olderThan.toISOString(), deleted, oldest, newest },
        }),
      );
      return { deleted, oldest, newest, series };
    },
    { timeoutMs: PURGE_TIMEOUT_MS },
  );

  if (db.timescale) {
    // Above each level's floor: recompute the purged range from the source (all buckets there).
    if (purged.oldest && purged.newest) await aggregates.afterWrite([new Date(purged.oldest), new Date(purged.newest)]);
    // Below it: delete the tenant's buckets of these series directly, also those whose raw
    // points retention already removed.
    for (const level of LEVELS) {
      const floor = await retention.floors.floor(level.name);
      if (floor === null) continue;
      const to = new Date(Math.min(floor, input.olderThan.getTime()));
      await retention.deleteBuckets(principal.tenantId, level.name, { series: purged.series, to });
    }
  }
  // [cache on write, #12b] Answers cached before the purge would still show the purged points.
  await deps.queryCache.touch(principal.tenantId, names);
  return { deleted: Number(purged.deleted), metrics: names, olderThan: input.olderThan };
}
