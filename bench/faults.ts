/**
 * `npm run faults`: the service under a steady write load while its dependencies fail, for
 * real. It starts its own PostgreSQL cluster (initdb) and its own Redis, on free ports — never
 * the shared ones — and the service as a child process on them, then:
 *
 *   1. PostgreSQL restart: stopped (fast) for FAULT_PG_SECONDS (default 5), started again.
 *      Writes during the outage must get SERVICE_UNAVAILABLE with HTTP 503 and Retry-After;
 *      the service must be ready again within 30 s of PostgreSQL's return, without a crash.
 *      LIVE_SUBSCRIBERS WebSocket clients (default 3) subscribed to the load's metric across
 *      it: none may be closed (4403 above all: clients treat it as final); each must receive
 *      points committed after PostgreSQL's return; none may receive a point twice; and every
 *      point acknowledged while they were subscribed must reach each of them or be counted in
 *      `dropped` (README: a slow reader loses only the oldest beyond LIVE_BUFFER_POINTS).
 *   2. Redis stop: stopped for FAULT_REDIS_SECONDS (default 30), started again. Writes go on.
 *   3. SIGKILL of the service mid-load, then a restart.
 *
 * Writers send batches of points with client ids and retry a failed batch with the same ids
 * (as a real client does after Retry-After). After each fault it counts, from the database:
 * sent, acknowledged, stored, lost (acknowledged but not stored: must be 0) and duplicated
 * (stored twice: must be 0). Exits 1 if any is lost or duplicated, or a fault's check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
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
const LIVE_SUBSCRIBERS = Number(process.env.FAULT_LIVE_SUBSCRIBERS ?? 3);
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
  /** When each acknowledged id was acknowledged (ms since the epoch). */
  acknowledgedAt: Map<string, number>;
}

/** A metricRecorded subscriber on a raw graphql-transport-ws socket: what it got, and how it closed. */
interface LiveSubscriber {
  ids: string[];
  /** When each point arrived (ms since the epoch). */
  at: number[];
  dropped: number;
  closed: number | null;
  close(): void;
}

async function subscribeLive(metric: string): Promise<LiveSubscriber> {
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const sub: LiveSubscriber = { ids: [], at: [], dropped: 0, closed: null, close: () => socket.close() };
  let acked = false;
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; payload?: { data?: { metricRecorded?: { dropped: number; point: { id: string } } } } };
    if (message.type === 'connection_ack') acked = true;
    const recorded = message.type === 'next' ? message.payload?.data?.metricRecorded : undefined;
    if (recorded) {
      sub.ids.push(recorded.point.id);
      sub.at.push(Date.now());
      sub.dropped += recorded.dropped;
    }
  });
  socket.on('close', (code) => (sub.closed = code));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey}` } }));
  for (const end = Date.now() + 10_000; !acked; await sleep(20)) if (Date.now() > end || sub.closed !== null) throw new Error(`live subscriber not acknowledged (closed ${sub.closed})`);
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { metricRecorded(filter: { metrics: ["${metric}"] }) { dropped point { id } } }` } }));
  return sub;
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
        for (const id of body.data.recordMetrics.ids) {
          tally.acknowledged.add(id);
          tally.acknowledgedAt.set(id, Date.now());
        }
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
  const tally: Tally = { sent: new Set(), acknowledged: new Set(), outageAnswers: new Map(), acknowledgedAt: new Map() };
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

  // 1. PostgreSQL restarts under load, with live subscribers of the load's metric.
  console.log(`faults: PostgreSQL stopped for ${PG_SECONDS} s under load, ${LIVE_SUBSCRIBERS} live subscribers…`);
  {
    // The metric exists before anyone subscribes (a subscription to an unknown name waits for it).
    await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ query: 'mutation { recordMetric(input: { name: "faults.load", type: COUNTER, value: 1, tags: { writer: "setup" } }) { id } }' }) });
    const subscribers = await Promise.all(Array.from({ length: LIVE_SUBSCRIBERS }, () => subscribeLive('faults.load')));
    let subscribedAt = 0;
    let returnedAt = 0;
    const { tally, notes } = await underLoad(async () => {
      // In place once each has received a point of the load (written after it subscribed).
      for (const end = Date.now() + 30_000; subscribers.some((s) => s.ids.length === 0); await sleep(50)) if (Date.now() > end) throw new Error('live subscribers got no point before the outage');
      subscribedAt = Date.now();
      postgres!.stop();
      await sleep(PG_SECONDS * 1_000);
      postgres!.start();
      returnedAt = Date.now();
      const readyMs = await waitReady(30_000);
      // Delivery resumes: each subscriber gets a point acknowledged after PostgreSQL came back.
      for (const end = Date.now() + 30_000; subscribers.some((s) => !s.at.some((t) => t > returnedAt)) && Date.now() < end; ) await sleep(100);
      return { readyAfterPostgresReturnedMs: readyMs, serviceAlive: service!.child.exitCode === null };
    });
    await sleep(1_000); // the last acknowledged points reach the subscribers
    for (const s of subscribers) s.close();
    const counts = await count(tally);
    const answers = Object.fromEntries(tally.outageAnswers);
    const retryable = Object.keys(answers).some((k) => k.startsWith('503 SERVICE_UNAVAILABLE retry-after=1'));
    // Points acknowledged once every subscriber was in place: each must have reached each subscriber (or be counted dropped).
    const expected = [...tally.acknowledgedAt].filter(([, t]) => t > subscribedAt).map(([id]) => id);
    const live = subscribers.map((s) => {
      const got = new Set(s.ids);
      return {
        closedWith: s.closed === 1005 ? null : s.closed, // 1005: closed by us, with no code
        received: s.ids.length,
        duplicated: s.ids.length - got.size,
        missed: Math.max(0, expected.filter((id) => !got.has(id)).length - s.dropped),
        dropped: s.dropped,
        afterReturn: s.at.filter((t) => t > returnedAt).length,
      };
    });
    const liveOk = live.every((l) => l.closedWith === null && l.duplicated === 0 && l.missed === 0 && l.afterReturn > 0);
    const ok = counts.lost === 0 && counts.duplicated === 0 && (notes.readyAfterPostgresReturnedMs as number) <= 30_000 && notes.serviceAlive === true && retryable && liveOk;
    results.push({ fault: `PostgreSQL stopped ${PG_SECONDS} s`, ok, counts, notes: { ...notes, answersDuringOutage: answers, liveSubscribers: live, acknowledgedWhileSubscribed: expected.length } });
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
