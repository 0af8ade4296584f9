/**
 * `npm run faults`: the service under a steady write load while its dependencies fail, for
 * real. It starts its own PostgreSQL cluster (initdb) and its own Redis, on free ports — never
 * the shared ones — and the service as a child process on them, then:
 *
 *   1. PostgreSQL restart: stopped (fast) for FAULT_PG_SECONDS (default 5), started again.
 *      Writes during the outage must get SERVICE_UNAVAILABLE with HTTP 503 and Retry-After;
 *      the service must be ready again within 30 s of PostgreSQL's return, without a crash.
 *   2. Redis stop: stopped for FAULT_REDIS_SECONDS (default 30), started again. Writes go on.
 *   3. SIGKILL of the service mid-load, then a restart.
 *
 * Writers send batches of points with client ids and retry a failed batch with the same ids
 * (as a real client does after Retry-After). After each fault it counts, from the database:
 * sent, acknowledged, stored, lost (acknowledged but not stored: must be 0) and duplicated
 * (stored twice: must be 0). Exits 1 if any is lost or duplicated, or a fault's check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';
import { createPrimary, freePort, type PgCluster } from './clusters.js';
import { rssBytes, startServer, stopServer } from './servers.js';

// Free ports: the shared 5432 and 6379 are never used.
const PG_PORT = Number(process.env.FAULT_PG_PORT ?? (await freePort()));
const REDIS_PORT = Number(process.env.FAULT_REDIS_PORT ?? (await freePort()));
const PG_SECONDS = Number(process.env.FAULT_PG_SECONDS ?? 5);
const REDIS_SECONDS = Number(process.env.FAULT_REDIS_SECONDS ?? 30);
const WRITERS = 4;
const BATCH = 50;
const OPERATOR_TOKEN = 'faults-operator-token-0123456789';
const DATABASE_URL = `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`;
const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The private PostgreSQL (bench/clusters.ts) and Redis

let postgres: PgCluster | undefined;

let redis: ChildProcess | undefined;
async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await sleep(300);
}
async function stopRedis() {
  if (!redis || redis.exitCode !== null) return;
  const exited = new Promise((resolve) => redis!.once('exit', resolve));
  redis.kill('SIGTERM');
  await exited;
}

// ---------------------------------------------------------------------------------------------
// Load

interface Tally {
  sent: Set<string>;
  acknowledged: Set<string>;
  outageAnswers: Map<string, number>;
}

let baseUrl = '';
let apiKey = '';
let running = false;

async function writer(tally: Tally) {
  let pending: Array<Record<string, unknown>> | null = null;
  while (running) {
    const batch: Array<Record<string, unknown>> =
      pending ?? Array.from({ length: BATCH }, (_, i) => ({ id: randomUUID(), name: 'faults.load', type: 'COUNTER', value: 1, tags: { writer: String(i % 4) } }));
    for (const item of batch) tally.sent.add(item.id as string);
    try {
      const response = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ query: 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted ids failed { index code } } }', variables: { m: batch } }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { data?: { recordMetrics: { accepted: number; ids: string[]; failed: unknown[] } }; errors?: Array<{ extensions?: { code?: string } }> };
      if (body.data && body.data.recordMetrics.failed.length === 0) {
        for (const id of body.data.recordMetrics.ids) tally.acknowledged.add(id);
        pending = null;
      } else {
        const code = body.errors?.[0]?.extensions?.code ?? 'PARTIAL';
        const key = `${response.status} ${code} retry-after=${response.headers.get('retry-after') ?? '-'}`;
        tally.outageAnswers.set(key, (tally.outageAnswers.get(key) ?? 0) + 1);
        pending = batch; // the same ids again: stored once whatever happens
        await sleep(Number(response.headers.get('retry-after') ?? 1) * 200);
      }
    } catch (error) {
      const key = `no answer (${(error as Error).name})`;
      tally.outageAnswers.set(key, (tally.outageAnswers.get(key) ?? 0) + 1);
      pending = batch;
      await sleep(200);
    }
  }
}

async function underLoad(fault: (tally: Tally) => Promise<Record<string, unknown>>) {
  const tally: Tally = { sent: new Set(), acknowledged: new Set(), outageAnswers: new Map() };
  running = true;
  const writers = Array.from({ length: WRITERS }, () => writer(tally));
  await sleep(2_000);
  const notes = await fault(tally);
  await sleep(2_000);
  running = false;
  await Promise.all(writers);
  console.log(`faults:   load stopped: ${tally.sent.size} sent, ${tally.acknowledged.size} acknowledged`);
  return { tally, notes };
}

async function waitReady(timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      if ((await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(1_000) })).status === 200) return Date.now() - started;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  return Infinity;
}

async function count(tally: Tally) {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const acknowledged = [...tally.acknowledged];
    const stored = await client.query<{ n: number }>('select count(distinct id)::int as n from points where id = any($1::uuid[])', [acknowledged]);
    const duplicated = await client.query<{ n: number }>('select count(*)::int as n from (select id from points group by id having count(*) > 1) d');
    return { sent: tally.sent.size, acknowledged: acknowledged.length, stored: stored.rows[0]!.n, lost: acknowledged.length - stored.rows[0]!.n, duplicated: duplicated.rows[0]!.n };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------

let service: { child: ChildProcess; url: string } | undefined;
const start = async () => {
  service = await startServer({ DATABASE_URL, REDIS_URL, OPERATOR_TOKEN, LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '8' });
  baseUrl = service.url;
};

const results: Array<{ fault: string; ok: boolean; counts: Awaited<ReturnType<typeof count>>; notes: Record<string, unknown> }> = [];
let failed = false;
const started = Date.now();
try {
  for (const port of [PG_PORT, REDIS_PORT]) {
    const inUse = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (inUse) throw new Error(`port ${port} is in use: the harness needs it for its own server (FAULT_PG_PORT / FAULT_REDIS_PORT)`);
  }
  postgres = await createPrimary({ port: PG_PORT, prefix: 'mg-faults-pg-' });
  await startRedis();
  await start();
  const created = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR_TOKEN}` }, body: JSON.stringify({ query: 'mutation { createTenant(input: { name: "faults" }) { adminKey { key } } }' }) });
  apiKey = ((await created.json()) as { data: { createTenant: { adminKey: { key: string } } } }).data.createTenant.adminKey.key;

  // 1. PostgreSQL restarts under load.
  console.log(`faults: PostgreSQL stopped for ${PG_SECONDS} s under load…`);
  {
    const { tally, notes } = await underLoad(async () => {
      postgres!.stop();
      await sleep(PG_SECONDS * 1_000);
      postgres!.start();
      const readyMs = await waitReady(30_000);
      return { readyAfterPostgresReturnedMs: readyMs, serviceAlive: service!.child.exitCode === null };
    });
    const counts = await count(tally);
    const answers = Object.fromEntries(tally.outageAnswers);
    const retryable = Object.keys(answers).some((k) => k.startsWith('503 SERVICE_UNAVAILABLE retry-after=1'));
    const ok = counts.lost === 0 && counts.duplicated === 0 && (notes.readyAfterPostgresReturnedMs as number) <= 30_000 && notes.serviceAlive === true && retryable;
    results.push({ fault: `PostgreSQL stopped ${PG_SECONDS} s`, ok, counts, notes: { ...notes, answersDuringOutage: answers } });
  }

  // 2. Redis stops for a while under load.
  console.log(`faults: Redis stopped for ${REDIS_SECONDS} s under load…`);
  {
    const rss: number[] = [];
    const { tally, notes } = await underLoad(async () => {
      await stopRedis();
      const until = Date.now() + REDIS_SECONDS * 1_000;
      while (Date.now() < until) {
        rss.push(rssBytes(service!.child.pid));
        await sleep(1_000);
      }
      await startRedis();
      await sleep(2_000); // reconnecting must not hurt either
      return { serviceAlive: service!.child.exitCode === null && service!.child.signalCode === null };
    });
    const counts = await count(tally);
    const failures = [...tally.outageAnswers.values()].reduce((a, b) => a + b, 0);
    const ok = counts.lost === 0 && counts.duplicated === 0 && failures === 0 && notes.serviceAlive === true;
    results.push({ fault: `Redis stopped ${REDIS_SECONDS} s`, ok, counts, notes: { ...notes, failedRequests: failures, rssMB: `${Math.round(Math.min(...rss) / 1048576)}–${Math.round(Math.max(...rss) / 1048576)}` } });
  }

  // 3. SIGKILL during ingestion, then a restart.
  console.log('faults: the service SIGKILLed under load, then restarted…');
  {
    const { tally, notes } = await underLoad(async () => {
      const killed = service!.child;
      if (killed.exitCode !== null || killed.signalCode !== null) throw new Error(`the service had already died (${killed.exitCode ?? killed.signalCode}) before the kill`);
      const exited = new Promise((resolve) => killed.once('exit', resolve));
      killed.kill('SIGKILL');
      await exited;
      console.log('faults:   killed; restarting');
      await sleep(500);
      await start();
      console.log(`faults:   restarted at ${baseUrl}`);
      return { restarted: true };
    });
    const counts = await count(tally);
    results.push({ fault: 'service SIGKILLed and restarted', ok: counts.lost === 0 && counts.duplicated === 0, counts, notes: { ...notes, answersWhileDown: Object.fromEntries(tally.outageAnswers) } });
  }
} catch (error) {
  failed = true;
  console.error('faults: the harness itself failed:', error);
} finally {
  if (service) await stopServer(service.child).catch(() => {});
  await stopRedis();
  postgres?.destroy();
}

console.log(`\nfaults (${Math.round((Date.now() - started) / 1000)} s): ${WRITERS} writers, batches of ${BATCH} points with client ids, failed batches retried with the same ids`);
console.log('fault                               sent   acknowledged  stored  lost  duplicated  result  notes');
for (const r of results) {
  const c = r.counts;
  console.log(`${r.fault.padEnd(34)} ${String(c.sent).padStart(6)}  ${String(c.acknowledged).padStart(12)}  ${String(c.stored).padStart(6)}  ${String(c.lost).padStart(4)}  ${String(c.duplicated).padStart(10)}  ${r.ok ? 'PASS' : 'FAIL'}    ${JSON.stringify(r.notes)}`);
  if (!r.ok) failed = true;
}
if (results.length < 3) failed = true;
process.exit(failed ? 1 : 0);
