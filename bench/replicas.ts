/**
 * `npm run bench:replicas`: query throughput with every read on the primary vs with one
 * streaming replica taking them, in the same run, on the same data.
 *
 * It makes a private primary and a streaming replica (bench/clusters.ts), loads one tenant's
 * points, and starts the real service twice as child processes over the same database: arm
 * `primary` (DATABASE_URL only) and arm `replica` (DATABASE_READ_URLS = the replica). Each
 * round loads one arm, then the other, with CLIENTS concurrent metricAggregates queries
 * (percentiles, grouped, uncached) for SECONDS, while a writer records a batch every 100 ms
 * through the same arm, as a dashboard does next to ingestion: the tenant that reads (its
 * reads wait for the replica to replay its writes), or, in a third arm `replicaOther` on the
 * replica service, another tenant. Figures are medians over rounds:
 *
 *   - queries/s of each arm, and the ratio;
 *   - CPU cores busy on the primary and on the replica (postmaster and backends, from /proc):
 *     what moving reads off the primary frees there;
 *   - queries per replica CPU second: what one replica core serves when the database is the
 *     limit — the figure for sizing replicas, steadier than wall-clock throughput here;
 *   - the share of the replica arm's reads that ran on the replica (its /metrics).
 *
 * Both clusters and both services share this machine's cores, so the replica arm cannot show
 * the throughput a replica on its own hardware adds; the primary's CPU per query can.
 *
 * Environment: BENCH_ROUNDS (default 3), BENCH_SECONDS per arm and round (8),
 * BENCH_CLIENTS (8), BENCH_POINTS loaded before the rounds (20 000).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createPrimary, createReplica, type PgCluster } from './clusters.js';
import { median, startServer, stopServer } from './servers.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const POINTS = Number(process.env.BENCH_POINTS ?? 20_000);
const OPERATOR_TOKEN = 'bench-replicas-operator-token-0123';
const DATABASE = 'metrograph';
const HOSTS = 20;
/** The points span the last 6 hours, ending a minute ago. */
const END = Date.now() - 60_000;
const SPAN = 6 * 3_600_000;


/** CPU seconds of a cluster: the postmaster, its reaped children (cutime, cstime) and the live ones. */
function clusterCpuSeconds(cluster: PgCluster): number {
  const pid = Number(readFileSync(join(cluster.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const stat = (p: number | string) => {
    try {
      return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    } catch {
      return undefined;
    }
  };
  const own = stat(pid)!;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = stat(entry);
    if (fields && Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

async function gql<T>(url: string, query: string, variables: unknown, token: string): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (!body.data || body.errors) throw new Error(`GraphQL failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const RECORD = 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }';
const QUERY = 'query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { tags buckets { count avg p95 } } } }';
/** A dashboard panel: one hour by minute, per host, with p95; each query a different hour of the six, so no cache could help. */
const queryInput = (i: number) => {
  const from = END - SPAN + (i % 6) * 3_600_000;
  return { metrics: ['bench.latency'], from: new Date(from).toISOString(), to: new Date(from + 3_600_000).toISOString(), granularity: 'MINUTE', groupBy: ['host'] };
};

const point = (i: number, time: number) => ({ name: 'bench.latency', type: 'HISTOGRAM', unit: 'ms', value: 5 + ((i * 7919) % 500) / 10, tags: { host: `h${i % HOSTS}` }, timestamp: new Date(time).toISOString() });

async function runArm(url: string, key: string, writerKey: string): Promise<{ queries: number; seconds: number }> {
  const until = Date.now() + SECONDS * 1000;
  let queries = 0;
  let writing = true;
  const writer = (async () => {
    let i = 0;
    while (writing) {
      await gql(url, RECORD, { m: Array.from({ length: 50 }, (_, j) => point(i + j, Date.now() - 1000)) }, writerKey);
      i += 50;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = c; Date.now() < until; i += CLIENTS) {
        await gql(url, QUERY, { input: queryInput(i) }, key);
        queries++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  writing = false;
  await writer;
  return { queries, seconds };
}

async function readsOnReplica(url: string): Promise<{ replica: number; primary: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let replica = 0;
  let primary = 0;
  for (const match of text.matchAll(/^metrograph_db_reads_total\{target="([^"]+)",reason="[^"]+"\} (\d+)/gm)) {
    if (match[1] === 'primary') primary += Number(match[2]);
    else replica += Number(match[2]);
  }
  return { replica, primary };
}

const primary = await createPrimary({ prefix: 'mg-bench-primary-' });
let replica: PgCluster | undefined;
const services: Array<{ child: import('node:child_process').ChildProcess }> = [];
try {
  const admin = new pg.Client({ connectionString: primary.url() });
  await admin.connect();
  await admin.query(`create database ${DATABASE}`);
  await admin.end();
  replica = await createReplica(primary, { prefix: 'mg-bench-replica-' });
  const common = { DATABASE_URL: primary.url(DATABASE), OPERATOR_TOKEN, QUERY_CACHE_SIZE: '0', LOG_LEVEL: 'warn', RATE_LIMIT_QUERIES_PER_SECOND: '1000000', RATE_LIMIT_WRITES_PER_SECOND: '1000000' };
  const onPrimary = await startServer(common);
  services.push(onPrimary);
  const withReplica = await startServer({ ...common, DATABASE_READ_URLS: replica.url(DATABASE) });
  services.push(withReplica);

  const { createTenant } = await gql<{ createTenant: { adminKey: { key: string } } }>(onPrimary.url, 'mutation { createTenant(input: { name: "bench" }) { adminKey { key } } }', {}, OPERATOR_TOKEN);
  const key = createTenant.adminKey.key;
  const other = (await gql<{ createTenant: { adminKey: { key: string } } }>(onPrimary.url, 'mutation { createTenant(input: { name: "bench-other" }) { adminKey { key } } }', {}, OPERATOR_TOKEN)).createTenant.adminKey.key;
  for (let i = 0; i < POINTS; i += 500) {
    const batch = Array.from({ length: Math.min(500, POINTS - i) }, (_, j) => point(i + j, END - SPAN + Math.floor(((i + j) * SPAN) / POINTS)));
    await gql(onPrimary.url, RECORD, { m: batch }, key);
  }
  console.log(`bench:replicas: ${POINTS} points over ${HOSTS} series loaded; ${ROUNDS} rounds × ${SECONDS} s per arm, ${CLIENTS} query clients and one writer (50 points / 100 ms)`);

  // `replica` reads the tenant that is writing (read-your-writes waits for replay); `replicaOther` has another tenant write.
  const arms = { primary: { service: onPrimary, writer: key }, replica: { service: withReplica, writer: key }, replicaOther: { service: withReplica, writer: other } } as const;
  const results: Record<keyof typeof arms, { qps: number[]; primaryCores: number[]; replicaCores: number[]; perReplicaCpuSecond: number[] }> = {
    primary: { qps: [], primaryCores: [], replicaCores: [], perReplicaCpuSecond: [] },
    replica: { qps: [], primaryCores: [], replicaCores: [], perReplicaCpuSecond: [] },
    replicaOther: { qps: [], primaryCores: [], replicaCores: [], perReplicaCpuSecond: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = ['primary', 'replica', 'replicaOther'] as const;
    for (const arm of round % 2 === 0 ? order : ([...order].reverse() as Array<(typeof order)[number]>)) {
      const cpu = { primary: clusterCpuSeconds(primary), replica: clusterCpuSeconds(replica) };
      const { queries, seconds } = await runArm(arms[arm].service.url, key, arms[arm].writer);
      const used = { primary: clusterCpuSeconds(primary) - cpu.primary, replica: clusterCpuSeconds(replica) - cpu.replica };
      results[arm].qps.push(queries / seconds);
      results[arm].primaryCores.push(used.primary / seconds);
      results[arm].replicaCores.push(used.replica / seconds);
      results[arm].perReplicaCpuSecond.push(queries / Math.max(0.01, used.replica));
      console.log(`  round ${round + 1} ${arm.padEnd(12)}: ${queries} queries in ${seconds.toFixed(1)} s; CPU s primary ${used.primary.toFixed(2)}, replica ${used.replica.toFixed(2)}`);
    }
  }
  const routed = await readsOnReplica(withReplica.url);
  const p = results.primary;
  const r = results.replica;
  const o = results.replicaOther;
  const f = (x: number) => x.toFixed(2);
  const row = (name: string, values: number[][], goal: string) => console.log(`${name.padEnd(32)} ${values.map((v) => (v.length ? f(median(v)) : '—').padStart(13)).join('  ')}   ${goal}`);
  console.log('\nmedians over rounds (PostgreSQL 15 without TimescaleDB, so queries read raw points; private clusters and both services on this machine)');
  console.log(`${'figure'.padEnd(32)} ${['primary only', '1 replica', '1 replica*'].map((h) => h.padStart(13)).join('  ')}   goal`);
  row('queries/s', [p.qps, r.qps, o.qps], `≥ 0.9× primary only on shared cores (${f(median(r.qps) / median(p.qps))}×, * ${f(median(o.qps) / median(p.qps))}×); ≈ 2× with the replica on its own hardware`);
  row('primary CPU cores busy', [p.primaryCores, r.primaryCores, o.primaryCores], "the queries' share moved off the primary (what is left: the writer)");
  row('replica CPU cores busy', [p.replicaCores, r.replicaCores, o.replicaCores], '(primary only: WAL replay alone)');
  row('queries per replica CPU second', [[], r.perReplicaCpuSecond, o.perReplicaCpuSecond], 'queries/s one replica core serves when the database is the limit');
  console.log('* another tenant writes: no read waits for a replay (in the other arms the tenant that reads also writes, every 100 ms)');
  console.log(`reads of the replica arm on the replica: ${routed.replica} of ${routed.replica + routed.primary} (${((100 * routed.replica) / Math.max(1, routed.replica + routed.primary)).toFixed(1)} %), with its tenant writing every 100 ms`);
} finally {
  for (const service of services) await stopServer(service.child).catch(() => {});
  replica?.destroy();
  primary.destroy();
}
