/**
 * A tenant's reads of raw points cost what its own points cost: no statement they run reads
 * another tenant's points and throws them away. The tenant views filter by tenant_id, for
 * which `points` has no index (only (series_id, time)), so a statement that does not reach the
 * points by series scans everyone's points in the range and keeps its own. That is correct
 * (isolation.test.ts) but slow in proportion to all tenants' data: one tenant's `metricPoints`
 * page took 0.7 s on the embedded engine beside 36 000 points of other test suites.
 *
 * Tenant C stores 3 000 points of each metric in the same minute as tenant B's three. Each read
 * runs as B; every statement it sent is then run again under EXPLAIN ANALYZE (in a transaction
 * rolled back), and the rows of `points` its scans read and did not return are counted.
 * Engines of their own, so no other suite's points lie in the chunks read.
 */
import { CompiledQuery, sql, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withTenant, type TenantTx } from '../src/db/tenant.js';
import { rolledPeriods, rollUp } from '../src/definitions/roll-up-reports.js';
import { latestMetricValue, readPoints } from '../src/query/metric-catalog.js';
import { ENGINES, startApp, type TestApp } from './harness.js';
import { RecordMetrics } from './operations.js';

/** A node of EXPLAIN (FORMAT JSON)'s plan, with the fields pointRowsThrownAway reads. */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows of `points` (or of a chunk of it) that a plan's scans read and did not return; EXPLAIN gives them per loop. */
function pointRowsThrownAway(node: PlanNode): number {
  const relation = node['Relation Name'] ?? '';
  const isPoints = relation === 'points' || /^_hyper_\d+_\d+_chunk$/.test(relation);
  const own = isPoints ? ((node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * (node['Actual Loops'] ?? 1) : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + pointRowsThrownAway(child), 0);
}

const MINUTE = { from: new Date('2026-02-01T00:00:00.000Z'), to: new Date('2026-02-01T00:01:00.000Z') };
const at = (second: number) => new Date(MINUTE.from.getTime() + second * 1000).toISOString();

describe.each(ENGINES)('reads of raw points on %s', (engine) => {
  let app: TestApp;
  const b = { tenantId: '', adminKey: '' };

  beforeAll(async () => {
    app = await startApp(engine, {}, { ownEngine: true });
    Object.assign(b, await app.createTenant('tenant-b'));
    const c = await app.createTenant('tenant-c');
    for (const [name, type] of [
      ['cost.gauge', 'GAUGE'],
      ['cost.counter', 'COUNTER'],
    ] as const) {
      for (let batch = 0; batch < 6; batch++) {
        const metrics = Array.from({ length: 500 }, (_, i) => ({ name, type, value: 1, tags: { host: `c-${i % 50}` }, timestamp: at((batch * 500 + i) % 60) }));
        expect((await app.gql(RecordMetrics, { metrics }, c.adminKey)).data?.recordMetrics.accepted).toBe(500);
      }
      const mine = [1, 2, 3].map((second) => ({ name, type, value: second, tags: { host: 'b-1' }, timestamp: at(second) }));
      expect((await app.gql(RecordMetrics, { metrics: mine }, b.adminKey)).data?.recordMetrics.accepted).toBe(3);
    }
    await app.takeInLatePoints();
    await app.server.deps.aggregates.refreshAll();
  });
  afterAll(() => app?.close());

  /**
   * Runs `read` as B, then each statement it sent again under EXPLAIN ANALYZE in a transaction
   * that is rolled back; returns what `read` returned and, per statement, the rows of points thrown away.
   */
  async function measured<T>(read: (trx: TenantTx) => Promise<T>): Promise<{ result: T; thrownAway: Record<string, number> }> {
    const db = app.server.deps.db.kysely;
    const sent: CompiledQuery[] = [];
    const result = await withTenant(db, b.tenantId, (trx) => {
      const capture: KyselyPlugin = {
        transformQuery: ({ node, queryId }) => {
          sent.push(trx.getExecutor().compileQuery(node, queryId));
          return node;
        },
        transformResult: async ({ result }) => result,
      };
      return read(trx.withPlugin(capture) as TenantTx);
    });
    const thrownAway: Record<string, number> = {};
    const rollback = new Error('rolled back on purpose');
    await withTenant(db, b.tenantId, async (trx) => {
      for (const query of sent) {
        const explainable = /^\s*(select|with|insert|update|delete|create temporary table)/i.test(query.sql);
        if (!explainable) {
          await trx.executeQuery(query);
          continue;
        }
        const { rows } = await trx.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(CompiledQuery.raw(`explain (analyze, format json) ${query.sql}`, [...query.parameters]));
        const key = query.sql.replace(/\s+/g, ' ').slice(0, 160);
        thrownAway[key] = (thrownAway[key] ?? 0) + pointRowsThrownAway(rows[0]!['QUERY PLAN'][0].Plan);
      }
      throw rollback;
    }).catch((error) => {
      if (error !== rollback) throw error;
    });
    return { result, thrownAway };
  }

  const none = (thrownAway: Record<string, number>) => Object.fromEntries(Object.keys(thrownAway).map((key) => [key, 0]));

  test('a page of metricPoints reads B’s points only', async () => {
    const { result, thrownAway } = await measured((trx) => readPoints(trx, 'cost.gauge', { ...MINUTE, after: null, limit: 100 }));
    expect(result.map((p) => p.value)).toEqual([3, 2, 1]);
    expect(Object.keys(thrownAway)).not.toHaveLength(0);
    expect(thrownAway).toEqual(none(thrownAway));
  });

  test('latestValue of a gauge and of a counter read B’s points only', async () => {
    const timescale = app.server.deps.db.timescale;
    const { result, thrownAway } = await measured(async (trx) => {
      const metrics = await trx.selectFrom('metrics').select(['id', 'name', 'type']).orderBy('name').execute();
      return Promise.all(metrics.map(async (metric) => [metric.name, await latestMetricValue(trx, metric, {}, { timescale })] as const));
    });
    expect(Object.fromEntries(result)).toEqual({
      'cost.counter': { value: 6, timestamp: new Date(at(3)) },
      'cost.gauge': { value: 3, timestamp: new Date(at(3)) },
    });
    expect(thrownAway).toEqual(none(thrownAway));
  });

  test('the report rollup of B’s days reads B’s points only', async () => {
    const timescale = app.server.deps.db.timescale;
    const period = rolledPeriods(timescale)[0]!; // DAY without TimescaleDB (from raw points), else WEEK (from the 1d aggregate)
    const { result, thrownAway } = await measured((trx) => rollUp(trx, period, new Date('2026-01-26T00:00:00Z'), new Date('2026-03-02T00:00:00Z'), { timescale, now: new Date('2026-03-03T00:00:00Z') }));
    expect(result).toBeGreaterThan(0);
    expect(thrownAway).toEqual(none(thrownAway));
    const rolled = await withTenant(app.server.deps.db.kysely, b.tenantId, (trx) =>
      sql<{ n: number; s: number }>`select sum(n)::float8 as n, sum(s)::float8 as s from report_rollup_stats where period = ${period}`.execute(trx),
    );
    expect(rolled.rows).toEqual([{ n: 6, s: 12 }]);
  });
});
