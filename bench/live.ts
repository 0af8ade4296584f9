/**
 * `npm run bench:live`: live delivery under load, against a bare reference in the same run.
 * Not a test.
 *
 *   1. Reference: SUBSCRIBERS graphql-ws clients on bench/live-reference.ts (graphql-ws +
 *      EventEmitter, no auth, no filtering, no Redis), RATE points/s published for SECONDS s.
 *   2. Metrograph: two instances (child processes) on one fresh PostgreSQL database and Redis,
 *      half the subscribers (`metricRecorded`) on each, points recorded through the API at the
 *      same RATE, alternately through each instance: so half of all deliveries cross Redis.
 *      Record-to-delivery latency is measured from the moment the client sent the point (its
 *      value is that time) to the moment a subscriber got it.
 *   3. Ingestion: recordMetrics batches (500 points, 4 clients) for INGEST_SECONDS s without
 *      subscribers, then with them connected and the RATE load running, alternating, twice.
 *   4. Idle: IDLE subscribers on one instance, then its resident memory.
 *
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379), SUBSCRIBERS (2000), RATE (5),
 * SECONDS (10), INGEST_SECONDS (4), IDLE (5000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { cpuSeconds, freshDatabase, ROOT, rssBytes, startServer, stopServer } from './servers.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 2_000);
const RATE = Number(process.env.RATE ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 10);
const INGEST_SECONDS = Number(process.env.INGEST_SECONDS ?? 4);
const IDLE = Number(process.env.IDLE ?? 5_000);
const OPERATOR_TOKEN = `bench-operator-${randomBytes(12).toString('hex')}`;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });
const now = () => performance.timeOrigin + performance.now();

function post(url: string, body: string, token?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function gql<T>(base: string, query: string, variables: unknown, token: string): Promise<T> {
  const answer = JSON.parse(await post(`${base}/graphql`, JSON.stringify({ query, variables }), token)) as { data?: T; errors?: unknown };
  if (!answer.data || answer.errors) throw new Error(JSON.stringify(answer.errors).slice(0, 500));
  return answer.data;
}

function startReference(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/live-reference.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /reference at (http:\/\/\S+)/.exec(chunk.toString());
      if (match) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`reference exited with ${code}`)));
  });
}

interface Tally {
  latencies: number[];
  delivered: number;
}

/** `count` clients, each with one subscription, spread over `urls`; resolves once all are acknowledged. */
async function subscribeMany(urls: string[], count: number, token: string | undefined, query: string, tally: Tally | null): Promise<Client[]> {
  const clients: Client[] = [];
  const acknowledged: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const url = urls[i % urls.length]!.replace('http', 'ws');
    let ack!: () => void;
    acknowledged.push(new Promise((resolve) => (ack = resolve)));
    const client = createClient({
      url: `${url}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => ack() },
    });
    client.subscribe(
      { query },
      {
        next: (message) => {
          if (!tally) return;
          const point = (message.data as { metricRecorded: { point: { value: number } } }).metricRecorded.point;
          tally.latencies.push(now() - point.value);
          tally.delivered++;
        },
        error: (error) => console.error('subscription error', error),
        complete: () => {},
      },
    );
    clients.push(client);
    // Connect in small waves: thousands of handshakes at once only measure the accept queue.
    if (i % 200 === 199) await Promise.all(acknowledged.slice(-200));
  }
  await Promise.all(acknowledged);
  // Subscriptions are sent right after the ack; give the servers a moment to register them.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return clients;
}

/** Calls `send` RATE times a second for `seconds`; waits `settleMs` after for deliveries. */
async function steady(seconds: number, send: (i: number) => Promise<unknown>, settleMs = 1_500) {
  const started = now();
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < seconds * RATE; i++) {
    const due = started + (i * 1_000) / RATE;
    const wait = due - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sends.push(send(i));
  }
  await Promise.all(sends);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  return (now() - started) / 1_000;
}

function summary(tally: Tally, seconds: number) {
  const sorted = [...tally.latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, perSecond: tally.delivered / seconds, delivered: tally.delivered };
}

const SUBSCRIPTION = 'subscription { metricRecorded(filter: { metrics: ["bench.live"] }) { dropped point { id metric value timestamp tags } } }';
const REFERENCE_SUBSCRIPTION = 'subscription { metricRecorded { dropped point { id metric value timestamp tags } } }';
const RECORD = 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }';

async function ingest(base: string, token: string, seconds: number): Promise<number> {
  const body = JSON.stringify({
    query: RECORD,
    variables: { m: Array.from({ length: 500 }, (_, i) => ({ name: 'bench.ingest', type: 'GAUGE', value: i, tags: { host: `h${i % 50}` } })) },
  });
  let points = 0;
  const until = now() + seconds * 1_000;
  const started = now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (now() < until) {
        await post(`${base}/graphql`, body, token);
        points += 500;
      }
    }),
  );
  return points / ((now() - started) / 1_000);
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MB`;

const database = await freshDatabase(ADMIN_URL);
const children: ChildProcess[] = [];
const clients: Client[] = [];
const closeClients = async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
};
try {
  console.log(`bench:live  ${SUBSCRIBERS} subscribers, ${RATE} points/s for ${SECONDS} s, two instances through Redis; idle ${IDLE}`);

  // 1. The reference.
  const reference = await startReference();
  children.push(reference.child);
  const refTally: Tally = { latencies: [], delivered: 0 };
  clients.push(...(await subscribeMany([reference.url], SUBSCRIBERS, undefined, REFERENCE_SUBSCRIPTION, refTally)));
  const refSeconds = await steady(SECONDS, () => post(`${reference.url}/publish`, JSON.stringify({ value: now() })));
  const ref = summary(refTally, refSeconds);
  await closeClients();
  await stopServer(reference.child);

  // 2. Metrograph: two instances, one database, Redis between them.
  const env = { DATABASE_URL: database.url, REDIS_URL, OPERATOR_TOKEN, LOG_LEVEL: 'warn', LIVE_MAX_CONNECTIONS_PER_TENANT: String(IDLE + SUBSCRIBERS) };
  const one = await startServer(env);
  children.push(one.child);
  const two = await startServer(env);
  children.push(two.child);
  const created = await gql<{ createTenant: { adminKey: { key: string } } }>(one.url, 'mutation { createTenant(input: { name: "bench" }) { adminKey { key } } }', {}, OPERATOR_TOKEN);
  const key = created.createTenant.adminKey.key;
  const record = (base: string, value: number) => gql(base, RECORD, { m: [{ name: 'bench.live', type: 'GAUGE', value }] }, key);
  await record(one.url, now());
  await record(two.url, now());

  // 3a. Ingestion without subscribers (first round).
  const without: number[] = [await ingest(one.url, key, INGEST_SECONDS)];

  const tally: Tally = { latencies: [], delivered: 0 };
  clients.push(...(await subscribeMany([one.url, two.url], SUBSCRIBERS, key, SUBSCRIPTION, tally)));
  const cpu0 = cpuSeconds(one.child.pid) + cpuSeconds(two.child.pid);
  const liveSeconds = await steady(SECONDS, (i) => record(i % 2 === 0 ? one.url : two.url, now()));
  const cpuLive = cpuSeconds(one.child.pid) + cpuSeconds(two.child.pid) - cpu0;
  const mg = summary(tally, liveSeconds);
  const rssLive = [rssBytes(one.child.pid), rssBytes(two.child.pid)];

  // 3b. Ingestion with the subscribers connected and the live load running; then without again, then with.
  const withSubs: number[] = [];
  const loadWhile = async (work: Promise<number>) => {
    let running = true;
    const load = (async () => {
      let i = 0;
      while (running) {
        await record(i++ % 2 === 0 ? one.url : two.url, now());
        await new Promise((resolve) => setTimeout(resolve, 1_000 / RATE));
      }
    })();
    const rate = await work;
    running = false;
    await load;
    return rate;
  };
  withSubs.push(await loadWhile(ingest(one.url, key, INGEST_SECONDS)));
  await closeClients();
  without.push(await ingest(one.url, key, INGEST_SECONDS));
  clients.push(...(await subscribeMany([one.url, two.url], SUBSCRIBERS, key, SUBSCRIPTION, null)));
  withSubs.push(await loadWhile(ingest(one.url, key, INGEST_SECONDS)));
  await closeClients();

  // 4. Idle subscribers.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const rssEmpty = [rssBytes(one.child.pid), rssBytes(two.child.pid)];
  // All on one instance: what one process holds.
  clients.push(...(await subscribeMany([one.url], IDLE, key, SUBSCRIPTION, null)));
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const rssIdle = rssBytes(one.child.pid);
  await closeClients();

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const expected = SUBSCRIBERS * RATE * SECONDS;
  console.log('\nResults');
  console.log(`record-to-delivery latency (ms)  Metrograph p50 ${fmt(mg.p50, 1)}  p99 ${fmt(mg.p99, 1)}  max ${fmt(mg.max, 1)}   reference p50 ${fmt(ref.p50, 1)}  p99 ${fmt(ref.p99, 1)}  max ${fmt(ref.max, 1)}`);
  console.log(`  goal p99 ≤ 250 ms: ${mg.p99 <= 250 ? 'PASS' : 'FAIL'}`);
  console.log(`delivered messages/s            Metrograph ${fmt(mg.perSecond)} (${fmt(mg.delivered)} of ${fmt(expected)})   reference ${fmt(ref.perSecond)} (${fmt(ref.delivered)} of ${fmt(expected)})   ratio ${fmt(mg.perSecond / ref.perSecond, 2)}  goal ≥ 0.80 ${mg.perSecond / ref.perSecond >= 0.8 ? 'PASS' : 'FAIL'}`);
  console.log(`server CPU during the live run   ${fmt((cpuLive * 1e6) / Math.max(1, mg.delivered), 1)} µs per delivered message (both instances)`);
  console.log(`ingestion points/s               without subscribers ${without.map((x) => fmt(x)).join(', ')}   with ${withSubs.map((x) => fmt(x)).join(', ')}   ratio ${fmt(mean(withSubs) / mean(without), 2)}  goal ≥ 0.80 ${mean(withSubs) / mean(without) >= 0.8 ? 'PASS' : 'FAIL'}`);
  console.log(`server RSS                       during the live run ${rssLive.map(mb).join(' + ')}; no subscribers ${rssEmpty.map(mb).join(' + ')}`);
  console.log(`${IDLE} idle subscribers on one instance: RSS ${mb(rssIdle)} (${mb(rssEmpty[0]!)} before them)  goal ≤ 512 MB ${rssIdle <= 512 * 1024 * 1024 ? 'PASS' : 'FAIL'}`);
} finally {
  await closeClients();
  for (const child of children) await stopServer(child);
  agent.destroy();
  await database.drop();
}
