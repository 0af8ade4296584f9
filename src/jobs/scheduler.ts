import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import cron, { type ScheduledTask } from 'node-cron';
import type { Database } from '../db/tables.js';
import { isUniqueViolation } from '../db/tenants.js';
import type { Logger } from '../log.js';

export interface JobRun {
  id: number;
  job: string;
  tick: Date;
  status: 'COMPLETED' | 'FAILED';
  rows: number;
  durationMs: number;
  error: string | null;
}

export interface RunOptions {
  /** The tenant a requested job works for; absent for a job over every tenant. */
  tenantId?: string;
  range?: { from: Date; to: Date };
}

/** What a job returns: how many rows it wrote or touched. */
export type JobWork = (tick: Date) => Promise<number | void>;

export interface Scheduler {
  /** Runs `work` every `expression` (node-cron syntax) on whichever instance claims the tick first. */
  schedule(job: string, expression: string, work: JobWork): void;
  /**
   * Claims (job, tick) and runs `work`, recording RUNNING then COMPLETED or FAILED with rows,
   * duration and error in job_runs. Returns null when another instance already claimed the tick.
   */
  run(job: string, tick: Date, work: JobWork, options?: RunOptions): Promise<JobRun | null>;
  stop(): void;
}

/**
 * node-cron jobs, once per tick across instances: the tick's row in job_runs is the lock
 * (a unique index), so it also serves as the job's log.
 */
export function createScheduler(kysely: Kysely<Database>, log: Logger, instance = `${hostname()}:${process.pid}`): Scheduler {
  const tasks: ScheduledTask[] = [];

  async function run(job: string, tick: Date, work: JobWork, options: RunOptions = {}): Promise<JobRun | null> {
    let id: number;
    try {
      ({ id } = await kysely
        .insertInto('job_runs')
        .values({ job, tick, tenant_id: options.tenantId ?? null, range_from: options.range?.from ?? null, range_to: options.range?.to ?? null, status: 'RUNNING', instance })
        .returning('id')
        .executeTakeFirstOrThrow());
    } catch (error) {
      if (isUniqueViolation(error)) return null; // another instance has this tick
      throw error;
    }
    const started = performance.now();
    let status: JobRun['status'] = 'COMPLETED';
    let rows = 0;
    let message: string | null = null;
    try {
      rows = (await work(tick)) ?? 0;
    } catch (error) {
      status = 'FAILED';
      message = (error as Error).message;
      log.error({ job, tick, err: message }, 'job failed');
    }
    const durationMs = performance.now() - started;
    await kysely
      .updateTable('job_runs')
      .set({ status, rows, finished_at: sql<Date>`now()`, duration_ms: durationMs, error: message })
      .where('id', '=', id)
      .execute();
    log.info({ job, tick, status, rows, durationMs: Math.round(durationMs) }, 'job run');
    return { id, job, tick, status, rows, durationMs, error: message };
  }

  return {
    run,
    schedule(job, expression, work) {
      const task = cron.schedule(
        expression,
        async (context) => {
          // The scheduled second, the same on every instance whose clock agrees.
          const tick = new Date(Math.floor(context.date.getTime() / 1000) * 1000);
          await run(job, tick, work).catch((error) => log.error({ job, err: (error as Error).message }, 'job could not start'));
        },
        { noOverlap: true, name: job },
      );
      tasks.push(task);
    },
    stop() {
      for (const task of tasks.splice(0)) task.stop();
    },
  };
}
