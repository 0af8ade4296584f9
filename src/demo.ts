/**
 * `npm run demo`: live sample metrics, so a newcomer has something to look at. Every second it
 * records what a small web service would: requests by route and status (COUNTER), their
 * latencies in ms (HISTOGRAM), memory and CPU of two hosts and a queue's depth (GAUGE), with
 * the last 15 minutes written first so the dashboard's charts have a past.
 *
 * Where: METROGRAPH_URL with METROGRAPH_API_KEY (a running service, any engine); otherwise a
 * service of its own on the embedded engine, in memory, on PORT (or a free port), whose URL
 * and key it prints. Ctrl-C stops it cleanly: the batch in flight finishes, then the service.
 */
import { parseEnv } from './env.js';
import { createLogger } from './log.js';
import { createTenant } from './db/tenants.js';
import { createServer, openDeps } from './server.js';
import { portTaken } from './startup.js';

interface Point {
  name: string;
  value: number;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM';
  unit?: string;
  tags?: Record<string, string>;
  timestamp: string;
}

const ROUTES = [
  // route, requests a second, median latency in ms
  { route: '/api/orders', rate: 12, median: 45 },
  { route: '/api/search', rate: 20, median: 120 },
  { route: '/login', rate: 4, median: 80 },
  { route: '/health', rate: 2, median: 3 },
];
const HOSTS = ['web-1', 'web-2'];
const TICK_MS = 1_000;
const BACKFILL_MS = 15 * 60_000;
const BACKFILL_STEP_MS = 10_000;

/** A standard normal draw (Box–Muller). */
const normal = () => Math.sqrt(-2 * Math.log(Math.random() + 1e-12)) * Math.cos(2 * Math.PI * Math.random());
/** Poisson-ish count around `mean` (normal approximation, never negative). */
const count = (mean: number) => Math.max(0, Math.round(mean + Math.sqrt(mean) * normal()));

/**
 * The points of `seconds` seconds ending at `at`: a slow wave over the hour so charts move,
 * latencies log-normal around each route's median (observations sampled, at most 5 per route
 * and tick), a few 404s and 500s, a queue that fills and drains.
 */
function samplePoints(at: number, seconds: number): Point[] {
  const timestamp = new Date(at).toISOString();
  const wave = 1 + 0.4 * Math.sin((2 * Math.PI * at) / 3_600_000);
  const points: Point[] = [];
  for (const { route, rate, median } of ROUTES) {
    const requests = count(rate * wave * seconds);
    const errors = route === '/health' ? 0 : count(requests * 0.02);
    const missing = route === '/health' ? 0 : count(requests * 0.01);
    const byStatus: Array<[string, number]> = [
      ['200', Math.max(0, requests - errors - missing)],
      ['404', missing],
      ['500', errors],
    ];
    for (const [status, n] of byStatus) if (n > 0) points.push({ name: 'http.requests', value: n, type: 'COUNTER', unit: 'requests', tags: { route, status }, timestamp });
    for (let i = 0; i < Math.min(5, requests); i++) {
      const ms = median * wave * Math.exp(0.5 * normal());
      points.push({ name: 'http.latency', value: Math.round(ms * 100) / 100, type: 'HISTOGRAM', unit: 'ms', tags: { route }, timestamp });
    }
  }
  HOSTS.forEach((host, i) => {
    points.push({ name: 'process.memory', value: Math.round(310 + 40 * i + 30 * wave + 5 * normal()), type: 'GAUGE', unit: 'MB', tags: { host }, timestamp });
    points.push({ name: 'cpu.usage', value: Math.min(100, Math.max(0, Math.round((35 * wave + 10 * i + 4 * normal()) * 10) / 10)), type: 'GAUGE', unit: '%', tags: { host }, timestamp });
  });
  points.push({ name: 'queue.depth', value: Math.max(0, Math.round(20 + 18 * Math.sin((2 * Math.PI * at) / 300_000) + 3 * normal())), type: 'GAUGE', unit: 'jobs', timestamp });
  return points;
}

const RECORD = `mutation Demo($metrics: [MetricInput!]!) { recordMetrics(input: { metrics: $metrics }) { accepted failed { index code } } }`;

/** Records points in batches of at most 500 (the default MAX_BATCH_SIZE); throws on a refused request. */
async function record(url: string, key: string, points: Point[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < points.length; i += 500) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: RECORD, variables: { metrics: points.slice(i, i + 500) } }),
    });
    const body = (await response.json()) as { data?: { recordMetrics: { accepted: number } }; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    if (!body.data) throw new Error(body.errors?.map((e) => `${e.extensions?.code}: ${e.message}`).join('; ') ?? `HTTP ${response.status}`);
    accepted += body.data.recordMetrics.accepted;
  }
  return accepted;
}

/** The service to write to: the one named by METROGRAPH_URL, or one of our own (embedded, in memory). */
async function target(): Promise<{ url: string; key: string; close(): Promise<void> }> {
  const url = process.env.METROGRAPH_URL?.replace(/\/$/, '');
  const key = process.env.METROGRAPH_API_KEY;
  if (url || key) {
    if (!url || !key) throw new Error('Set both METROGRAPH_URL and METROGRAPH_API_KEY (a key with a writer role), or neither to run a demo service of its own.');
    return { url, key, close: async () => {} };
  }
  const env = parseEnv({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const port = (await portTaken(env.PORT, '127.0.0.1')) ? 0 : env.PORT;
  if (port === 0) console.log(`Port ${env.PORT} is taken (your own service?). To fill it instead: METROGRAPH_URL=http://localhost:${env.PORT} METROGRAPH_API_KEY=<key> npm run demo`);
  console.log('Starting a demo service on the embedded engine, in memory (about 20 s)…');
  const deps = await openDeps(env, createLogger(env.LOG_LEVEL), { embeddedDataDir: null });
  const server = createServer(deps);
  const base = (await server.start(port, '127.0.0.1')).replace('127.0.0.1', 'localhost');
  const { key: adminKey } = await createTenant(deps.db.kysely, 'demo');
  console.log(`\nDemo service: ${base}/ (dashboard), ${base}/graphql (GraphiQL)\nIts tenant "demo" has this ADMIN key (paste it into the dashboard):\n\n  ${adminKey}\n`);
  return {
    url: base,
    key: adminKey,
    async close() {
      await server.stop();
      await deps.close();
    },
  };
}

async function main() {
  const service = await target();
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    if (stopping) process.exit(130); // a second Ctrl-C: at once
    stopping = true;
    console.log('\nStopping…');
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const now = Date.now();
  const past: Point[] = [];
  for (let at = now - BACKFILL_MS; at < now; at += BACKFILL_STEP_MS) past.push(...samplePoints(at, BACKFILL_STEP_MS / 1000));
  console.log(`Writing the last 15 minutes (${past.length} points)…`);
  let total = await record(service.url, service.key, past);
  console.log(`Recording live every second to ${service.url} — metrics http.requests, http.latency (ms), process.memory (MB), cpu.usage (%), queue.depth. Ctrl-C stops.`);
  let lastReport = Date.now();
  while (!stopping) {
    try {
      total += await record(service.url, service.key, samplePoints(Date.now(), TICK_MS / 1000));
    } catch (error) {
      console.error(`A batch was refused: ${(error as Error).message}`);
    }
    if (Date.now() - lastReport >= 10_000) {
      console.log(`  ${total} points recorded`);
      lastReport = Date.now();
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, TICK_MS);
    });
  }
  await service.close();
  console.log(`Stopped after ${total} points.`);
  process.exit(0);
}

await main();
