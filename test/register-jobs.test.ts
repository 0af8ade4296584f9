/**
 * The job registry (src/jobs/register-jobs.ts): which jobs the service schedules, on which
 * expressions, and that each goes through the scheduler (locked per tick: test/jobs.test.ts)
 * — the aggregate refresh included, which used to call node-cron directly.
 */
import { describe, expect, test } from 'vitest';
import { parseEnv } from '../src/env.js';
import { refreshesAggregates, registerJobs, serviceJobs, type JobDeps } from '../src/jobs/register-jobs.js';
import type { Scheduler } from '../src/jobs/scheduler.js';

function recordingScheduler() {
  const scheduled: Array<[string, string]> = [];
  const ran: string[] = [];
  const scheduler: Scheduler = {
    schedule: (job, expression) => void scheduled.push([job, expression]),
    run: async (job, tick, work) => {
      ran.push(job);
      await work(tick);
      return null;
    },
    stop: () => {},
  };
  return { scheduler, scheduled, ran };
}

function deps(env: Record<string, string>, db: JobDeps['db'], scheduler: Scheduler, calls: string[]): JobDeps {
  const note = (name: string) => async () => void calls.push(name);
  return {
    env: parseEnv({ NODE_ENV: 'test', ...env }),
    db,
    scheduler,
    aggregates: { refreshAll: note('refreshAll'), afterWrite: async () => {} },
    retention: { onTick: async () => (calls.push('retention'), 0) } as unknown as JobDeps['retention'],
    rollups: { rollUpRecent: async () => (calls.push('rollUpRecent'), 0), backfill: async () => null },
    latePoints: { refreshPending: async () => (calls.push('refreshPending'), 0) } as unknown as JobDeps['latePoints'],
    alerts: { evaluate: async () => (calls.push('evaluate'), 0), deliverWebhooks: async () => (calls.push('deliverWebhooks'), 0) } as unknown as JobDeps['alerts'],
  };
}

describe('the job registry', () => {
  test.each([
    // [AGGREGATE_REFRESH, engine, TimescaleDB, refreshes itself]
    ['auto', 'embedded', true, true],
    ['auto', 'postgres', true, false],
    ['on', 'postgres', true, true],
    ['off', 'embedded', true, false],
    ['on', 'postgres', false, false],
  ] as const)('AGGREGATE_REFRESH=%s on %s (timescale %s): refreshes itself %s', (mode, kind, timescale, expected) => {
    expect(refreshesAggregates(parseEnv({ NODE_ENV: 'test', AGGREGATE_REFRESH: mode }), { kind, timescale })).toBe(expected);
  });

  test('every job is scheduled through the scheduler with its expression; the aggregate refresh too', async () => {
    const { scheduler, scheduled } = recordingScheduler();
    const calls: string[] = [];
    const d = deps({ AGGREGATE_REFRESH: 'auto', AGGREGATE_REFRESH_CRON: '*/30 * * * * *' }, { kind: 'embedded', timescale: true }, scheduler, calls);
    const jobs = serviceJobs(d);
    registerJobs(scheduler, jobs);
    expect(scheduled).toEqual([
      ['aggregate-refresh', '*/30 * * * * *'],
      ['retention', d.env.RETENTION_CRON],
      ['reports.rollup', d.env.REPORT_ROLLUP_CRON],
      ['late-points', d.env.LATE_POINTS_CRON],
      ['alert-evaluation', d.env.ALERT_EVALUATION_CRON],
      ['webhook-delivery', d.env.ALERT_EVALUATION_CRON],
    ]);
    for (const job of jobs) await job.work(new Date('2026-12-02T00:00:00Z'));
    expect(calls).toEqual(['refreshAll', 'retention', 'rollUpRecent', 'refreshPending', 'evaluate', 'deliverWebhooks']);
  });

  test('a job set to off is not scheduled; PostgreSQL with its own policies gets no refresh job', () => {
    const { scheduler, scheduled } = recordingScheduler();
    registerJobs(scheduler, serviceJobs(deps({ RETENTION_CRON: 'off', ALERT_EVALUATION_CRON: 'off' }, { kind: 'postgres', timescale: true }, scheduler, [])));
    expect(scheduled.map(([job]) => job)).toEqual(['reports.rollup', 'late-points']);
  });
});
