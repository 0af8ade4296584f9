/**
 * What a tenant may read of job_runs (the scheduler's log, src/jobs/scheduler.ts): the runs of
 * jobs it requested. job_runs' policy (migration 0010) shows the application role its tenant's
 * runs and the service-wide ones; service-wide runs (tenant_id null) tell of every tenant's
 * activity, so they are left out here.
 */
import { sql } from 'kysely';
import type { TenantTx } from '../db/tenant.js';

export interface JobRunRow {
  id: number;
  job: string;
  tick: Date;
  tenant_id: string | null;
  range_from: Date | null;
  range_to: Date | null;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  rows: number | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  error: string | null;
}

/** The tenant's own runs, of `job` when given, newest first, at most `limit`. */
export async function listTenantJobRuns(trx: TenantTx, options: { job: string | null; limit: number }): Promise<JobRunRow[]> {
  const { rows } = await sql<JobRunRow>`
    select id, job, tick, tenant_id, range_from, range_to, status, rows, started_at, finished_at, duration_ms, error
    from job_runs
    where (${options.job}::text is null or job = ${options.job}::text)
      and tenant_id is not null
    order by started_at desc, id desc
    limit ${options.limit}`.execute(trx);
  return rows;
}

/** One run by id, as the tenant sees it (undefined when its policy hides it). */
export async function readJobRun(trx: TenantTx, id: number): Promise<JobRunRow | undefined> {
  const { rows } = await sql<JobRunRow>`
    select id, job, tick, tenant_id, range_from, range_to, status, rows, started_at, finished_at, duration_ms, error
    from job_runs where id = ${id}`.execute(trx);
  return rows[0];
}
