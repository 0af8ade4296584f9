/**
 * `npm run bench:query`: aggregates from the continuous aggregates against percentile_cont over
 * raw points, on the embedded TimescaleDB, same data, same run. Not a test.
 *
 * The density axis: one metric per density (DENSITIES, default 30,180,720 points per
 * series-hour) over the same SERIES series (default 12: 4 hosts × 3 regions) and DAYS days
 * (default 1), values exp(N(3, 1.2)) (a heavy right tail), written by the owner in one statement
 * per metric, then every continuous aggregate refreshed. The question, for each density: count,
 * avg, p50, p95, p99 per region and hour over the whole range,
 *   (a) metricAggregates through GraphQL over HTTP (served from the aggregates: see `source`)
 *   (b) percentile_cont over the metric's raw points (its series looked up first, then their
 *       points by index), as the application role through the same tenant view the API reads
 *       (the same security path)
 * Arms alternate (a b a b …), RUNS times each (default 5), after one uncached answer of every
 * density (the process's warm-up belongs to no arm); figures are medians. The API's cost
 * should follow series × buckets, not points: the time ratio between densities is printed.
 * Then EXPLAIN of the aggregate reads through the tenant views (index use), the cached latency,
 * and the GraphQL overhead (Yoga against a bare node:http handler calling the same service).
 *
 * BIG=1 adds the 30-day question at the issue's size (BIG_SERIES 240, BIG_POINTS 5 000 000 over
 * 30 days, ~29 points per series-hour): one uncached API answer against the 1 s goal and raw
 * percentile_cont, once each (minutes to load).
 *
 * BENCH_DATA_DIR keeps the database between runs (loaded once, reused when present).
 */
import { mkdtempSync, rmSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { bearerToken } from '../src/auth.js';
import type { TenantPrincipal } from '../src/context.js';
import { createTenant } from '../src/db/tenants.js';
import { withTenant } from '../src/db/tenant.js';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { aggregateInputSchema } from '../src/query/aggregate-input.js';
import { answerQuery } from '../src/query/answer-query.js';
import { NO_CACHE } from '../src/query/cache.js';
import { createServer, openDeps } from '../src/server.js';

const DENSITIES = (process.env.DENSITIES ?? '30,180,720').split(',').map(Number);
const HOSTS = Number(process.env.HOSTS ?? 4);
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const DAYS = Number(process.env.DAYS ?? 1);
const RUNS = Number(process.env.RUNS ?? 5);
const BIG = process.env.BIG === '1';
const BIG_SERIES = Number(process.env.BIG_SERIES ?? 240);
const BIG_POINTS = Number(process.env.BIG_POINTS ?? 5_000_000);
const BIG_DAYS = 30;

interface Arm {
  metric: string;
  hosts: number;
  days: number;
  /** Points per series-hour. */
  density: number;
}
const ARMS: Arm[] = DENSITIES.map((density) => ({ metric: `latency.d${density}`, hosts: HOSTS, days: DAYS, density }));
const BIG_ARM: Arm = { metric: 'latency.big', hosts: Math.round(BIG_SERIES / REGIONS.length), days: BIG_DAYS, density: BIG_POINTS / BIG_SERIES / (BIG_DAYS * 24) };
const METRICS = [...ARMS, ...(BIG ? [BIG_ARM] : [])];

const keep = process.env.BENCH_DATA_DIR;
const dir = keep ?? mkdtempSync(join(tmpdir(), 'mg-bench-query-'));
const marker = join(dir, 'metrograph-bench.json');
// The data ends at the start of today (UTC), inside every retention: the aggregates' own
// choice of source, not a retention horizon, decides what answers. Kept with the data.
const END: number = existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as { end: number }).end : Math.floor(Date.now() / 86_400_000) * 86_400_000;
const env = parseEnv({
  LOG_LEVEL: 'silent',
  AGGREGATE_REFRESH: 'off',
  RETENTION_CRON: 'off',
  REPORT_ROLLUP_CRON: 'off',
  ALERT_EVALUATION_CRON: 'off',
  // Nothing is written while the arms run, so the late-points job would only check (every 15 s).
  // A raw query holds the embedded engine's loop for seconds, and node-cron then runs the missed
  // ticks at once, beside the next API call: noise in the API's medians, not part of its cost.
  LATE_POINTS_CRON: 'off',
  BOOTSTRAP_DEV_TENANT: 'false',
  QUERY_TIMEOUT_MS: '300000',
  QUERY_MAX_CELLS: '100000000',
  PORT: '0',
  HOST: '127.0.0.1',
  // To compare the embedded engine's buffer sizes (issue 16).
  ...(process.env.EMBEDDED_SHARED_BUFFERS_MB ? { EMBEDDED_SHARED_BUFFERS_MB: process.env.EMBEDDED_SHARED_BUFFERS_MB } : {}),
});
const deps = await openDeps(env, createLogger('silent'), { embeddedDataDir: dir });
const kysely = deps.db.kysely;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------------------
// Data

async function load(): Promise<{ tenantId: string; key: string }> {
  const shape = JSON.stringify(METRICS);
  if (existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, 'utf8')) as { tenantId: string; key: string; shape: string };
    if (saved.shape === shape) return saved;
    throw new Error(`${dir} holds other data; remove it or change BENCH_DATA_DIR`);
  }
  const { tenant, key } = await createTenant(kysely, 'bench-query');
  const started = performance.now();
  await withTenant(kysely, tenant.id, async (trx) => {
    for (const arm of METRICS) {
      await sql`
        with m as (insert into metrics (tenant_id, name, type, unit) values (${tenant.id}, ${arm.metric}, 'HISTOGRAM', 'ms') returning id)
        insert into series (tenant_id, metric_id, tags)
        select ${tenant.id}, m.id, jsonb_build_object('host', 'h' || h, 'region', (${REGIONS}::text[])[r])
        from m, generate_series(1, ${arm.hosts}) h, generate_series(1, ${REGIONS.length}) r`.execute(trx);
    }
  });
  // Owner writes: the bench's data, not an API path under test. One statement per metric.
  for (const arm of METRICS) {
    const step = 3600 / arm.density;
    const start = END - arm.days * 86_400_000;
    await sql`
      insert into points (tenant_id, series_id, time, value, id)
      select ${tenant.id}, s.id,
        ${new Date(start)}::timestamptz + make_interval(secs => i * ${step}::float8 + random() * ${step}::float8),
        exp(3 + 1.2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())), gen_random_uuid()
      from series s join metrics m on m.id = s.metric_id and m.name = ${arm.metric},
        generate_series(0, ${Math.floor((arm.days * 86_400) / step) - 1}::int) i`.execute(kysely);
    console.log(`  ${arm.metric}: ${(arm.hosts * REGIONS.length).toLocaleString('en')} series × ${arm.days} d at ${arm.density.toFixed(0)} points per series-hour written (${seconds(performance.now() - started)})`);
  }
  const refreshStarted = performance.now();
  await deps.aggregates.refreshAll();
  console.log(`  continuous aggregates refreshed in ${seconds(performance.now() - refreshStarted)}`);
  writeFileSync(marker, JSON.stringify({ tenantId: tenant.id, key, shape, end: END }));
  return { tenantId: tenant.id, key };
}

console.log(`bench:query  embedded TimescaleDB; densities ${DENSITIES.join(', ')} points per series-hour over ${HOSTS * REGIONS.length} series × ${DAYS} d; ${RUNS} runs per arm${BIG ? `; BIG: ${BIG_SERIES} series × ${BIG_DAYS} d, ${BIG_POINTS.toLocaleString('en')} points` : ''}`);
const { tenantId, key } = await load();
// A kept database: bring the aggregates (and the planner's statistics, src/ops/statistics.ts) up to date.
await deps.aggregates.refreshAll();
const counts = await sql<{ level: string; rows: number }>`
  select 'points' as level, count(*)::int as rows from points
  union all select 'sketch_1m', count(*)::int from sketch_1m
  union all select 'sketch_1h', count(*)::int from sketch_1h
  union all select 'stats_1h', count(*)::int from stats_1h`.execute(kysely);
console.log(`  rows: ${counts.rows.map((r) => `${r.level} ${r.rows.toLocaleString('en')}`).join(', ')}`);

// ---------------------------------------------------------------------------------------------
// The three servers: Yoga with the cache, Yoga without it, and a bare handler without it.

const cached = createServer(deps);
const uncached = createServer({ ...deps, queryCache: NO_CACHE });
const cachedUrl = `${await cached.start()}/graphql`;
const uncachedUrl = `${await uncached.start()}/graphql`;

const bare: HttpServer = createHttpServer(async (req, res) => {
  try {
    let body = '';
    for await (const chunk of req) body += chunk;
    const principal = (await deps.auth.authenticate(bearerToken(req.headers.authorization))) as TenantPrincipal;
    const input = aggregateInputSchema.parse(reviveInput((JSON.parse(body) as { variables: { input: Record<string, unknown> } }).variables.input));
    const { result } = await answerQuery({ ...deps, queryCache: NO_CACHE }, principal, input.query, true);
    const series = result.series.map((s) => ({
      metric: s.metric,
      tags: s.tags,
      buckets: s.buckets.map((b) => ({ start: b.start.toISOString(), count: b.count, avg: b.avg, p50: b.p50, p95: b.p95, p99: b.p99 })),
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ data: { metricAggregates: { series, metadata: { source: result.sources.join(', ') } } } }));
  } catch (error) {
    res.writeHead(500);
    res.end(String(error));
  }
});
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;

function reviveInput(input: Record<string, unknown>) {
  return { ...input, from: new Date(input.from as string), to: new Date(input.to as string) };
}

const QUERY = `query Bench($input: AggregateQueryInput!) {
  metricAggregates(input: $input) {
    series { metric tags buckets { start count avg p50 p95 p99 } }
    metadata { source fromCache }
  }
}`;

interface Row {
  region: string;
  start: string;
  count: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
}

function post(url: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text.slice(0, 500)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function viaHttp(url: string, metric: string, from: Date, to: Date): Promise<{ ms: number; rows: Row[]; source: string; fromCache: boolean }> {
  const body = JSON.stringify({ query: QUERY, variables: { input: { metrics: [metric], from, to, granularity: 'HOUR', groupBy: ['region'], limit: 10_000 } } });
  const started = performance.now();
  const text = await post(url, body);
  const ms = performance.now() - started;
  const json = JSON.parse(text) as {
    errors?: unknown;
    data: { metricAggregates: { series: Array<{ tags: Record<string, string>; buckets: Array<Omit<Row, 'region'>> }>; metadata: { source: string; fromCache?: boolean } } };
  };
  if (json.errors) throw new Error(JSON.stringify(json.errors));
  const result = json.data.metricAggregates;
  const rows = result.series.flatMap((s) => s.buckets.filter((b) => b.count > 0).map((b) => ({ region: s.tags.region!, ...b, start: new Date(b.start).toISOString() })));
  return { ms, rows, source: result.metadata.source, fromCache: result.metadata.fromCache ?? false };
}

async function viaRaw(metric: string, from: Date, to: Date): Promise<{ ms: number; rows: Row[] }> {
  const started = performance.now();
  const result = await withTenant(
    kysely,
    tenantId,
    // The metric's series first, then their points by the (series, time) index, as the
    // service's own raw reads go: not a scan of every metric's points in the range.
    async (trx) => {
      const { rows: ids } = await sql<{ id: string }>`select s.id from series s join metrics m on m.id = s.metric_id where m.name = ${metric}`.execute(trx);
      return sql<{ region: string; start: Date; count: number; avg: number; q: number[] }>`
        select s.tags->>'region' as region, time_bucket('1 hour', p.time) as start, count(*)::int as count, avg(p.value) as avg,
          percentile_cont(array[0.5, 0.95, 0.99]) within group (order by p.value) as q
        from tenant_points p join series s on s.id = p.series_id
        where p.series_id = any(${ids.map((r) => Number(r.id))}::bigint[]) and p.time >= ${from} and p.time < ${to}
        group by 1, 2 order by 1, 2`.execute(trx);
    },
    { timeoutMs: 300_000 },
  );
  const ms = performance.now() - started;
  return { ms, rows: result.rows.map((r) => ({ region: r.region, start: r.start.toISOString(), count: r.count, avg: r.avg, p50: r.q[0]!, p95: r.q[1]!, p99: r.q[2]! })) };
}

/** The worst relative error of (a) against (b), per field, and whether every bucket matched. */
function compare(a: Row[], b: Row[]) {
  const byKey = new Map(b.map((r) => [`${r.region} ${r.start}`, r]));
  const worst = { avg: 0, p50: 0, p95: 0, p99: 0 };
  let countMismatches = a.length === b.length ? 0 : Math.abs(a.length - b.length);
  for (const row of a) {
    const exact = byKey.get(`${row.region} ${row.start}`);
    if (!exact) {
      countMismatches++;
      continue;
    }
    if (exact.count !== row.count) countMismatches++;
    for (const field of ['avg', 'p50', 'p95', 'p99'] as const) {
      const error = Math.abs(row[field] - exact[field]) / Math.abs(exact[field]);
      worst[field] = Math.max(worst[field], error);
    }
  }
  return { worst, countMismatches };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

interface Line {
  arm: Arm;
  api: number;
  raw: number;
  source: string;
  buckets: number;
  worst: { avg: number; p50: number; p95: number; p99: number };
  countMismatches: number;
}

/** Medians of interleaved rounds of the API (uncached) and raw percentile_cont over one arm's whole range. */
async function measure(arm: Arm, runs: number): Promise<Line> {
  const to = new Date(END);
  const from = new Date(END - arm.days * 86_400_000);
  const apiTimes: number[] = [];
  const rawTimes: number[] = [];
  let api = await viaHttp(uncachedUrl, arm.metric, from, to); // warm-up: plans, caches of metadata
  let raw = await viaRaw(arm.metric, from, to);
  for (let run = 0; run < runs; run++) {
    if (run % 2 === 0) {
      api = await viaHttp(uncachedUrl, arm.metric, from, to);
      raw = await viaRaw(arm.metric, from, to);
    } else {
      raw = await viaRaw(arm.metric, from, to);
      api = await viaHttp(uncachedUrl, arm.metric, from, to);
    }
    apiTimes.push(api.ms);
    rawTimes.push(raw.ms);
  }
  const { worst, countMismatches } = compare(api.rows, raw.rows);
  return { arm, api: median(apiTimes), raw: median(rawTimes), source: api.source, buckets: api.rows.length, worst, countMismatches };
}

/** EXPLAIN of an aggregate read through a tenant view, as the application role: which indexes serve it. */
async function explain(view: 'tenant_stats_1h' | 'tenant_sketch_1h' | 'tenant_group_stats_1h' | 'tenant_group_sketch_1h', metric: string): Promise<string[]> {
  return withTenant(kysely, tenantId, async (trx) => {
    const range = sql`bucket >= ${new Date(END - 86_400_000)}::timestamptz and bucket < ${new Date(END)}::timestamptz`;
    let where;
    if (view.startsWith('tenant_group_')) {
      const { rows: ids } = await sql<{ id: string }>`select id from metrics where name = ${metric}`.execute(trx);
      where = sql`metric_id = ${Number(ids[0]!.id)} and key = 'region' and ${range}`;
    } else {
      const { rows: ids } = await sql<{ id: string }>`select s.id from series s join metrics m on m.id = s.metric_id where m.name = ${metric} limit 4`.execute(trx);
      where = sql`series_id = any(${ids.map((r) => Number(r.id))}::bigint[]) and ${range}`;
    }
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain (costs off) select * from ${sql.table(view)} where ${where}`.execute(trx);
    return rows.map((r) => r['QUERY PLAN']);
  });
}

const lines: Line[] = [];
let worstError = 0;
try {
  // The process's own warm-up (JIT of the reader, the engine's catalog caches) is charged to no
  // arm: one uncached answer of every density first, then each arm's own warm-up in measure().
  for (const arm of ARMS) await viaHttp(uncachedUrl, arm.metric, new Date(END - arm.days * 86_400_000), new Date(END));
  for (const arm of ARMS) {
    const line = await measure(arm, RUNS);
    lines.push(line);
    worstError = Math.max(worstError, line.worst.p50, line.worst.p95, line.worst.p99);
    console.log(`  ${arm.metric}: API ${ms(line.api)} (${line.source}), raw percentile_cont ${ms(line.raw)}, ${line.buckets} buckets`);
  }

  console.log('\nResults (medians; embedded engine for both arms)');
  console.log('density (points/series-hour)   points       API (aggregates)   raw percentile_cont   speed-up   goal    worst error p50/p95/p99   avg error   count mismatches');
  for (const line of lines) {
    const points = line.arm.hosts * REGIONS.length * line.arm.days * 24 * line.arm.density;
    const goal = line.arm.density >= 180 ? 30 : line.arm.density >= 30 ? 10 : 0;
    const speedup = line.raw / line.api;
    console.log(
      `${String(line.arm.density).padEnd(30)} ${points.toLocaleString('en').padStart(9)}   ${ms(line.api).padStart(16)}   ${ms(line.raw).padStart(19)}   ${`${speedup.toFixed(1)}×`.padStart(8)}   ${goal ? `≥ ${goal}× ${speedup >= goal ? 'PASS' : 'FAIL'}` : ''}   ${[line.worst.p50, line.worst.p95, line.worst.p99].map(pct).join(' / ').padStart(23)}   ${pct(line.worst.avg).padStart(9)}   ${line.countMismatches}`,
    );
  }
  console.log(`  source of the API answers: ${[...new Set(lines.map((l) => l.source))].join(', ')}`);
  const base = lines[0]!;
  for (const line of lines.slice(1)) {
    const ratio = line.api / base.api;
    const more = line.arm.density / base.arm.density;
    console.log(`API time at ${line.arm.density} vs ${base.arm.density} points per series-hour (${more.toFixed(0)}× the points, same series and range): ${ratio.toFixed(2)}× (goal ≤ 1.3× for 10× the points) ${ratio <= 1.3 ? 'PASS' : 'FAIL'}; raw: ${(line.raw / base.raw).toFixed(2)}×`);
  }
  console.log(`goal worst percentile error ≤ 1 %: ${pct(worstError)} ${worstError <= 0.01 ? 'PASS' : 'FAIL'}`);

  console.log('\nEXPLAIN through the tenant views (as the application role): range and series (or metric and tag key) predicates reach the materialisation indexes');
  for (const view of ['tenant_stats_1h', 'tenant_sketch_1h', 'tenant_group_stats_1h', 'tenant_group_sketch_1h'] as const) {
    const plan = await explain(view, ARMS.at(-1)!.metric);
    console.log(`  ${view}:`);
    for (const row of plan.filter((r) => /Index|Filter|Cond|Scan|Append/.test(r)).slice(0, 12)) console.log(`    ${row}`);
  }

  // Cached vs uncached, and Yoga vs a bare handler, on the densest arm.
  const arm = ARMS.at(-1)!;
  const to = new Date(END);
  const from = new Date(END - arm.days * 86_400_000);
  await viaHttp(cachedUrl, arm.metric, from, to);
  const cachedTimes: number[] = [];
  const yogaTimes: number[] = [];
  const bareTimes: number[] = [];
  for (let run = 0; run < RUNS * 4; run++) {
    const hit = await viaHttp(cachedUrl, arm.metric, from, to);
    if (!hit.fromCache) throw new Error('expected a cache hit');
    cachedTimes.push(hit.ms);
  }
  for (let run = 0; run < RUNS * 2; run++) {
    const order = run % 2 === 0 ? [uncachedUrl, bareUrl] : [bareUrl, uncachedUrl];
    for (const url of order) {
      const { ms: time } = await viaHttp(url, arm.metric, from, to);
      (url === bareUrl ? bareTimes : yogaTimes).push(time);
    }
  }
  console.log(`\ncached ${ms(median(cachedTimes))} vs uncached ${ms(median(yogaTimes))}: ${(median(yogaTimes) / median(cachedTimes)).toFixed(1)}× faster from the cache`);
  const overhead = median(yogaTimes) / median(bareTimes);
  console.log(`GraphQL overhead: Yoga ${ms(median(yogaTimes))} vs bare handler ${ms(median(bareTimes))} = ${overhead.toFixed(2)}× (goal ≤ 1.15×) ${overhead <= 1.15 ? 'PASS' : 'FAIL'}`);

  if (BIG) {
    const big = await measure(BIG_ARM, 1);
    console.log(
      `\nBIG ${BIG_SERIES} series × ${BIG_DAYS} d, ${BIG_POINTS.toLocaleString('en')} points: API ${ms(big.api)} uncached (${big.source}; goal ≤ 1000 ms ${big.api <= 1000 ? 'PASS' : 'FAIL'}), raw percentile_cont ${ms(big.raw)}: ${(big.raw / big.api).toFixed(1)}×; worst error ${pct(Math.max(big.worst.p50, big.worst.p95, big.worst.p99))}`,
    );
  } else console.log('\nBIG (30 days, 240 series, 5 M points, goal ≤ 1 s uncached): not run (BIG=1 runs it)');
} finally {
  await cached.stop();
  await uncached.stop();
  await new Promise((resolve) => bare.close(resolve));
  await deps.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
