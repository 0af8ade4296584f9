/**
 * Every scheduled job of the service, in one list: its name (as job_runs and the
 * metrograph_job_* metrics name it), its cron expression (from the environment; `off` leaves it
 * out) and its work. All of them run through the scheduler (src/jobs/scheduler.ts): once per
 * tick across instances, the tick's row in job_runs being both the lock and the log.
 *
 * The work lives with its domain (retention in src/ops/, rollups in src/definitions/, alerts in
 * src/alerts/, late points here); no domain module schedules itself.
 */
import type { Db } from '../db/connect.js';
import type { Env } from '../env.js';
import type { Alerts } from '../alerts/evaluate.js';
import type { ReportRollups } from '../definitions/roll-up-reports.js';
import { ROLLUP_JOB } from '../definitions/roll-up-reports.js';
import type { Retainer } from '../ops/retention.js';
import type { AggregateRefresher } from '../query/refresh.js';
import { LATE_POINTS_JOB, type LatePoints } from './late-points.js';
import type { JobWork, Scheduler } from './scheduler.js';

export interface ScheduledJob {
  name: string;
  /** node-cron syntax (seconds first), or `off`. */
  cron: string;
  work: JobWork;
}

export interface JobDeps {
  env: Pick<Env, 'AGGREGATE_REFRESH' | 'AGGREGATE_REFRESH_CRON' | 'RETENTION_CRON' | 'REPORT_ROLLUP_CRON' | 'LATE_POINTS_CRON' | 'ALERT_EVALUATION_CRON'>;
  db: Pick<Db, 'kind' | 'timescale'>;
  scheduler: Scheduler;
  aggregates: AggregateRefresher;
  retention: Retainer;
  rollups: ReportRollups;
  latePoints: LatePoints;
  alerts: Alerts;
}

/**
 * Whether the service refreshes the continuous aggregates itself: where no background worker
 * will (the embedded engine), or when told to (AGGREGATE_REFRESH=on).
 */
export function refreshesAggregates(env: JobDeps['env'], db: JobDeps['db']): boolean {
  return db.timescale && (env.AGGREGATE_REFRESH === 'on' || (env.AGGREGATE_REFRESH === 'auto' && db.kind === 'embedded'));
}

/** The service's jobs, with the schedules the environment gives them. */
export function serviceJobs(deps: JobDeps): ScheduledJob[] {
  const { env, scheduler } = deps;
  return [
    { name: 'aggregate-refresh', cron: refreshesAggregates(env, deps.db) ? env.AGGREGATE_REFRESH_CRON : 'off', work: () => deps.aggregates.refreshAll() },
    { name: 'retention', cron: env.RETENTION_CRON, work: (tick) => deps.retention.onTick(tick, scheduler) },
    { name: ROLLUP_JOB, cron: env.REPORT_ROLLUP_CRON, work: (tick) => deps.rollups.rollUpRecent(tick) },
    { name: LATE_POINTS_JOB, cron: env.LATE_POINTS_CRON, work: (tick) => deps.latePoints.refreshPending({ now: tick }) },
    { name: 'alert-evaluation', cron: env.ALERT_EVALUATION_CRON, work: (tick) => deps.alerts.evaluate(tick) },
    { name: 'webhook-delivery', cron: env.ALERT_EVALUATION_CRON, work: (tick) => deps.alerts.deliverWebhooks(tick) },
  ];
}

/** Schedules each job that is not `off`; the scheduler's stop() ends them all. */
export function registerJobs(scheduler: Scheduler, jobs: readonly ScheduledJob[]): void {
  for (const job of jobs) if (job.cron !== 'off') scheduler.schedule(job.name, job.cron, job.work);
}
