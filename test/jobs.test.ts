import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../src/log.js';
import { createScheduler } from '../src/jobs/scheduler.js';
import { ENGINES, startApp, type TestApp } from './harness.js';

describe.each(ENGINES)('scheduled jobs on %s', (engine) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(engine);
  });
  afterAll(() => app?.close());

  test('two instances claiming the same tick run the job once, and the run is logged', async () => {
    const kysely = app.server.deps.db.kysely;
    const log = createLogger('silent');
    const [a, b] = [createScheduler(kysely, log, 'instance-a'), createScheduler(kysely, log, 'instance-b')];
    const tick = new Date('2026-11-24T10:00:00Z');
    let runs = 0;
    const work = async () => {
      runs++;
      return 42;
    };
    const [first, second] = await Promise.all([a.run('test.once', tick, work), b.run('test.once', tick, work)]);
    expect(runs).toBe(1);
    expect([first, second].filter((r) => r === null)).toHaveLength(1);
    const run = (first ?? second)!;
    expect(run).toMatchObject({ job: 'test.once', status: 'COMPLETED', rows: 42, error: null });
    const { rows } = await sql<{ status: string; rows: number; instance: string }>`select status, rows, instance from job_runs where job = 'test.once'`.execute(kysely);
    expect(rows).toEqual([{ status: 'COMPLETED', rows: 42, instance: first ? 'instance-a' : 'instance-b' }]);
  });

  test('a failing job is logged FAILED with its error, and the next tick runs again', async () => {
    const kysely = app.server.deps.db.kysely;
    const scheduler = createScheduler(kysely, createLogger('silent'));
    const failed = await scheduler.run('test.fail', new Date('2026-11-24T10:00:00Z'), async () => {
      throw new Error('boom');
    });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'boom', rows: 0 });
    const next = await scheduler.run('test.fail', new Date('2026-11-24T10:01:00Z'), async () => 1);
    expect(next).toMatchObject({ status: 'COMPLETED', rows: 1 });
  });
});
