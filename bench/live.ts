/**
 * `npm run bench:live`: live delivery under load, against a bare reference in the same run.
 * Not a test.
 *
 * Two arms, both running for the whole bench:
 *   reference   bench/live-reference.ts: graphql-ws + graphql-js + an EventEmitter in one
 *               process; no auth, no tenants, no filtering, no database, no Redis.
 *   Metrograph  two instances (child processes) on one fresh PostgreSQL 15 database (plain
 *               PostgreSQL: no TimescaleDB there) and Redis, half the subscribers
 *               (`metricRecorded`) on each; every point is recorded through the API,
 *               alternately through each instance, so half of all deliveries cross Redis.
 * SUBSCRIBERS clients per arm, each one WebSocket with one subscription, stay connected.
 * Latency is record-to-delivery: from the moment the bench sent the point (its value is that
 * time) to the moment a subscriber got it; clients are raw `ws` sockets speaking the
 * graphql-transport-ws protocol (cheap to run thousands of in one process).
 *
 *   1. Latency: ROUNDS rounds; in each, RATE points/s for SECONDS s on the reference, then on
 *      Metrograph. p50/p99 per round, and the medians of the rounds.
 *   2. Capacity: the offered rate rises step by step (CAPACITY_RATES points/s, STEP_SECONDS
 *      each, the two arms interleaved at each step) until an arm's p99 passes 250 ms or it
 *      loses or drops a message; the highest rate each arm sustained.
 *   3. Ingestion: recordMetrics batches (500 points, 4 clients) for INGEST_SECONDS s, in
 *      INGEST_ROUNDS alternating rounds: no subscribers connected, then SUBSCRIBERS connected
 *      with the RATE live load running. The ratio of the medians.
 *   4. Idle: IDLE subscribers on one instance, then its resident memory.
 *
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379), SUBSCRIBERS (2000), RATE (5), SECONDS (5),
 * ROUNDS (3), CAPACITY_RATES (1,2,5,10,20,40,80,160), STEP_SECONDS (3), INGEST_SECONDS (4),
 * INGEST_ROUNDS (3), IDLE (5000). BENCH_SERVER_NODE_ARGS (e.g. `--cpu-prof`) goes to the
 * Metrograph instances, BENCH_REFERENCE_NODE_ARGS to the reference.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { cpuSeconds, freshDatabase, ROOT, rssBytes, startServer, stopServer } from './servers.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 2_000);
const RATE = Number(process.env.RATE ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CAPACITY_RATES = (process.env.CAPACITY_RATES ?? '1,2,5,10,20,40,80,160').split(',').map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 3);
const INGEST_SECONDS = Number(process.env.INGEST_SECONDS ?? 4);
const INGEST_ROUNDS = Number(process.env.INGEST_ROUNDS ?? 3);
const IDLE = Number(process.env.IDLE ?? 5_000);
const OPERATOR_TOKEN = `bench-operator-${randomBytes(12).toString('hex')}`;
const GOAL_P99_MS = 250;
const GOAL_P99_VS_REFERENCE = 1.5;
const GOAL_INGEST_RATIO = 0.8;
const GOAL_IDLE_BYTES = 512 * 1024 * 1024;
const SETTLE_MS = 1_500;
const SETTLE_MAX_MS = 15_000;

const agent = new Agent({ keepAlive: true, maxSockets: 32 });
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function post(url: string, body: string, token?: string, retried = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`))));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed as idle just as it was reused: the request never
      // reached the server, so sending it again is safe (the race Node's http docs describe).
      if (req.reusedSocket && error.code === 'ECONNRESET' && !retried) post(url, body, token, true).then(resolve, reject);
      else reject(error);
    });
    req.end(body);
  });
}

async function gql<T>(base: string, query: string, variables: unknown, token: string): Promise<T> {
  const answer = JSON.parse(await post(`${base}/graphql`, JSON.stringify({ query, variables }), token)) as { data?: T; errors?: unknown };
  if (!answer.data || answer.errors) throw new Error(JSON.stringify(answer.errors).slice(0, 500));
  return answer.data;
}

function startReference(): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env.BENCH_REFERENCE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'bench/live-reference.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /reference at (http:\/\/\S+)/.exec(chunk.toString());
      if (match) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`reference exited with ${code}`)));
  });
}

/** What one arm's subscribers received in the current phase. */
interface Tally {
  latencies: number[];
  delivered: number;
  dropped: number;
  errors: number;
}
const emptyTally = (): Tally => ({ latencies: [], delivered: 0, dropped: 0, errors: 0 });

/**
 * `count` raw graphql-transport-ws clients over `urls`, each subscribed once; every `next`
 * goes to `arm.tally` (swapped per phase). Resolves once all are acknowledged.
 */
async function subscribeMany(urls: string[], count: number, token: string | undefined, query: string, arm: { tally: Tally | null }): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  const subscribe = JSON.stringify({ id: '1', type: 'subscribe', payload: { query } });
  const init = JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
  let wave: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const socket = new WebSocket(`${urls[i % urls.length]!.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { skipUTF8Validation: true });
    sockets.push(socket);
    wave.push(
      new Promise((resolve, reject) => {
        socket.on('open', () => socket.send(init));
        socket.on('error', reject);
        socket.on('close', (code) => reject(new Error(`socket closed with ${code}`)));
        socket.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string; payload?: { data?: { metricRecorded: { dropped: number; point: { value: number } } }; errors?: unknown } };
          if (message.type === 'connection_ack') {
            socket.send(subscribe);
            resolve();
            return;
          }
          const tally = arm.tally;
          if (!tally) return;
          if (message.type !== 'next' || !message.payload?.data) {
            tally.errors++;
            return;
          }
          const event = message.payload.data.metricRecorded;
          tally.latencies.push(now() - event.point.value);
          tally.delivered++;
          tally.dropped += event.dropped;
        });
      }),
    );
    // Connect in small waves: thousands of handshakes at once only measure the accept queue.
    if (wave.length === 200) {
      await Promise.all(wave);
      wave = [];
    }
  }
  await Promise.all(wave);
  return sockets;
}

async function closeAll(sockets: WebSocket[]) {
  await Promise.all(
    sockets.splice(0).map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.removeAllListeners('close');
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close();
        }),
    ),
  );
}

/**
 * Calls `send` `rate` times a second for `seconds`; then waits for the deliveries to settle:
 * until `done()` or SETTLE_MS after the last send returned, whichever is later, but at most
 * SETTLE_MAX_MS (what has not arrived by then counts as lost).
 */
async function steady(rate: number, seconds: number, send: (i: number) => Promise<unknown>, done: () => boolean) {
  const started = now();
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < seconds * rate; i++) {
    const wait = started + (i * 1_000) / rate - now();
    if (wait > 0) await sleep(wait);
    const sent = send(i);
    sent.catch(() => {}); // handled by Promise.all below; not an unhandled rejection meanwhile
    sends.push(sent);
  }
  await Promise.all(sends);
  const settled = now() + SETTLE_MS;
  const limit = now() + SETTLE_MAX_MS;
  while (now() < limit && (now() < settled || !done())) await sleep(50);
}

function percentiles(tally: Tally) {
  const sorted = Float64Array.from(tally.latencies).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
  return { p50: at(0.5), p99: at(0.99) };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-');
const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MB`;
const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');

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

const database = await freshDatabase(ADMIN_URL);
const children: ChildProcess[] = [];
const sockets: WebSocket[] = [];
// Should the run die anyway, the servers it started go with it.
process.once('exit', () => children.forEach((child) => child.exitCode === null && child.kill('SIGTERM')));
try {
  console.log(`bench:live  ${SUBSCRIBERS} subscribers per arm; latency ${ROUNDS} rounds of ${RATE} points/s for ${SECONDS} s; capacity steps ${CAPACITY_RATES.join(', ')} points/s of ${STEP_SECONDS} s; ingestion ${INGEST_ROUNDS} rounds of ${INGEST_SECONDS} s; idle ${IDLE}`);
  console.log(`Metrograph: two instances on PostgreSQL 15 (no TimescaleDB; database ${database.name}) through Redis 7; reference: bare graphql-ws, one process, in-memory.`);

  const reference = await startReference();
  children.push(reference.child);
  const env = { DATABASE_URL: database.url, REDIS_URL, OPERATOR_TOKEN, LOG_LEVEL: 'warn', LIVE_MAX_CONNECTIONS_PER_TENANT: String(IDLE + SUBSCRIBERS) };
  const one = await startServer(env);
  children.push(one.child);
  const two = await startServer(env);
  children.push(two.child);
  const created = await gql<{ createTenant: { adminKey: { key: string } } }>(one.url, 'mutation { createTenant(input: { name: "bench" }) { adminKey { key } } }', {}, OPERATOR_TOKEN);
  const key = created.createTenant.adminKey.key;
  const record = (i: number) => gql(i % 2 === 0 ? one.url : two.url, RECORD, { m: [{ name: 'bench.live', type: 'GAUGE', value: now() }] }, key);
  const publish = () => post(`${reference.url}/publish`, JSON.stringify({ value: now() }));
  await record(0);
  await record(1);

  const ingestWithout: number[] = [];
  ingestWithout.push(await ingest(one.url, key, INGEST_SECONDS));

  const refArm = { tally: null as Tally | null };
  const mgArm = { tally: null as Tally | null };
  const refSockets = await subscribeMany([reference.url], SUBSCRIBERS, undefined, REFERENCE_SUBSCRIPTION, refArm);
  const mgSockets = await subscribeMany([one.url, two.url], SUBSCRIBERS, key, SUBSCRIPTION, mgArm);
  sockets.push(...refSockets, ...mgSockets);

  const arms = {
    reference: { arm: refArm, send: publish, pids: [reference.child.pid] },
    metrograph: { arm: mgArm, send: record, pids: [one.child.pid, two.child.pid] },
  };
  type ArmName = keyof typeof arms;
  const cpuOf = (name: ArmName): number => (arms[name].pids as Array<number | undefined>).reduce<number>((n, pid) => n + cpuSeconds(pid), 0);

  /** One phase of one arm: `rate` points/s for `seconds` s; what its subscribers got, and the server CPU it took. */
  async function phase(name: ArmName, rate: number, seconds: number) {
    const { arm, send } = arms[name];
    const tally = emptyTally();
    arm.tally = tally;
    const cpu0 = cpuOf(name);
    const client0 = process.cpuUsage();
    const expected = Math.ceil(seconds * rate) * SUBSCRIBERS;
    await steady(rate, seconds, send, () => tally.delivered + tally.dropped >= expected);
    const cpu = cpuOf(name) - cpu0;
    const client = process.cpuUsage(client0);
    arm.tally = null;
    const perMessage = (seconds: number) => (seconds * 1e6) / Math.max(1, tally.delivered);
    return { ...percentiles(tally), tally, expected, cpuPerMessage: perMessage(cpu), clientCpuPerMessage: perMessage((client.user + client.system) / 1e6) };
  }

  // Warm-up: every subscription registered, code paths compiled.
  for (const name of ['reference', 'metrograph'] as const) {
    const warm = await phase(name, 2, 1);
    if (warm.tally.delivered < warm.expected) {
      const tally = emptyTally();
      arms[name].arm.tally = tally;
      await arms[name].send(0);
      const until = now() + 15_000;
      while (tally.delivered < SUBSCRIBERS && now() < until) await sleep(100);
      arms[name].arm.tally = null;
      if (tally.delivered < SUBSCRIBERS) throw new Error(`${name}: only ${tally.delivered} of ${SUBSCRIBERS} subscribers receive points`);
    }
  }

  // 1. Latency, interleaved rounds.
  console.log('\n1. Record-to-delivery latency (ms), interleaved rounds');
  const rounds: Record<ArmName, Array<Awaited<ReturnType<typeof phase>>>> = { reference: [], metrograph: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of ['reference', 'metrograph'] as const) {
      const r = await phase(name, RATE, SECONDS);
      rounds[name].push(r);
      console.log(
        `   round ${round} ${name.padEnd(10)} p50 ${fmt(r.p50, 1).padStart(8)}  p99 ${fmt(r.p99, 1).padStart(8)}  delivered ${fmt(r.tally.delivered)} of ${fmt(r.expected)}, dropped ${r.tally.dropped}  CPU µs/message: server ${fmt(r.cpuPerMessage, 1)}, bench client ${fmt(r.clientCpuPerMessage, 1)}`,
      );
    }
  }
  const med = (name: ArmName, f: (r: Awaited<ReturnType<typeof phase>>) => number) => median(rounds[name].map(f));
  const mgP99 = med('metrograph', (r) => r.p99);
  const refP99 = med('reference', (r) => r.p99);

  // 2. Capacity.
  console.log(`\n2. Capacity: offered points/s (× ${SUBSCRIBERS} subscribers = messages/s), ${STEP_SECONDS} s per step; a step passes with p99 ≤ ${GOAL_P99_MS} ms and nothing lost or dropped`);
  const sustained: Record<ArmName, number> = { reference: 0, metrograph: 0 };
  const stopped: Record<ArmName, string | null> = { reference: null, metrograph: null };
  for (const rate of CAPACITY_RATES) {
    for (const name of ['reference', 'metrograph'] as const) {
      if (stopped[name]) continue;
      const r = await phase(name, rate, STEP_SECONDS);
      const lost = r.expected - r.tally.delivered - r.tally.dropped;
      const pass = r.p99 <= GOAL_P99_MS && r.tally.delivered === r.expected && r.tally.dropped === 0 && r.tally.errors === 0;
      console.log(
        `   ${fmt(rate).padStart(5)} points/s ${name.padEnd(10)} p50 ${fmt(r.p50, 1).padStart(8)}  p99 ${fmt(r.p99, 1).padStart(8)}  delivered ${fmt(r.tally.delivered)} of ${fmt(r.expected)}, dropped ${r.tally.dropped}, lost ${lost}  ${pass ? 'pass' : 'FAIL'}`,
      );
      if (pass) sustained[name] = rate;
      else stopped[name] = r.p99 > GOAL_P99_MS ? `p99 ${fmt(r.p99)} ms at ${rate} points/s` : `messages dropped or lost at ${rate} points/s`;
      // Let a failed step's backlog drain before the next measurement.
      if (!pass) await sleep(3_000);
    }
    if (stopped.reference && stopped.metrograph) break;
  }

  // 3. Ingestion: with the subscribers and the live load, then without, alternating.
  const ingestWith: number[] = [];
  const loadWhile = async (work: () => Promise<number>) => {
    let running = true;
    const load = (async () => {
      for (let i = 0; running; i++) {
        await record(i);
        await sleep(1_000 / RATE);
      }
    })();
    const rate = await work();
    running = false;
    await load;
    return rate;
  };
  await closeAll(refSockets);
  for (let round = 0; round < INGEST_ROUNDS; round++) {
    if (round > 0) sockets.push(...(await subscribeMany([one.url, two.url], SUBSCRIBERS, key, SUBSCRIPTION, mgArm)));
    await sleep(1_000);
    ingestWith.push(await loadWhile(() => ingest(one.url, key, INGEST_SECONDS)));
    await closeAll(sockets);
    await sleep(1_000);
    if (ingestWithout.length < INGEST_ROUNDS) ingestWithout.push(await ingest(one.url, key, INGEST_SECONDS));
  }

  // 4. Idle subscribers, all on one instance: what one process holds.
  await sleep(1_000);
  const rssBefore = rssBytes(one.child.pid);
  sockets.push(...(await subscribeMany([one.url], IDLE, key, SUBSCRIPTION, { tally: null })));
  await sleep(2_000);
  const rssIdle = rssBytes(one.child.pid);
  await closeAll(sockets);

  const ingestRatio = median(ingestWith) / median(ingestWithout);
  console.log('\nResults (medians of interleaved rounds; each figure with its goal)');
  console.log(
    `record-to-delivery p50/p99 (ms)   Metrograph ${fmt(med('metrograph', (r) => r.p50), 1)} / ${fmt(mgP99, 1)}   reference ${fmt(med('reference', (r) => r.p50), 1)} / ${fmt(refP99, 1)}   p99 ratio ${fmt(mgP99 / refP99, 2)}`,
  );
  console.log(`  goal p99 ≤ ${GOAL_P99_MS} ms: ${met(mgP99 <= GOAL_P99_MS)};  goal p99 ≤ ${GOAL_P99_VS_REFERENCE}× the reference: ${met(mgP99 <= GOAL_P99_VS_REFERENCE * refP99)}`);
  console.log(
    `server CPU per delivered message  Metrograph ${fmt(med('metrograph', (r) => r.cpuPerMessage), 1)} µs (both instances)   reference ${fmt(med('reference', (r) => r.cpuPerMessage), 1)} µs   (the bench's own clients: ${fmt(med('reference', (r) => r.clientCpuPerMessage), 1)} µs)`,
  );
  const capacity = (name: ArmName) => `${fmt(sustained[name])} points/s = ${fmt(sustained[name] * SUBSCRIBERS)} messages/s${stopped[name] ? ` (failed: ${stopped[name]})` : ' (passed every step)'}`;
  console.log(`capacity                          Metrograph ${capacity('metrograph')}   reference ${capacity('reference')}`);
  // The issue sets no number here; the latency goal's allowance (1.5× the reference) read as throughput.
  console.log(`  goal ≥ 1/${GOAL_P99_VS_REFERENCE} of the reference's rate: ${met(sustained.metrograph * GOAL_P99_VS_REFERENCE >= sustained.reference)}`);
  console.log(
    `ingestion points/s                without subscribers ${ingestWithout.map((x) => fmt(x)).join(', ')}   with ${ingestWith.map((x) => fmt(x)).join(', ')}   ratio of medians ${fmt(ingestRatio, 2)}  goal ≥ ${GOAL_INGEST_RATIO}: ${met(ingestRatio >= GOAL_INGEST_RATIO)}`,
  );
  console.log(`${IDLE} idle subscribers, one instance  RSS ${mb(rssIdle)} (${mb(rssBefore)} before them)  goal ≤ 512 MB: ${met(rssIdle <= GOAL_IDLE_BYTES)}`);
} finally {
  await closeAll(sockets);
  for (const child of children) await stopServer(child);
  agent.destroy();
  await database.drop();
}
