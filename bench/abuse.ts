/**
 * Issue 16's goal as a benchmark: while a client sends the most expensive requests each limit
 * still allows, /health/live answers within 250 ms at p99, the service's RSS stays under
 * 512 MB, and no request ends the process.
 *
 * The service runs as a child process (embedded engine, or BENCH_DATABASE_URL's server) with
 * its default limits. Rounds alternate: an idle round (the baseline: /health/live alone) and an
 * attack round (ABUSE_CLIENTS clients each sending the costliest requests in turn), both
 * probing /health/live every 50 ms. Reported: p50/p99 of the probe in each, the service's
 * peak RSS broken down (its /metrics every second: V8 heap, external memory and its
 * ArrayBuffers, the embedded engine's WASM memory), and whether it survived.
 *
 *   npx tsx bench/abuse.ts                       # 3 rounds of 20 s each
 *   ABUSE_ROUNDS=1 ABUSE_ROUND_MS=10000 npx tsx bench/abuse.ts
 *   ABUSE_EACH=1 npx tsx bench/abuse.ts          # then each attack alone for a round: which one holds the loop
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase, rssBytes, serverEnvFromBench, startServer, stopServer } from './servers.js';

const ROUNDS = Number(process.env.ABUSE_ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ABUSE_ROUND_MS ?? 20_000);
const CLIENTS = Number(process.env.ABUSE_CLIENTS ?? 2);
const OPERATOR = 'bench-operator-token-0123456789';
const MINUTE = 60_000;

const dataDir = process.env.BENCH_DATABASE_URL ? null : mkdtempSync(join(tmpdir(), 'mg-abuse-'));
const database = process.env.BENCH_DATABASE_URL ? await freshDatabase(process.env.BENCH_DATABASE_URL) : null;
const { child, url } = await startServer({ ...serverEnvFromBench(), OPERATOR_TOKEN: OPERATOR, ...(database ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir! }) });
let exitCode: number | null = null;
child.once('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : -1)));

async function gql(query: string, variables: Record<string, unknown>, token: string): Promise<any> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  return response.json();
}

const tenant = await gql('mutation { createTenant(input: { name: "abuse" }) { adminKey { key } } }', {}, OPERATOR);
const key: string = tenant.data.createTenant.adminKey.key;
// A few series with points over the last hours, and a definition over them: the attacks read real data.
const now = Math.floor(Date.now() / MINUTE) * MINUTE;
await gql(
  'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }',
  { m: Array.from({ length: 500 }, (_, i) => ({ name: 'abuse.latency', type: 'HISTOGRAM', value: (i % 97) + 1, timestamp: new Date(now - (i % 240) * MINUTE).toISOString(), tags: { host: `h${i % 5}` } })) },
  key,
);
await gql('mutation { createMetricDefinition(input: { name: "abuse.double", formula: "avg(abuse.latency) * 2" }) { definition { id } } }', {}, key);
/**
 * Dense data, so the attacks read rows and not only empty buckets: DENSE_SERIES histogram
 * series with a point every other minute over the widest MINUTE range a grouped query over all
 * of them passes QUERY_MAX_CELLS with (20 × 9 999 buckets = 199 980 cells, 99 980 with points).
 */
const DENSE_SERIES = Number(process.env.ABUSE_DENSE_SERIES ?? 20);
const DENSE_BUCKETS = Math.floor(200_000 / DENSE_SERIES) - 1;
const densePoints = Array.from({ length: DENSE_SERIES * Math.ceil(DENSE_BUCKETS / 2) }, (_, i) => ({
  name: 'abuse.dense',
  type: 'HISTOGRAM',
  value: (i % 89) + 1,
  timestamp: new Date(now - Math.floor(i / DENSE_SERIES) * 2 * MINUTE).toISOString(),
  tags: { host: `d${i % DENSE_SERIES}` },
}));
const loaded = performance.now();
// 500 points a request (MAX_BATCH_SIZE), four requests at a time.
for (let i = 0; i < densePoints.length; i += 2_000) {
  await Promise.all([0, 500, 1_000, 1_500].map(async (at) => {
    const batch = densePoints.slice(i + at, i + at + 500);
    if (batch.length === 0) return;
    const answer = await gql('mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }', { m: batch }, key);
    if (answer.errors || answer.data.recordMetrics.accepted !== batch.length) throw new Error(`dense data not recorded: ${JSON.stringify(answer.errors ?? answer.data)}`);
  }));
}
console.log(`dense data: ${densePoints.length} points in ${DENSE_SERIES} series over ${DENSE_BUCKETS} minutes, recorded in ${((performance.now() - loaded) / 1000).toFixed(1)} s`);

const ERA = { from: '0001-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z' };
/**
 * The widest MINUTE range ending now that a request over `series` series still passes `cells`
 * (QUERY_MAX_CELLS, FORMULA_MAX_COST and EXPORT_MAX_ROWS are series × buckets, default 200 000,
 * 200 000 and 100 000) and QUERY_MAX_BUCKETS (100 000): the most each limit allows, not a
 * request refused at once. The data has 5 series (hosts).
 */
const widest = (series: number, cells = 200_000) => {
  const buckets = Math.min(99_000, Math.floor(cells / series) - 1);
  return { from: new Date(now - buckets * MINUTE).toISOString(), to: new Date(now).toISOString(), granularity: 'MINUTE' };
};
const AGG = 'query($i: AggregateQueryInput!) { metricAggregates(input: $i) { nextCursor series { tags buckets { start count avg p99 value } } } }';
const attacks: Array<[string, () => Promise<unknown>]> = [
  ['era at MINUTE, no series (refused)', () => gql(AGG, { i: { metrics: ['abuse.latency'], ...ERA, granularity: 'MINUTE', tags: { host: 'none' } } }, key)],
  ['widest range, fill ZERO, 5 series, a 10 000-bucket page', () => gql(AGG, { i: { metrics: ['abuse.latency'], ...widest(5), groupBy: ['host'], fill: 'ZERO' } }, key)],
  ['widest range, fill ZERO, 1 series over 99 000 buckets, a 10 000-bucket page', () => gql(AGG, { i: { metrics: ['abuse.latency'], ...widest(1), tags: { host: 'h0' }, fill: 'ZERO' } }, key)],
  ['widest range, fill PREVIOUS, a definition over 5 series', () => gql(AGG, { i: { metrics: ['abuse.double'], ...widest(5), fill: 'PREVIOUS' } }, key)],
  ['previewMetricDefinition over the era (refused)', () => gql('query($i: PreviewMetricDefinitionInput!) { previewMetricDefinition(input: $i) { cost { cells } } }', { i: { formula: 'avg(abuse.latency)', ...ERA, granularity: 'MINUTE' } }, key)],
  // A preview is one page: its range may span at most MAX_LIMIT (10 000) buckets.
  ['previewMetricDefinition over a page of MINUTE buckets, 5 groups', () => gql('query($i: PreviewMetricDefinitionInput!) { previewMetricDefinition(input: $i) { cost { cells } series { buckets { value } } } }', { i: { formula: 'avg(abuse.latency)', ...widest(1, 10_001), groupBy: ['host'] } }, key)],
  ['dense: 20 series × 9 999 MINUTE buckets, half with points, grouped, avg and p99, a 10 000-bucket page', () =>
    gql(AGG, { i: { metrics: ['abuse.dense'], from: new Date(now - DENSE_BUCKETS * MINUTE).toISOString(), to: new Date(now).toISOString(), granularity: 'MINUTE', groupBy: ['host'] } }, key)],
  ['dense: previewMetricDefinition of a page of MINUTE buckets over 20 series (read in windows)', () =>
    gql('query($i: PreviewMetricDefinitionInput!) { previewMetricDefinition(input: $i) { cost { cells } series { buckets { value } } } }', { i: { formula: 'p99(abuse.dense) * 2', ...widest(1, 10_001) } }, key)],
  ['dense: export of 20 series × 4 999 MINUTE buckets (99 980 rows, half with points)', async () => {
    const response = await fetch(`${url}/export?query=${encodeURIComponent(JSON.stringify({ metrics: ['abuse.dense'], ...widest(DENSE_SERIES, 100_000), groupBy: ['host'] }))}`, { headers: { authorization: `Bearer ${key}` } });
    if (!response.ok) return response.json();
    const reader = response.body!.getReader();
    while (!(await reader.read()).done);
    return {};
  }],
  ['nested lists at the complexity limit', () => gql('{ metricDefinitions(limit: 200) { name versions { version formula metrics groupBy } } }', {}, key)],
  ['10 000-level nested Tags literal (refused)', () => gql(`{ latestValue(metric: "abuse.latency", tags: ${'{ a: '.repeat(10_000)}"x"${' }'.repeat(10_000)}) { value } }`, {}, key)],
  ['export of the widest range, fill ZERO, 5 series (100 000 rows)', async () => {
    const response = await fetch(`${url}/export?query=${encodeURIComponent(JSON.stringify({ metrics: ['abuse.latency'], ...widest(5, 100_000), groupBy: ['host'], fill: 'ZERO' }))}`, { headers: { authorization: `Bearer ${key}` } });
    if (!response.ok) return response.json();
    const reader = response.body!.getReader();
    while (!(await reader.read()).done);
    return {};
  }],
];
/** Probes /health/live every 50 ms until `stop`; returns the latencies (ms). */
async function probe(stop: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!stop()) {
    const started = performance.now();
    try {
      await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(30_000) });
      latencies.push(performance.now() - started);
    } catch {
      latencies.push(30_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return latencies;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

/** What the service's memory is made of, from its own /metrics (bytes). */
type Memory = { rss: number; heap: number; heapUsed: number; external: number; arrayBuffers: number; wasm: number };
async function memory(): Promise<Memory | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text().catch(() => '');
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  if (!text) return undefined;
  return {
    rss: value('process_resident_memory_bytes'),
    heap: value('nodejs_heap_size_total_bytes'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    external: value('nodejs_external_memory_bytes'),
    arrayBuffers: value('metrograph_nodejs_array_buffers_bytes'),
    wasm: value('metrograph_embedded_engine_memory_bytes'),
  };
}
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
/**
 * The main thread's V8 heap and external memory, and the embedded engine's WASM memory, which
 * lives on the engine's own thread (src/db/embedded-thread.js) and so is in neither.
 */
const describe = (m: Memory | undefined) => {
  if (!m) return 'no /metrics';
  const embedded = !Number.isNaN(m.wasm);
  const wasm = embedded ? m.wasm : 0;
  const engine = embedded ? ` + the engine thread's WASM memory ${mb(wasm)}` : '';
  const rest = embedded ? "code, the engine thread's V8 heap, malloc arenas, the node binary" : 'code, malloc arenas, the node binary';
  return `RSS ${mb(m.rss)} = V8 heap ${mb(m.heap)} (in use ${mb(m.heapUsed)}) + external ${mb(m.external)} (ArrayBuffers ${mb(m.arrayBuffers)})${engine} + the rest (${rest}) ${mb(m.rss - m.heap - m.external - wasm)}`;
};

// RSS with the data loaded and nothing running: on the embedded engine most of it is PGlite's WASM heap.
const startRss = rssBytes(child.pid);
const startMemory = await memory();
/** Each attack once before the rounds: one that is refused where it should be answered is a fault of the benchmark, not a result. */
for (const [name, attack] of attacks) {
  if (name.includes('(refused)')) continue;
  const answer = (await attack()) as { errors?: Array<{ message: string }> };
  if (answer.errors) throw new Error(`${name}: refused (${answer.errors[0]!.message}); the benchmark must send what the limits allow`);
}
let peakRss = startRss;
let peakMemory = startMemory;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(child.pid) || 0)), 100);
// The breakdown at the highest RSS /metrics saw (sampled each second: the scrape costs a little).
const memoryTimer = setInterval(() => void memory().then((m) => m && m.rss > (peakMemory?.rss ?? 0) && (peakMemory = m)).catch(() => {}), 1_000);
const idle: number[] = [];
const attacked: number[] = [];
const attackTimes = new Map<string, number[]>();
for (let round = 0; round < ROUNDS && exitCode === null; round++) {
  let done = false;
  const timer = setTimeout(() => (done = true), ROUND_MS);
  idle.push(...(await probe(() => done)));
  clearTimeout(timer);
  done = false;
  const attackTimer = setTimeout(() => (done = true), ROUND_MS);
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = c; !done && exitCode === null; i++) {
      const [name, attack] = attacks[i % attacks.length]!;
      const started = performance.now();
      await attack().catch(() => {});
      attackTimes.set(name, [...(attackTimes.get(name) ?? []), performance.now() - started]);
    }
  });
  attacked.push(...(await probe(() => done)));
  await Promise.all(clients);
  clearTimeout(attackTimer);
}
/** With ABUSE_EACH=1: each attack alone (ABUSE_CLIENTS clients sending only it) for one round, probed the same way. */
const each = new Map<string, number[]>();
/** The memory after each attack alone: which one grows what (the WASM memory never shrinks). */
const eachMemory = new Map<string, Memory | undefined>();
if (process.env.ABUSE_EACH === '1') {
  for (const [name, attack] of attacks) {
    if (exitCode !== null) break;
    let done = false;
    const timer = setTimeout(() => (done = true), ROUND_MS);
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (!done && exitCode === null) await attack().catch(() => {});
    });
    each.set(name, await probe(() => done));
    await Promise.all(clients);
    clearTimeout(timer);
    eachMemory.set(name, await memory());
  }
}
clearInterval(rssTimer);
clearInterval(memoryTimer);

const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(`engine: ${database ? 'PostgreSQL (BENCH_DATABASE_URL)' : 'embedded PGlite + TimescaleDB'}; ${ROUNDS} idle and ${ROUNDS} attack rounds of ${ROUND_MS} ms, ${CLIENTS} attacking clients`);
console.log('attack requests (median time each):');
for (const [name, times] of attackTimes) console.log(`  ${name}: ${times.length} sent, median ${ms(quantile(times, 0.5))}`);
console.log(`/health/live p50: idle ${ms(quantile(idle, 0.5))}, under attack ${ms(quantile(attacked, 0.5))}`);
console.log(`/health/live p99: idle ${ms(quantile(idle, 0.99))} (baseline), under attack ${ms(quantile(attacked, 0.99))} (goal < 250 ms) → ${quantile(attacked, 0.99) < 250 ? 'met' : 'NOT met'}`);
for (const [name, latencies] of each) {
  const m = eachMemory.get(name);
  console.log(`  alone: ${name}: /health/live p99 ${ms(quantile(latencies, 0.99))}, max ${ms(Math.max(...latencies))}; after it: RSS ${m ? mb(m.rss) : '?'}, V8 heap ${m ? `${mb(m.heap)} (in use ${mb(m.heapUsed)})` : '?'}, WASM ${m ? mb(m.wasm) : '?'}`);
}
console.log(`peak RSS of the service: ${(peakRss / 2 ** 20).toFixed(0)} MB, at rest before the rounds ${(startRss / 2 ** 20).toFixed(0)} MB (goal < 512 MB) → ${peakRss < 512 * 2 ** 20 ? 'met' : 'NOT met'}`);
console.log(`  at rest: ${describe(startMemory)}`);
console.log(`  at the highest RSS sampled: ${describe(peakMemory)}`);
console.log(`process: ${exitCode === null ? 'alive after every request (goal met)' : `EXITED with ${exitCode} (goal NOT met)`}`);
await stopServer(child);
await database?.drop();
if (dataDir) rmSync(dataDir, { recursive: true, force: true });
