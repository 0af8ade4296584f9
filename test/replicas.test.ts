/**
 * Read replicas (src/db/replicas.ts) against a real private primary and a streaming replica
 * made with Debian's PostgreSQL tools (bench/clusters.ts): routing, read-your-writes with
 * replay paused, lag fallback, a replica stopped and started again, a promoted replica, bad
 * configuration at start, and tenant isolation on the replica path.
 *
 * Where a read ran is read from the router's per-pool counters (also on /metrics). Nothing
 * here waits for a fixed time: each step waits for the state it needs (replay caught up, a
 * replica out of or back in rotation), with generous upper bounds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { clusterToolsMissing, createPrimary, createReplica, freePort, type PgCluster } from '../bench/clusters.js';
import type { Db } from '../src/db/connect.js';
import { openReplicas, type ReplicatedReads } from '../src/db/replicas.js';
import { primaryReads } from '../src/db/tenant.js';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';
import { OPERATOR_TOKEN, startApp, TEST_REDIS_URL, type TestApp } from './harness.js';
import { MetricPoints, Metrics, RecordMetrics } from './operations.js';

const missing = clusterToolsMissing();
if (missing) console.warn(`test/replicas.test.ts is skipped: ${missing}`);

const DATABASE = 'metrograph';
/** Two days ago on the hour: raw points, read exactly. */
let HOUR = NaN;
// Read when the tests start, not when the module loads.
beforeAll(() => {
  HOUR = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 86_400_000;
});
const at = (minutes: number) => new Date(HOUR + minutes * 60_000).toISOString();
const SETTINGS = { DATABASE_READ_MAX_LAG_MS: '1000', DATABASE_READ_WAIT_MS: '200', DATABASE_READ_CHECK_MS: '100', QUERY_CACHE_SIZE: '0' };

const AGGREGATES = `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { metric buckets { start count sum max } } } }`;
type Aggregates = { metricAggregates: { series: Array<{ metric: string; buckets: Array<{ start: string; count: number; sum: number; max: number }> }> } };

async function sql<T = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.skipIf(missing !== null)('read replicas with a private primary and streaming replica', () => {
  let primary: PgCluster;
  let replica: PgCluster;
  let app: TestApp;
  let reads: ReplicatedReads;
  let a: { tenantId: string; adminKey: string };
  let b: { tenantId: string; adminKey: string };

  const onReplica = () => reads.status()[0]!.reads;
  const onPrimary = () => Object.values(reads.primaryReads()).reduce((x, y) => x + y, 0);
  /** Runs `read` and returns where its database work ran. */
  async function routed<T>(read: () => Promise<T>): Promise<{ result: T; replica: number; primary: number; reasons: Record<string, number> }> {
    const before = { replica: onReplica(), primary: onPrimary(), reasons: reads.primaryReads() };
    const result = await read();
    const reasons = Object.fromEntries(Object.entries(reads.primaryReads()).map(([k, v]) => [k, v - before.reasons[k as keyof typeof before.reasons]]).filter(([, v]) => (v as number) > 0));
    return { result, replica: onReplica() - before.replica, primary: onPrimary() - before.primary, reasons };
  }
  /** Waits until the replica has replayed everything the primary has written, and the router has seen it. */
  async function caughtUp() {
    const { lsn } = (await sql<{ lsn: string }>(primary.url(DATABASE), 'select pg_current_wal_insert_lsn()::text as lsn'))[0]!;
    await waitFor('replay to catch up', async () => (await sql<{ ok: boolean }>(replica.url(DATABASE), 'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [lsn]))[0]!.ok);
    await reads.check();
    await waitFor('the replica back in rotation', () => reads.status()[0]!.state === 'up');
  }
  const setReplay = (paused: boolean) => sql(replica.url(DATABASE), paused ? 'select pg_wal_replay_pause()' : 'select pg_wal_replay_resume()');
  const record = (key: string, metric: string, values: number[]) =>
    app.gql(RecordMetrics, { metrics: values.map((value, i) => ({ name: metric, type: 'GAUGE' as const, value, timestamp: at(i) })) }, key);
  const aggregates = async (key: string, metric: string) =>
    (await app.gql<Aggregates, unknown>(AGGREGATES, { input: { metrics: [metric], from: at(0), to: at(60), granularity: 'HOUR' } }, key)) as { data?: Aggregates; errors?: Array<{ extensions?: { code?: string } }> };

  beforeAll(async () => {
    primary = await createPrimary({ prefix: 'mg-test-primary-', settings: ['fsync=off'] });
    await sql(primary.url(), `create database ${DATABASE}`);
    replica = await createReplica(primary, { prefix: 'mg-test-replica-', settings: ['fsync=off'] });
    app = await startApp('postgres', { DATABASE_URL: primary.url(DATABASE), DATABASE_READ_URLS: replica.url(DATABASE), ...SETTINGS });
    reads = app.server.deps.db.reads as ReplicatedReads;
    a = await app.createTenant();
    b = await app.createTenant();
    // initdb, a base backup and every migration: about two minutes on a loaded 2-core machine.
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    replica?.destroy();
    primary?.destroy();
  });

  test('a query runs on the replica once it has replayed the tenant’s writes, with the exact answer; /metrics and /health say so', async () => {
    expect((await record(a.adminKey, 'rr.routing', [1, 2, 3])).data?.recordMetrics.accepted).toBe(3);
    await caughtUp();
    const { result, replica: there, primary: here } = await routed(() => aggregates(a.adminKey, 'rr.routing'));
    expect(result.data?.metricAggregates.series).toEqual([{ metric: 'rr.routing', buckets: [{ start: new Date(HOUR).toISOString(), count: 3, sum: 6, max: 3 }] }]);
    expect(there).toBeGreaterThan(0);
    expect(here).toBe(0);

    const name = `127.0.0.1:${replica.port}/${DATABASE}`;
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`metrograph_db_reads_total\\{target="${name.replace(/\./g, '\\.')}",reason="current"\\} [1-9]`));
    expect(metrics).toMatch(new RegExp(`metrograph_db_replica_lag_seconds\\{replica="${name.replace(/\./g, '\\.')}"\\} \\d`));
    expect(metrics).toContain(`metrograph_db_replica_in_rotation{replica="${name}",state="up"} 1`);
    const health = await fetch(`${app.url}/health/ready`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', replicas: { status: 'up', inRotation: 1, members: [{ name, state: 'up' }] } });
  });

  test('tenant B reads nothing of A’s through the replica, while A reads its own there', async () => {
    await record(a.adminKey, 'rr.secret', [7, 8]);
    await caughtUp();
    const own = await routed(() => app.gql(MetricPoints, { input: { metric: 'rr.secret' } }, a.adminKey));
    expect(own.result.data?.metricPoints.points.map((p) => p.value).sort()).toEqual([7, 8]);
    expect(own.replica).toBeGreaterThan(0);

    const points = await routed(() => app.gql(MetricPoints, { input: { metric: 'rr.secret' } }, b.adminKey));
    expect(points.result.data?.metricPoints.points).toEqual([]);
    expect([points.replica, points.primary]).toEqual([1, 0]);
    const list = await routed(() => app.gql(Metrics, {}, b.adminKey));
    expect(list.result.data?.metrics).toEqual([]);
    expect([list.replica, list.primary]).toEqual([1, 0]);
    const agg = await routed(() => aggregates(b.adminKey, 'rr.secret'));
    expect(agg.result.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    expect(agg.replica).toBeGreaterThan(0);
    expect(agg.primary).toBe(0);
  });

  test('read-your-writes: with the replica’s replay paused, a query right after a write sees it (from the primary)', async () => {
    await record(a.adminKey, 'rr.ryw', [10]);
    await caughtUp();
    await setReplay(true);
    try {
      expect((await record(a.adminKey, 'rr.ryw', [10, 20, 30])).data?.recordMetrics.accepted).toBe(3);
      const { result, replica: there, primary: here, reasons } = await routed(() => aggregates(a.adminKey, 'rr.ryw'));
      expect(result.data?.metricAggregates.series[0]!.buckets).toEqual([{ start: new Date(HOUR).toISOString(), count: 4, sum: 70, max: 30 }]);
      expect(there).toBe(0);
      expect(here).toBeGreaterThan(0);
      // Behind the write (waited DATABASE_READ_WAIT_MS), or already out of rotation for lag.
      expect(Object.keys(reasons).every((r) => r === 'behind' || r === 'lagging')).toBe(true);
      // The replica really does not have it yet.
      expect((await sql<{ n: number }>(replica.url(DATABASE), `select count(*)::int as n from points p join series s on s.id = p.series_id join metrics m on m.id = s.metric_id where m.name = 'rr.ryw'`))[0]!.n).toBe(1);
    } finally {
      await setReplay(false);
    }
    await caughtUp();
    const after = await routed(() => aggregates(a.adminKey, 'rr.ryw'));
    expect(after.result.data?.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 4, sum: 70 });
    expect([after.replica > 0, after.primary]).toEqual([true, 0]);
  });

  test('lag: with replay paused and the primary writing on, the replica leaves rotation past the bound and returns once it catches up', async () => {
    await setReplay(true);
    try {
      await record(a.adminKey, 'rr.lag', [1]);
      await waitFor('the replica to be out for lag', () => reads.status()[0]!.state === 'lagging');
      // Tenant B wrote nothing since: only the lag keeps it off the replica.
      const during = await routed(() => app.gql(Metrics, {}, b.adminKey));
      expect(during.result.data?.metrics).toEqual([]);
      expect([during.replica, during.primary, during.reasons]).toEqual([0, 1, { lagging: 1 }]);
      const health = await fetch(`${app.url}/health/ready`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', replicas: { status: 'down', degraded: true, inRotation: 0, members: [{ state: 'lagging' }] } });
    } finally {
      await setReplay(false);
    }
    await caughtUp();
    const back = await routed(() => app.gql(Metrics, {}, b.adminKey));
    expect([back.replica, back.primary]).toEqual([1, 0]);
  });

  test('a replica stopped: reads fall back to the primary with the right answers; started again, it is back in rotation', async () => {
    await record(a.adminKey, 'rr.stop', [4, 5]);
    await caughtUp();
    replica.stop('fast');
    try {
      const during = await routed(() => aggregates(a.adminKey, 'rr.stop'));
      expect(during.result.data?.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 2, sum: 9 });
      expect(during.replica).toBe(0);
      expect(during.primary).toBeGreaterThan(0);
      await waitFor('the replica to be marked down', () => reads.status()[0]!.state === 'down');
      const health = await fetch(`${app.url}/health/ready`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', replicas: { status: 'down', degraded: true, members: [{ state: 'down' }] } });
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(metrics).toMatch(/metrograph_db_replica_in_rotation\{replica="[^"]+",state="down"\} 0/);
    } finally {
      replica.start();
    }
    await waitFor('the replica back in rotation after its restart', () => reads.status()[0]!.state === 'up');
    await caughtUp();
    const back = await routed(() => aggregates(a.adminKey, 'rr.stop'));
    expect(back.result.data?.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 2, sum: 9 });
    expect([back.replica > 0, back.primary]).toEqual([true, 0]);
  });

  test.skipIf(!TEST_REDIS_URL)('read-your-writes across instances through Redis: a write on one instance is read on another right after', async () => {
    const shared = { DATABASE_URL: primary.url(DATABASE), DATABASE_READ_URLS: replica.url(DATABASE), ...SETTINGS, REDIS_URL: TEST_REDIS_URL! };
    const one = await startApp('postgres', shared);
    const two = await startApp('postgres', shared);
    try {
      const tenant = await one.createTenant();
      await one.gql(RecordMetrics, { metrics: [{ name: 'rr.shared', type: 'GAUGE', value: 1, timestamp: at(0) }] }, tenant.adminKey);
      await caughtUp();
      const twoReads = two.server.deps.db.reads as ReplicatedReads;
      await twoReads.check();
      await setReplay(true);
      try {
        await one.gql(RecordMetrics, { metrics: [{ name: 'rr.shared', type: 'GAUGE', value: 41, timestamp: at(1) }] }, tenant.adminKey);
        expect(await twoReads.lsnOf(tenant.tenantId)).toBe(await (one.server.deps.db.reads as ReplicatedReads).lsnOf(tenant.tenantId));
        const before = twoReads.status()[0]!.reads;
        const seen = (await two.gql<Aggregates, unknown>(AGGREGATES, { input: { metrics: ['rr.shared'], from: at(0), to: at(60), granularity: 'HOUR' } }, tenant.adminKey)) as { data?: Aggregates };
        expect(seen.data?.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 2, sum: 42 });
        expect(twoReads.status()[0]!.reads).toBe(before);
      } finally {
        await setReplay(false);
      }
    } finally {
      await one.close();
      await two.close();
    }
  });

  test('bad configuration at start: an unreachable replica and a primary named as a replica each get one log line; the service serves from the primary', async () => {
    const lines: string[] = [];
    const dead = `postgres://postgres@127.0.0.1:${await freePort()}/${DATABASE}`;
    const env = parseEnv({ NODE_ENV: 'test', OPERATOR_TOKEN, RETENTION_CRON: 'off', DATABASE_URL: primary.url(DATABASE), DATABASE_READ_URLS: `${dead},${primary.url(DATABASE)}`, ...SETTINGS, DATABASE_READ_CHECK_MS: '60000' });
    const deps = await openDeps(env, createLogger('info', (line) => lines.push(line)), { embeddedDataDir: null });
    const server = createServer(deps);
    const url = await server.start(0, '127.0.0.1');
    try {
      const messages = lines.map((line) => JSON.parse(line) as { msg: string; replica?: string });
      const about = (name: string) => messages.filter((m) => m.replica === name).map((m) => m.msg);
      expect(about(new URL(dead).host + `/${DATABASE}`)).toEqual(['database: read replica unreachable; reads go to the primary (or other replicas); retrying with backoff']);
      expect(about(`127.0.0.1:${primary.port}/${DATABASE}`)).toEqual(['database: read replica is not in recovery (promoted, or a primary named in DATABASE_READ_URLS); not used for reads']);
      const badReads = deps.db.reads as ReplicatedReads;
      const tenant = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a.adminKey}` },
        body: JSON.stringify({ query: AGGREGATES, variables: { input: { metrics: ['rr.routing'], from: at(0), to: at(60), granularity: 'HOUR' } } }),
      });
      expect(((await tenant.json()) as { data: Aggregates }).data.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 3, sum: 6 });
      expect(badReads.primaryReads().unavailable).toBeGreaterThan(0);
      expect(badReads.status().map((r) => [r.state, r.reads])).toEqual([
        ['down', 0],
        ['promoted', 0],
      ]);
      expect(await (await fetch(`${url}/health/ready`)).json()).toMatchObject({ status: 'ok', replicas: { status: 'down', degraded: true, inRotation: 0 } });
    } finally {
      await server.stop();
      await deps.close();
    }
  });

  test('a promoted replica is taken out of rotation and reads go to the primary', async () => {
    await caughtUp();
    replica.promote();
    await waitFor('the promoted replica to be taken out', () => reads.status()[0]!.state === 'promoted');
    const { result, replica: there, reasons } = await routed(() => aggregates(a.adminKey, 'rr.routing'));
    expect(result.data?.metricAggregates.series[0]!.buckets[0]).toMatchObject({ count: 3, sum: 6 });
    expect(there).toBe(0);
    expect(Object.keys(reasons)).toEqual(['unavailable']);
  });
});

test('DATABASE_READ_URLS is ignored, with a log line, on the embedded engine', async () => {
  const lines: string[] = [];
  const embedded = { kind: 'embedded', reads: primaryReads(null as never) } as Db;
  const reads = await openReplicas(embedded, { urls: ['postgres://postgres@127.0.0.1:1/none'], poolSize: 1, maxLagMs: 1000, waitMs: 0, checkMs: 100 }, createLogger('info', (line) => lines.push(line)));
  expect(reads).toBe(embedded.reads);
  expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['database: DATABASE_READ_URLS is ignored on the embedded engine; every read runs on it']);
});
