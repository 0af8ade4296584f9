/**
 * `npm run bench:anomaly`: does the seasonal baseline find anomalies a static threshold
 * misses, without crying wolf, and is metricAnomalies fast enough? Not a test.
 *
 * 1. Detection quality, on the pure module (src/anomaly/baseline.ts; no database, seed
 *    SEED, default 17): SERIES_PER_KIND (default 100) generated hourly series per kind —
 *    spike, dip, level shift, variance change, clean — each with 4 weeks of history and one
 *    judged week (bench/anomaly-quality.ts says how they are made and scored). Precision,
 *    recall and false alarms per series-week for each sensitivity and, on the same series, for
 *    a static threshold tuned on the same history (its min and max: the tightest static band
 *    that raises no alarm over the history).
 * 2. Query latency through GraphQL over HTTP on the embedded engine (BENCH_DATABASE_URL for a
 *    PostgreSQL server instead): SERIES (default 1) series with a point every STEP seconds
 *    (default 300) over 4 weeks + 48 hours, aggregates refreshed; metricAnomalies of the last
 *    48 whole hours (4 weeks of history) against metricAggregates of the same 48 buckets,
 *    RUNS (default 15) interleaved rounds, caches off, medians.
 */
import { sql } from 'kysely';
import { createTenant } from '../src/db/tenants.js';
import { withTenant } from '../src/db/tenant.js';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';
import { SENSITIVITIES } from '../src/anomaly/baseline.js';
import { measureQuality } from './anomaly-quality.js';
import { freshDatabase, median } from './servers.js';

const SEED = Number(process.env.SEED ?? 17);
const SERIES_PER_KIND = Number(process.env.SERIES_PER_KIND ?? 100);
const SERIES = Number(process.env.SERIES ?? 1);
const STEP = Number(process.env.STEP ?? 300);
const RUNS = Number(process.env.RUNS ?? 15);
const HOUR = 3_600_000;

// 1. Detection quality.
let started = performance.now();
const rows = measureQuality(SERIES_PER_KIND, SEED);
console.log(`detection quality: pure module, seed ${SEED}, ${SERIES_PER_KIND} series per kind, 4 weeks of history + 1 judged week each (${((performance.now() - started) / 1000).toFixed(1)} s)`);
console.log('kind             method                      precision  recall  false alarms / series-week');
const fmt = (x: number) => x.toFixed(3).padStart(9);
for (const r of rows) {
  const precision = r.kind === 'clean' ? '        —' : fmt(r.precision);
  const recall = r.kind === 'clean' ? '     —' : r.recall.toFixed(3).padStart(6);
  console.log(`${r.kind.padEnd(16)} ${r.method.padEnd(27)} ${precision}  ${recall}  ${r.falseAlarmsPerSeriesWeek.toFixed(3).padStart(6)}`);
}
const verdict = (method: string) => {
  const of = (kind: string) => rows.find((r) => r.kind === kind && r.method === method)!;
  const met = ['spike', 'dip', 'level shift'].every((k) => of(k).precision >= 0.9 && of(k).recall >= 0.9) && of('clean').falseAlarmsPerSeriesWeek <= 1;
  return met ? 'met' : 'NOT met';
};
console.log(`goals (precision ≥ 0.9 and recall ≥ 0.9 on spikes, dips, level shifts; ≤ 1 false alarm per series-week on clean series):`);
for (const method of [...Object.keys(SENSITIVITIES).map((s) => `seasonal ${s}`), 'static min/max of history']) console.log(`  ${method.padEnd(27)} ${verdict(method)}`);

// 2. Latency.
const database = process.env.BENCH_DATABASE_URL ? await freshDatabase(process.env.BENCH_DATABASE_URL) : undefined;
const env = parseEnv({ LOG_LEVEL: 'silent', AGGREGATE_REFRESH: 'off', ALERT_EVALUATION_CRON: 'off', RETENTION_CRON: 'off', REPORT_ROLLUP_CRON: 'off', QUERY_CACHE_SIZE: '0', ...(database ? { DATABASE_URL: database.url } : {}) });
const deps = await openDeps(env, createLogger('silent'), { embeddedDataDir: null });
const kysely = deps.db.kysely;
const engine = deps.db.kind === 'embedded' ? 'embedded TimescaleDB' : deps.db.timescale ? 'PostgreSQL + TimescaleDB' : 'PostgreSQL (no TimescaleDB)';
const END = Math.floor(Date.now() / HOUR) * HOUR;
const JUDGE = END - 48 * HOUR;
const START = JUDGE - 28 * 24 * HOUR;
console.log(`\nquery latency: ${engine}; ${SERIES} series, a point every ${STEP} s over 4 weeks + 48 hours`);

const { tenant, key } = await createTenant(kysely, 'bench');
await withTenant(kysely, tenant.id, async (trx) => {
  await sql`insert into metrics (tenant_id, name, type) values (${tenant.id}, 'load', 'GAUGE')`.execute(trx);
  await sql`insert into series (tenant_id, metric_id, tags) select ${tenant.id}, m.id, jsonb_build_object('host', 'h' || g) from metrics m, generate_series(1, ${SERIES}) g`.execute(trx);
});
// Written as the owner, straight into the hypertable: this measures reads, not ingestion.
const ids = (await sql<{ id: number }>`select id from series`.execute(kysely)).rows.map((r) => r.id);
started = performance.now();
await sql`insert into points (tenant_id, series_id, time, value, id)
  select ${tenant.id}, s, t, 100 + 50 * sin(2 * pi() * extract(hour from t at time zone 'UTC') / 24) + 5 * random(), gen_random_uuid()
  from unnest(${ids}::bigint[]) s,
       generate_series(${new Date(START).toISOString()}::timestamptz, ${new Date(END - 1000).toISOString()}::timestamptz, make_interval(secs => ${STEP})) t`.execute(kysely);
if (deps.db.timescale) await deps.aggregates.refreshAll();
console.log(`points written and aggregates refreshed in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const server = createServer(deps);
const url = await server.start(0, '127.0.0.1');
async function gql<T>(query: string, variables: unknown): Promise<T> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
const range = { from: new Date(JUDGE).toISOString(), to: new Date(END).toISOString() };
const ANOMALIES = `query ($input: AnomalyQueryInput!) { metricAnomalies(input: $input) { source series { state points { start value expected lower upper score anomaly } } } }`;
const AGGREGATES = `query ($input: AggregateQueryInput!) { metricAggregates(input: $input) { metadata { source } series { buckets { start avg } } } }`;
const historyRange = { from: new Date(START).toISOString(), to: range.to };
const anomalyTimes: number[] = [];
const aggregateTimes: number[] = [];
const historyTimes: number[] = [];
let source = '';
let points = 0;
for (let i = 0; i < RUNS; i++) {
  let t = performance.now();
  const a = await gql<{ metricAnomalies: { source: string; series: Array<{ points: unknown[] }> } }>(ANOMALIES, { input: { metric: 'load', ...range } });
  anomalyTimes.push(performance.now() - t);
  source = a.metricAnomalies.source;
  points = a.metricAnomalies.series[0]!.points.length;
  t = performance.now();
  await gql(AGGREGATES, { input: { metrics: ['load'], ...range, granularity: 'HOUR' } });
  aggregateTimes.push(performance.now() - t);
  t = performance.now();
  await gql(AGGREGATES, { input: { metrics: ['load'], ...historyRange, granularity: 'HOUR', fill: 'NULL' } });
  historyTimes.push(performance.now() - t);
}
const anomalyMs = median(anomalyTimes);
const aggregateMs = median(aggregateTimes);
console.log(`metricAnomalies, ${points} hourly buckets + 4 weeks of history (${source}): ${anomalyMs.toFixed(1)} ms median of ${RUNS} (goal ≤ 200 ms: ${anomalyMs <= 200 ? 'met' : 'NOT met'})`);
console.log(`baseline metricAggregates, the same 48 buckets: ${aggregateMs.toFixed(1)} ms median; ratio ${(anomalyMs / aggregateMs).toFixed(2)}×`);
const historyMs = median(historyTimes);
console.log(`reference metricAggregates of what metricAnomalies reads (4 weeks + 48 hours, fill NULL): ${historyMs.toFixed(1)} ms median; ratio ${(anomalyMs / historyMs).toFixed(2)}×`);

await server.stop();
await deps.close();
await database?.drop();
