/**
 * What the OTLP and remote-write tests share: an app per engine with a tenant for a describe
 * block, the rows a tenant has stored (read through tenant_points as that tenant), and a
 * graphql-ws client that collects metricRecorded points.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { withTenant } from '../src/db/tenant.js';
import { startApp, type EngineName, type TestApp } from './harness.js';

export interface ProtocolTenant {
  tenantId: string;
  adminKey: string;
}

/**
 * Starts an app on `engine` (bodies up to 200 000 bytes) and creates a tenant before the
 * describe block's tests, hands both to `use`, and closes the app after them.
 */
export function protocolSuite(engine: EngineName, use: (started: { app: TestApp; tenant: ProtocolTenant }) => void): void {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await startApp(engine, { MAX_BODY_BYTES: '200000' });
    use({ app, tenant: await app.createTenant() });
  });
  afterAll(() => app?.close());
}

export interface StoredRow {
  metric: string;
  type: string;
  unit: string | null;
  tags: Record<string, string>;
  time: Date;
  value: number;
  weight: number | null;
  sumAdjust: number | null;
  minValue: number | null;
  maxValue: number | null;
}

/** Every row of `metric` the tenant can see, oldest first, then by value, then by tags (a total order). */
export async function storedRows(app: TestApp, tenantId: string, metric: string): Promise<StoredRow[]> {
  const { rows } = await withTenant(app.server.deps.db.kysely, tenantId, (trx) =>
    sql<StoredRow>`
      select m.name as metric, m.type, m.unit, s.tags, p.time, p.value, p.weight::float8 as "weight",
             p.sum_adjust as "sumAdjust", p.min_value as "minValue", p.max_value as "maxValue"
      from tenant_points p join series s on s.id = p.series_id join metrics m on m.id = s.metric_id
      where m.name = ${metric} order by p.time, p.value, s.tags::text`.execute(trx),
  );
  return rows.map((r) => ({ ...r, time: new Date(r.time) }));
}

/** count, sum, min and max of rows as migrations/0050_distribution_points.sql defines them. */
export function figures(rows: StoredRow[]) {
  return {
    count: rows.reduce((n, r) => n + (r.weight ?? 1), 0),
    sum: rows.reduce((s, r) => s + r.value * (r.weight ?? 1) + (r.sumAdjust ?? 0), 0),
    min: Math.min(...rows.map((r) => r.minValue ?? r.value)),
    max: Math.max(...rows.map((r) => r.maxValue ?? r.value)),
  };
}

/**
 * Subscribes to metricRecorded for `metrics` and resolves once the subscription is live: it
 * records `probe.ready` points through GraphQL until one comes back, so no point sent after
 * this resolves can be missed. `points` then fills with the points of `metrics`.
 */
export async function watchPoints(app: TestApp, token: string, metrics: string[]) {
  const client = createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
  const points: Array<{ metric: string; value: number; tags: Record<string, string> }> = [];
  let live = false;
  const waiters: Array<() => void> = [];
  const dispose = client.subscribe<{ metricRecorded: { point: { metric: string; value: number; tags: Record<string, string> } } }>(
    { query: 'subscription($f: MetricRecordedFilter!) { metricRecorded(filter: $f) { point { metric value tags } } }', variables: { f: { metrics: [...metrics, 'probe.ready'] } } },
    {
      next: (message) => {
        const point = message.data?.metricRecorded.point;
        if (point?.metric === 'probe.ready') live = true;
        else if (point) points.push(point);
        for (const wake of waiters.splice(0)) wake();
      },
      error: () => {},
      complete: () => {},
    },
  );
  for (let i = 0; !live; i++) {
    if (i === 200) throw new Error('metricRecorded never started');
    await app.gql('mutation { recordMetric(input: { name: "probe.ready", type: GAUGE, value: 1 }) { id } }', {}, token);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    points,
    /** Resolves once at least `n` points have arrived. */
    async until(n: number) {
      while (points.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close() {
      dispose();
      void client.dispose();
    },
  };
}
