/**
 * What a tenant may read of job_runs (the scheduler's log, src/jobs/scheduler.ts): the runs of
 * jobs it requested. job_runs' policy (migration 0010) shows the application role its tenant's
 * runs and the service-wide ones; service-wide runs (tenant_id null) tell of every tenant's
 * activity, so they are left out here.
 */
import { sql, type Selectable } from 'kysely';
import type { TenantTx } from '../db/tenant.js';
import type { JobRunsTable } from '../db/tables.js';

/** A run as a tenant reads it: everything but the instance that ran it. */
export type JobRunRow = Omit<Selectable<JobRunsTable>, 'instance'>;

const COLUMNS = ['id', 'job', 'tick', 'tenant_id', 'range_from', 'range_to', 'status', 'rows', 'started_at', 'finished_at', 'duration_ms', 'error'] as const;

/** The tenant's own runs, of `job` when given, newest first, at most `limit`. */
export async function listTenantJobRuns(trx: TenantTx, options: { job: string | null; limit: number }): Promise<JobRunRow[]> {
  // Named, not only allowed by the policy: so the planner reads the tenant's own index (migrations/0093).
  let query = trx.selectFrom('job_runs').select(COLUMNS).where('tenant_id', '=', sql<string>`current_tenant_id()`);
  if (options.job !== null) query = query.where('job', '=', options.job);
  return query.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

/** One run by id, as the tenant sees it (undefined when its policy hides it). */
export async function readJobRun(trx: TenantTx, id: number): Promise<JobRunRow | undefined> {
  return trx.selectFrom('job_runs').select(COLUMNS).where('id', '=', id).executeTakeFirst();
}
