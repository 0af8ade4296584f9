/**
 * `npm run bench:ingest`: ingestion through the API against raw PostgreSQL, side by side.
 *
 *   1. Batches: points recorded by HTTP `recordMetrics` (500 a request, a few clients at once)
 *      vs the same rows COPYed straight into `points` by the owner.
 *   2. Singles: 8 clients each sending one `recordMetric` at a time vs 8 connections each
 *      running one single-row INSERT into `points` at a time (autocommit).
 *
 * The arms run in alternating rounds (A B A B …) and each figure is the median over rounds:
 * the machine is shared and noisy. Every ratio is against the baseline of this same run.
 *
 * The server is the real one (`src/main.ts`), started as a child process over a fresh
 * database: it gets its own event loop and heap, as in production, so the load generator's
 * work (building and sending requests, timing them) does not run on the server's loop. The
 * raw arms' client runs in this process too, so both arms pay the same client-side cost.
 * Each batch arm's CPU time per point is printed as a diagnostic (from /proc): the server's,
 * the database backends' and this process's. On a small machine they share the cores, so an
 * API arm's rate is bounded by their sum where COPY's is bounded by its backend's alone.
 * The database also does more per point for an API arm: COPY stores rows a page at a time
 * (PostgreSQL's multi-row insert), where an INSERT through the write view (the only way the
 * application role may write, migrations/0092) stores and checks each row on its own.
 * The goal's baseline is COPY as a bulk load (one stream, one transaction a round). COPY that
 * commits like the API arms (BENCH_COPY_STREAMS=4 BENCH_COPY_BATCH=500) is a diagnostic: it
 * shows how much of the gap is the commit pattern and how much is the insert itself.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL   server to create the throwaway database on (default postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_SCALE          multiplies points and durations; `--large` means 4 (default 1: ~1-2 minutes)
 *   BENCH_ROUNDS         rounds per arm (default 5)
 *   BENCH_BATCH_CLIENTS  concurrent recordMetrics clients (default 4)
 *   BENCH_COPY_STREAMS   concurrent COPY connections (default 1)
 *   BENCH_COPY_BATCH     rows per COPY, each its own transaction (default: a stream's whole share of the
 *                        round in one). `BENCH_COPY_STREAMS=4 BENCH_COPY_BATCH=500` commits like the API arms
 *   BENCH_SINGLE_CLIENTS clients in the singles part (default 8)
 *   BENCH_CLIENT_IDS     `1`: every item carries a client id (the idempotent path)
 *   BENCH_SERVER_ENV     extra server environment, `K=V,K=V` (e.g. DATABASE_POOL_SIZE=20)
 *   BENCH_ONLY           `batch`, `single` or `late`: run one part
 *   BENCH_PROTOCOLS      `0`: leave out the OTLP and remote-write arms of the batch part (bench/ingest-protocols.ts);
 *                        or the arms to run, e.g. `otlp_protobuf,remote_write`
 *   BENCH_LATE_POINTS    points per arm and round in the late-points part (default 5 000)
 *
 *   3. Late points (embedded engine, its own server over a temporary DATA_DIR): recordMetrics
 *      batches of points stamped now, 2 hours ago and 3 days ago, in rotating order, same
 *      clients; then a check that every late point is in the very next query (exact counts).
 *   BENCH_SERVER_NODE_ARGS  extra node flags for the server (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`)
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { cpuSeconds, freshDatabase, serverEnvFromBench, startServer, stopServer } from './servers.js';
import { createPointSource, PROTOCOL_ARMS, protocolBodies, sendBodies, type ProtocolArm } from './ingest-protocols.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCALE = process.argv.includes('--large') ? 4 : Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = 500;
/** Points per batch round and arm: ROUNDS × this ≥ 200 000 at scale 1. */
const POINTS_PER_ROUND = Math.ceil((200_000 * SCALE) / ROUNDS / BATCH) * BATCH;
const BATCH_CLIENTS = Number(process.env.BENCH_BATCH_CLIENTS ?? 4);
const COPY_STREAMS = Number(process.env.BENCH_COPY_STREAMS ?? 1);
const COPY_BATCH = Number(process.env.BENCH_COPY_BATCH ?? Infinity);
const SINGLE_CLIENTS = Number(process.env.BENCH_SINGLE_CLIENTS ?? 8);
const SINGLE_SECONDS = 4 * SCALE;
const CLIENT_IDS = process.env.BENCH_CLIENT_IDS === '1';
const ONLY = process.env.BENCH_ONLY;
const PROTOCOLS: readonly ProtocolArm[] =
  process.env.BENCH_PROTOCOLS === '0' ? [] : process.env.BENCH_PROTOCOLS ? PROTOCOL_ARMS.filter((arm) => process.env.BENCH_PROTOCOLS!.split(',').includes(arm)) : PROTOCOL_ARMS;
const OPERATOR_TOKEN = `bench-operator-${randomBytes(12).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// The data: a few metrics over a few hundred series, tagged like a small fleet.

interface Series {
  name: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY';
  unit: string | null;
  tags: Record<string, string>;
  /** Filled in after the warm-up created it through the API. */
  id?: number;
}

const METRICS = [
  { name: 'http.server.requests', type: 'COUNTER', unit: null },
  { name: 'http.server.duration', type: 'HISTOGRAM', unit: 'ms' },
  { name: 'system.cpu.utilization', type: 'GAUGE', unit: '%' },
  { name: 'db.client.duration', type: 'SUMMARY', unit: 'ms' },
] as const;
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const SERVICES = ['checkout', 'search', 'catalog'];

const SERIES: Series[] = [];
for (const metric of METRICS) {
  for (let host = 1; host <= 25; host++) {
    for (const region of REGIONS) {
      SERIES.push({
        ...metric,
        tags: { host: `web-${String(host).padStart(2, '0')}`, region, service: SERVICES[host % 3]!, env: 'prod' },
      });
    }
  }
}

function valueOf(series: Series, i: number): number {
  switch (series.type) {
    case 'COUNTER':
      return (i * 7) % 50;
    case 'GAUGE':
      return Math.round(Math.random() * 10_000) / 100;
    default:
      return Math.round(Math.exp(3 + Math.random() * 2) * 100) / 100;
  }
}

interface Row {
  series: Series;
  time: string;
  value: number;
  id: string;
}

/** `count` rows over every series, a few ms apart, ending about a minute ago. */
function makeRows(count: number): Row[] {
  const start = Date.now() - 60_000 - count;
  const rows: Row[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const series = SERIES[i % SERIES.length]!;
    rows[i] = { series, time: new Date(start + i).toISOString(), value: valueOf(series, i), id: randomUUID() };
  }
  return rows;
}

function item(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = { name: row.series.name, type: row.series.type, value: row.value, tags: row.series.tags, timestamp: row.time };
  if (row.series.unit) out.unit = row.series.unit;
  if (CLIENT_IDS) out.id = row.id;
  return out;
}

const RECORD_METRICS = 'mutation RecordMetrics($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted failed { index code message } } }';
const RECORD_METRIC = 'mutation RecordMetric($i: MetricInput!) { recordMetric(input: $i) { id } }';

// ---------------------------------------------------------------------------------------------
// HTTP client: keep-alive, one socket per concurrent client, bodies built before timing.

let baseUrl = '';
let apiKey = '';
let agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(body: string | Buffer, token = apiKey): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}/graphql`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(text);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function gql<T>(query: string, variables: unknown, token?: string): Promise<T> {
  const body = JSON.parse(await post(JSON.stringify({ query, variables }), token)) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body.data;
}

// ---------------------------------------------------------------------------------------------
// Arms.

interface RoundResult {
  rate: number; // points (or requests) per second
  p50?: number;
  p99?: number;
  cpuUsPerPoint?: number;
  /** The database backends' CPU (this database's, on this machine) and this process's, per point. */
  dbUsPerPoint?: number;
  clientUsPerPoint?: number;
}

/**
 * Where the CPU of a timed arm goes: the server process, the database's backends serving the
 * bench's database (read from /proc, so only where the database runs on this machine; `-`
 * elsewhere) and this process (the load generator). On a machine of 2 cores the three share
 * them, so an arm's rate is bounded by their sum, where COPY's costs only the backend's.
 */
interface Meter {
  server?: number;
  /** The bench database's backend pids (but the asking connection's); none before the owner connects. */
  backends?: () => Promise<number[]>;
}

async function metered(points: number, meter: Meter, run: () => Promise<void>): Promise<RoundResult> {
  const backends0 = new Map((await (meter.backends?.() ?? [])).map((pid) => [pid, cpuSeconds(pid)]));
  const client0 = process.cpuUsage();
  const server0 = cpuSeconds(meter.server);
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const server = cpuSeconds(meter.server) - server0;
  const client = process.cpuUsage(client0);
  // A backend that started during the run counts from zero; one that ended during it is lost (the server's pool keeps its connections).
  const db = meter.backends ? (await meter.backends()).reduce((sum, pid) => sum + cpuSeconds(pid) - (backends0.get(pid) ?? 0), 0) : NaN;
  const per = (cpuSeconds: number) => (cpuSeconds * 1e6) / points;
  return { rate: points / seconds, cpuUsPerPoint: per(server), dbUsPerPoint: per(db), clientUsPerPoint: per((client.user + client.system) / 1e6) };
}

async function apiBatches(rows: Row[], meter: Meter): Promise<RoundResult> {
  const bodies: string[] = [];
  for (let i = 0; i < rows.length; i += BATCH) {
    bodies.push(JSON.stringify({ query: RECORD_METRICS, variables: { m: rows.slice(i, i + BATCH).map(item) } }));
  }
  let next = 0;
  return metered(rows.length, meter, async () => {
    await Promise.all(
      Array.from({ length: BATCH_CLIENTS }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const answer = JSON.parse(await post(body)) as { data?: { recordMetrics: { accepted: number; failed: unknown[] } }; errors?: unknown };
          const payload = answer.data?.recordMetrics;
          if (!payload || payload.accepted !== BATCH || payload.failed.length) throw new Error(`batch not fully accepted: ${JSON.stringify(answer).slice(0, 500)}`);
        }
      }),
    );
  });
}

async function copyBatches(databaseUrl: string, tenantId: string, rows: Row[], meter: Meter = {}): Promise<RoundResult> {
  const per = Math.ceil(rows.length / COPY_STREAMS);
  // Per stream, its COPYs' texts: one for the stream's whole share unless BENCH_COPY_BATCH splits it.
  const texts: string[][] = [];
  for (let s = 0; s < COPY_STREAMS; s++) {
    const share = rows.slice(s * per, (s + 1) * per);
    const copies: string[] = [];
    for (let i = 0; i < share.length; i += Math.min(COPY_BATCH, share.length)) {
      copies.push(
        share
          .slice(i, i + COPY_BATCH)
          .map((r) => `${tenantId}\t${r.series.id}\t${r.time}\t${r.value}\t${r.id}\n`)
          .join(''),
      );
    }
    texts.push(copies);
  }
  const clients = await Promise.all(
    texts.map(async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  try {
    // Connected before the clock starts, so their backends are metered; the server's (idle meanwhile) add nothing.
    return await metered(rows.length, { backends: meter.backends }, async () => {
      await Promise.all(
        clients.map(async (client, s) => {
          for (const text of texts[s]!) {
            await pipeline(Readable.from([text]), client.query(copyFrom('copy points (tenant_id, series_id, time, value, id) from stdin')));
          }
        }),
      );
    });
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `clients` loops of `once` for `seconds`; throughput and latency percentiles (ms). */
async function closedLoop(clients: number, seconds: number, once: (client: number, i: number) => Promise<void>, serverPid?: number): Promise<RoundResult> {
  const latencies: number[] = [];
  const cpu0 = cpuSeconds(serverPid);
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const a = performance.now();
        await once(c, i);
        latencies.push(performance.now() - a);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuUsPerPoint: serverPid ? ((cpuSeconds(serverPid) - cpu0) * 1e6) / latencies.length : undefined,
  };
}

async function apiSingles(serverPid: number | undefined): Promise<RoundResult> {
  // Bodies built before timing, one per series, with a fresh timestamp each round.
  const now = Date.now() - 30_000;
  const bodies = SERIES.map((s, i) => JSON.stringify({ query: RECORD_METRIC, variables: { i: item({ series: s, time: new Date(now + i).toISOString(), value: valueOf(s, i), id: randomUUID() }) } }));
  return closedLoop(
    SINGLE_CLIENTS,
    SINGLE_SECONDS,
    async (c, i) => {
      const answer = JSON.parse(await post(bodies[(c * 37 + i) % bodies.length]!)) as { data?: { recordMetric: { id: string } } };
      if (!answer.data?.recordMetric.id) throw new Error(`recordMetric failed: ${JSON.stringify(answer).slice(0, 500)}`);
    },
    serverPid,
  );
}

async function rawSingles(clients: pg.Client[], tenantId: string): Promise<RoundResult> {
  const now = new Date(Date.now() - 30_000).toISOString();
  return closedLoop(SINGLE_CLIENTS, SINGLE_SECONDS, async (c, i) => {
    const s = SERIES[(c * 37 + i) % SERIES.length]!;
    // A named statement: parsed and planned once per connection, as a tuned raw writer would.
    await clients[c]!.query({
      name: 'insert_point',
      text: 'insert into points (tenant_id, series_id, time, value, id) values ($1, $2, $3, $4, $5)',
      values: [tenantId, s.id, now, valueOf(s, i), randomUUID()],
    });
  });
}

// ---------------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pad = (s: string, n: number) => s.padStart(n);

async function main() {
  if (ONLY === 'late') return latePoints();
  const database = await freshDatabase(ADMIN_URL);
  const { url: databaseUrl, name: dbName } = database;
  let server: ChildProcess | undefined;
  const cleanup = async () => {
    if (server) await Promise.race([stopServer(server), new Promise((r) => setTimeout(r, 15_000))]);
    agent.destroy();
    await database.drop();
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

  try {
    console.log(`bench:ingest  scale ${SCALE}, ${ROUNDS} rounds per arm, ${SERIES.length} series, client ids ${CLIENT_IDS ? 'on' : 'off'}, database ${dbName}`);
    const started = await startServer({ DATABASE_URL: databaseUrl, OPERATOR_TOKEN, ...serverEnvFromBench() });
    server = started.child;
    baseUrl = started.url;
    const pid = server.pid;

    const created = await gql<{ createTenant: { tenant: { id: string }; adminKey: { key: string } } }>(
      'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } adminKey { key } } }',
      { input: { name: 'bench' } },
      OPERATOR_TOKEN,
    );
    const tenantId = created.createTenant.tenant.id;
    apiKey = created.createTenant.adminKey.key;

    // Warm-up: every series created through the API (its cache filled), the JIT warmed; then the series ids for the raw arms.
    for (let w = 0; w < 3; w++) await apiBatches(makeRows(SERIES.length * 5), { server: pid });
    const owner = new pg.Client({ connectionString: databaseUrl });
    // Dropping the database after a failure ends this connection: that must not hide the failure.
    owner.on('error', () => {});
    await owner.connect();
    const meter: Meter = {
      server: pid,
      backends: async () => (await owner.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [dbName])).rows.map((r) => r.pid),
    };
    const { rows: ids } = await owner.query<{ id: string; name: string; tags: Record<string, string> }>(
      'select s.id, m.name, s.tags from series s join metrics m on m.id = s.metric_id',
    );
    const key = (name: string, tags: Record<string, string>) => `${name} ${JSON.stringify(tags, Object.keys(tags).sort())}`;
    const byKey = new Map(ids.map((r) => [key(r.name, r.tags), Number(r.id)]));
    for (const s of SERIES) {
      s.id = byKey.get(key(s.name, s.tags));
      if (s.id === undefined) throw new Error(`series not created: ${s.name}`);
    }
    await copyBatches(databaseUrl, tenantId, makeRows(SERIES.length * 5));
    // The protocol arms: warmed the same way (their cumulative series get their first value).
    const protocolPoints = createPointSource(SERIES);
    for (const arm of PROTOCOLS) await sendBodies(baseUrl, apiKey, arm, protocolBodies(arm, protocolPoints(SERIES.length * 5), BATCH, BATCH_CLIENTS), agent);

    const results: Record<string, RoundResult[]> = { api: [], copy: [], apiSingle: [], rawSingle: [], ...Object.fromEntries(PROTOCOLS.map((arm) => [arm, []])) };
    const log = (label: string, r: RoundResult) =>
      console.log(`  ${label.padEnd(24)} ${pad(fmt(r.rate), 8)}/s${r.p50 !== undefined ? `  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms` : ''}${r.cpuUsPerPoint !== undefined ? `  server cpu ${fmt(r.cpuUsPerPoint, 1)} µs/point` : ''}${r.dbUsPerPoint !== undefined ? `  database ${fmt(r.dbUsPerPoint, 1)}  bench client ${fmt(r.clientUsPerPoint, 1)}` : ''}`);

    if (ONLY !== 'single' && ONLY !== 'floor') {
      console.log(`\n1. batches: ${ROUNDS} × ${POINTS_PER_ROUND} points per arm; API ${BATCH_CLIENTS} clients × ${BATCH}-item recordMetrics, COPY ${COPY_STREAMS} stream(s)${Number.isFinite(COPY_BATCH) ? ` × ${COPY_BATCH}-row transactions` : ' × one transaction each'}${PROTOCOLS.length ? `, ${PROTOCOLS.join(', ')} ${BATCH_CLIENTS} clients × ${BATCH} points a request` : ''}`);
      for (let round = 0; round < ROUNDS; round++) {
        const rows = makeRows(POINTS_PER_ROUND);
        // Rotate which arm goes first, so none always runs on a table another just grew.
        const all = ['api', 'copy', ...PROTOCOLS] as const;
        const arms = all.map((_, i) => all[(i + round) % all.length]!);
        for (const arm of arms) {
          if (arm !== 'api' && arm !== 'copy') {
            const bodies = protocolBodies(arm, protocolPoints(POINTS_PER_ROUND), BATCH, BATCH_CLIENTS);
            const r = await metered(POINTS_PER_ROUND, meter, () => sendBodies(baseUrl, apiKey, arm, bodies, agent));
            results[arm]!.push(r);
            log(`round ${round + 1} ${arm}`, r);
          } else if (arm === 'api') {
            const r = await apiBatches(rows, meter);
            results.api!.push(r);
            log(`round ${round + 1} API recordMetrics`, r);
          } else {
            // Same series, times and values; fresh ids (the API arm's are made by the server).
            const r = await copyBatches(databaseUrl, tenantId, rows.map((x) => ({ ...x, id: randomUUID() })), meter);
            results.copy!.push(r);
            log(`round ${round + 1} raw COPY`, r);
          }
        }
      }
    }

    if (ONLY !== 'batch' && ONLY !== 'floor') {
      console.log(`\n2. singles: ${SINGLE_CLIENTS} clients, one point per call, ${ROUNDS} × ${SINGLE_SECONDS} s per arm`);
      const raw = await Promise.all(
        Array.from({ length: SINGLE_CLIENTS }, async () => {
          const c = new pg.Client({ connectionString: databaseUrl });
          await c.connect();
          return c;
        }),
      );
      try {
        // Warm both.
        await closedLoop(SINGLE_CLIENTS, 1, async () => void (await post(JSON.stringify({ query: RECORD_METRIC, variables: { i: item(makeRows(1)[0]!) } }))));
        for (let round = 0; round < ROUNDS; round++) {
          const arms = round % 2 === 0 ? (['api', 'raw'] as const) : (['raw', 'api'] as const);
          for (const arm of arms) {
            if (arm === 'api') {
              const r = await apiSingles(pid);
              results.apiSingle!.push(r);
              log(`round ${round + 1} API recordMetric`, r);
            } else {
              const r = await rawSingles(raw, tenantId);
              results.rawSingle!.push(r);
              log(`round ${round + 1} raw INSERT`, r);
            }
          }
        }
      } finally {
        await Promise.all(raw.map((c) => c.end()));
      }
    }

    if (ONLY === 'floor') {
      // Diagnostic: the cost of an authenticated request that touches no database.
      const body = JSON.stringify({ query: '{ __typename }' });
      for (let round = 0; round < ROUNDS; round++) log(`round ${round + 1} { __typename }`, await closedLoop(SINGLE_CLIENTS, SINGLE_SECONDS, async () => void (await post(body)), pid));
    }

    const { rows: counted } = await owner.query<{ n: string }>('select count(*) as n from points');
    await owner.end();

    // The table: medians over rounds, ratios API / raw.
    const m = (arm: string, field: keyof RoundResult) => median(results[arm]!.map((r) => r[field] as number));
    const lines: string[][] = [['figure (median of rounds)', 'API', 'raw', 'API / raw', 'goal', '']];
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    if (results.api!.length) {
      const ratio = m('api', 'rate') / m('copy', 'rate');
      lines.push(['batch points/s (recordMetrics vs COPY)', fmt(m('api', 'rate')), fmt(m('copy', 'rate')), fmt(ratio, 2), '≥ 0.60 (stretch 0.75)', `${verdict(ratio >= 0.6)}${ratio >= 0.75 ? ' +stretch' : ''}`]);
      // Where each arm's CPU went (medians of rounds): the server's, the database's backends', the bench's own.
      const cpu = (arm: string) => [m(arm, 'cpuUsPerPoint'), m(arm, 'dbUsPerPoint'), m(arm, 'clientUsPerPoint')].map((x) => fmt(x, 1)).join(' + ');
      const copyCpu = `- + ${fmt(m('copy', 'dbUsPerPoint'), 1)} + ${fmt(m('copy', 'clientUsPerPoint'), 1)}`;
      lines.push(['  CPU µs/point: server + database + bench', cpu('api'), copyCpu, '', '', '']);
      for (const arm of PROTOCOLS) {
        const r = m(arm, 'rate') / m('copy', 'rate');
        lines.push([`batch points/s (${arm} vs COPY)`, fmt(m(arm, 'rate')), fmt(m('copy', 'rate')), fmt(r, 2), '≥ 0.60', verdict(r >= 0.6)]);
        lines.push(['  CPU µs/point: server + database + bench', cpu(arm), copyCpu, '', '', '']);
      }
    }
    if (results.apiSingle!.length) {
      const rate = m('apiSingle', 'rate') / m('rawSingle', 'rate');
      const p50 = m('apiSingle', 'p50') / m('rawSingle', 'p50');
      const p99 = m('apiSingle', 'p99') / m('rawSingle', 'p99');
      lines.push([`single points/s (${SINGLE_CLIENTS} × recordMetric vs INSERT)`, fmt(m('apiSingle', 'rate')), fmt(m('rawSingle', 'rate')), fmt(rate, 2), '≥ 0.60', verdict(rate >= 0.6)]);
      lines.push(['single p50 latency ms', fmt(m('apiSingle', 'p50'), 2), fmt(m('rawSingle', 'p50'), 2), fmt(p50, 2), '', '']);
      lines.push(['single p99 latency ms', fmt(m('apiSingle', 'p99'), 2), fmt(m('rawSingle', 'p99'), 2), fmt(p99, 2), '≤ 3.00', verdict(p99 <= 3)]);
      lines.push(['  server CPU µs/point (API arm)', fmt(m('apiSingle', 'cpuUsPerPoint'), 1), '', '', '', '']);
    }
    const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
    console.log(`\nResults (${counted[0]!.n} points in the table at the end)`);
    for (const [i, line] of lines.entries()) {
      console.log(line.map((cell, j) => (j === 0 || j === 4 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join('  ').trimEnd());
      if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    }
  } finally {
    await cleanup();
  }
  if (!ONLY) await latePoints();
}

// ---------------------------------------------------------------------------------------------
// 3. Late points (#12b): no write waits for a refresh, so a batch 2 hours or 3 days old should
// ingest about as fast as a current one (goal ≥ 0.7×), and be in the next query.

const LATE_POINTS = Number(process.env.BENCH_LATE_POINTS ?? 5_000);
const LATE_AGES = { current: 0, '2 hours': 2 * 3_600_000, '3 days': 3 * 86_400_000 } as const;
type LateArm = keyof typeof LATE_AGES;

/** `count` rows over every series, 1 ms apart, ending `age` (plus a minute) before now, shifted by `round` seconds so rounds do not overlap. */
function lateRows(count: number, age: number, round: number): Row[] {
  return makeRows(count).map((row) => ({ ...row, time: new Date(Date.parse(row.time) - age - round * (count + 1_000)).toISOString() }));
}

async function latePoints() {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-late-'));
  let server: ChildProcess | undefined;
  try {
    console.log(`\n3. late points: embedded engine, ${ROUNDS} rounds × ${LATE_POINTS} points per arm, ${BATCH_CLIENTS} clients × ${BATCH}-item recordMetrics`);
    const started = await startServer({ DATA_DIR: dataDir, OPERATOR_TOKEN, ...serverEnvFromBench() });
    server = started.child;
    baseUrl = started.url;
    // A connection per request: the embedded engine runs on the server's event loop, and a busy
    // loop can close a kept-alive socket just as the client reuses it (a reset, not an answer).
    agent.destroy();
    agent = new Agent({ keepAlive: false, maxSockets: 64 });
    const created = await gql<{ createTenant: { adminKey: { key: string } } }>(
      'mutation($input: CreateTenantInput!) { createTenant(input: $input) { adminKey { key } } }',
      { input: { name: 'bench-late' } },
      OPERATOR_TOKEN,
    );
    apiKey = created.createTenant.adminKey.key;
    // Warm-up: every series created, each arm's path run once.
    const arms = Object.keys(LATE_AGES) as LateArm[];
    const sent = Object.fromEntries(arms.map((arm) => [arm, { n: 0, from: Infinity, to: -Infinity }])) as Record<LateArm, { n: number; from: number; to: number }>;
    const send = (arm: LateArm, rows: Row[]) => {
      const s = sent[arm];
      s.n += rows.length;
      for (const row of [rows[0]!, rows.at(-1)!]) {
        s.from = Math.min(s.from, Date.parse(row.time));
        s.to = Math.max(s.to, Date.parse(row.time));
      }
      return apiBatches(rows, { server: server!.pid });
    };
    for (const arm of arms) await send(arm, lateRows(SERIES.length * 5, LATE_AGES[arm], -1));

    const results: Record<LateArm, RoundResult[]> = { current: [], '2 hours': [], '3 days': [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Rotating order: no arm always runs first or last.
      for (let k = 0; k < arms.length; k++) {
        const arm = arms[(round + k) % arms.length]!;
        const r = await send(arm, lateRows(LATE_POINTS, LATE_AGES[arm], round));
        results[arm].push(r);
        console.log(`  round ${round + 1} ${arm.padEnd(8)} ${fmt(r.rate).padStart(8)}/s  server cpu ${fmt(r.cpuUsPerPoint, 1)} µs/point`);
      }
    }

    // The next query: every point of each arm, counted exactly (the warm-up's too).
    const checks: string[] = [];
    for (const arm of arms) {
      const from = new Date(sent[arm].from);
      const to = new Date(sent[arm].to + 1);
      const answer = await gql<{ metricAggregates: { series: Array<{ buckets: Array<{ count: number }> }>; metadata: { sources: string[] } } }>(
        `query($input: AggregateQueryInput!) { metricAggregates(input: $input) { series { buckets { count } } metadata { sources } } }`,
        // MINUTE buckets from the first point's second: as exact as the question can be asked.
        { input: { metrics: METRICS.map((m) => m.name), from: from.toISOString(), to: to.toISOString(), granularity: 'MINUTE', limit: 10_000 } },
      );
      const counted = answer.metricAggregates.series.reduce((n, s) => n + s.buckets.reduce((m, b) => m + b.count, 0), 0);
      checks.push(`  ${arm.padEnd(8)} sent ${sent[arm].n}, the next query counts ${counted} (${answer.metricAggregates.metadata.sources.join('+')}): ${counted === sent[arm].n ? 'PASS' : 'FAIL'}`);
    }

    const rate = (arm: LateArm) => median(results[arm].map((r) => r.rate));
    const cpu = (arm: LateArm) => median(results[arm].map((r) => r.cpuUsPerPoint!));
    console.log('\nLate points (embedded engine, medians of rounds; baseline: current points in the same run)');
    console.log('  arm       points/s   × current   goal     server cpu µs/point');
    for (const arm of arms) {
      const ratio = rate(arm) / rate('current');
      console.log(`  ${arm.padEnd(8)} ${fmt(rate(arm)).padStart(9)}   ${fmt(ratio, 2).padStart(9)}   ${arm === 'current' ? '        ' : `≥ 0.70 ${ratio >= 0.7 ? 'PASS' : 'FAIL'}`}   ${fmt(cpu(arm), 1)}`);
    }
    console.log(checks.join('\n'));
  } finally {
    if (server) await Promise.race([stopServer(server), new Promise((r) => setTimeout(r, 15_000))]);
    agent.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
