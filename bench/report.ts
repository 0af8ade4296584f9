/**
 * `npx tsx bench/report.ts`: is reading a year of daily, weekly and monthly reports from the
 * continuous aggregates (or raw points) fast enough, or do rollups pay? Not a test.
 *
 * Builds SERIES series (default 10) × DAYS days (default 90) of log-normal points every STEP
 * seconds (default 600) in one tenant, then times metricReport through GraphQL over HTTP
 * for DAY, WEEK and MONTH over the whole range: first with no rollups (continuous aggregates
 * on TimescaleDB, raw points on plain PostgreSQL), then after backfillReportRollups. Prints
 * the median of RUNS (default 5) runs of each, and the backfill's own time. The defaults finish
 * in a couple of minutes on the embedded engine and print each step as it starts; the year the
 * question is about is SERIES=20 DAYS=365 STEP=300 (2.1 M points: tens of minutes embedded).
 *
 * Embedded engine by default (building the aggregates of a year takes minutes there);
 * BENCH_DATABASE_URL=postgres://… runs it against a PostgreSQL server instead (a fresh
 * database is created and dropped).
 */
import { sql } from 'kysely';
import { createTenant } from '../src/db/tenants.js';
import { withTenant } from '../src/db/tenant.js';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';
import { freshDatabase, median } from './servers.js';

const SERIES = Number(process.env.SERIES ?? 10);
const DAYS = Number(process.env.DAYS ?? 90);
const STEP = Number(process.env.STEP ?? 600);
const RUNS = Number(process.env.RUNS ?? 5);
const END = Date.parse('2026-01-01T00:00:00Z');
const START = END - DAYS * 86_400_000;

const database = process.env.BENCH_DATABASE_URL ? await freshDatabase(process.env.BENCH_DATABASE_URL) : undefined;
const env = parseEnv({ LOG_LEVEL: 'silent', AGGREGATE_REFRESH: 'off', REPORT_ROLLUP_CRON: 'off', QUERY_TIMEOUT_MS: '300000', ...(database ? { DATABASE_URL: database.url } : {}) });
const deps = await openDeps(env, createLogger('silent'), { embeddedDataDir: null });
const kysely = deps.db.kysely;
const engine = deps.db.kind === 'embedded' ? 'embedded TimescaleDB' : deps.db.timescale ? 'PostgreSQL + TimescaleDB' : 'PostgreSQL (no TimescaleDB)';
console.log(`engine: ${engine}; ${SERIES} series × ${DAYS} days, a point every ${STEP} s`);

const benchStarted = performance.now();
/** A progress line with the time since the start: the slow steps take minutes. */
const step = (what: string) => console.log(`[${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${what}`);

const { tenant, key } = await createTenant(kysely, 'bench');
let started = performance.now();
step(`writing ${SERIES * Math.ceil((DAYS * 86_400) / STEP)} points`);
await withTenant(kysely, tenant.id, async (trx) => {
  await sql`insert into metrics (tenant_id, name, type) values (${tenant.id}, 'latency', 'HISTOGRAM')`.execute(trx);
  await sql`insert into series (tenant_id, metric_id, tags)
            select ${tenant.id}, m.id, jsonb_build_object('host', 'h' || g, 'region', case when g % 2 = 0 then 'eu' else 'us' end)
            from metrics m, generate_series(1, ${SERIES}) g`.execute(trx);
});
// Written as the owner, straight into the hypertable: this measures reads, not ingestion.
const ids = (await sql<{ id: number }>`select id from series`.execute(kysely)).rows.map((r) => r.id);
for (let day = START; day < END; day += 30 * 86_400_000) {
  const to = Math.min(END, day + 30 * 86_400_000);
  step(`  points of ${new Date(day).toISOString().slice(0, 10)} to ${new Date(to).toISOString().slice(0, 10)}`);
  await sql`insert into points (tenant_id, series_id, time, value, id)
    select ${tenant.id}, s, t, exp(3 + 0.8 * sqrt(-2 * ln(random() + 1e-12)) * cos(2 * pi() * random())), gen_random_uuid()
    from unnest(${ids}::bigint[]) s,
         generate_series(${new Date(day).toISOString()}::timestamptz, ${new Date(to - 1000).toISOString()}::timestamptz, make_interval(secs => ${STEP})) t`.execute(kysely);
}
const points = (await sql<{ n: number }>`select count(*)::int as n from points`.execute(kysely)).rows[0]!.n;
console.log(`${points} points written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (deps.db.timescale) {
  step('refreshing the continuous aggregates');
  started = performance.now();
  await deps.aggregates.refreshAll();
  console.log(`continuous aggregates refreshed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const server = createServer(deps);
const url = await server.start(0);
async function gql<T>(query: string, variables: unknown): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const REPORT = `query ($input: MetricReportInput!) { metricReport(input: $input) { sources groups { rows { start count avg p95 growth } } } }`;

async function time(period: 'DAY' | 'WEEK' | 'MONTH') {
  const input = { metric: 'latency', period, from: new Date(START).toISOString(), to: new Date(END).toISOString() };
  step(`timing ${period} reports (${RUNS} runs)`);
  const times: number[] = [];
  let sources: string[] = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const result = await gql<{ metricReport: { sources: string[]; groups: Array<{ rows: unknown[] }> } }>(REPORT, { input });
    times.push(performance.now() - t);
    sources = result.metricReport.sources;
    rows = result.metricReport.groups[0]!.rows.length;
  }
  return { ms: median(times), sources, rows };
}

const before: Record<string, Awaited<ReturnType<typeof time>>> = {};
for (const period of ['DAY', 'WEEK', 'MONTH'] as const) before[period] = await time(period);

step('backfilling report rollups');
const run = await gql<{ backfillReportRollups: { status: string; rows: number; durationMs: number } }>(
  `mutation ($input: BackfillReportRollupsInput!) { backfillReportRollups(input: $input) { status rows durationMs } }`,
  { input: { from: new Date(START).toISOString(), to: new Date(END).toISOString() } },
);
console.log(`backfill of ${DAYS} days: ${run.backfillReportRollups.status}, ${run.backfillReportRollups.rows} rows in ${(run.backfillReportRollups.durationMs / 1000).toFixed(1)} s`);

const after: Record<string, Awaited<ReturnType<typeof time>>> = {};
for (const period of ['DAY', 'WEEK', 'MONTH'] as const) after[period] = await time(period);

console.log('\nperiod  rows  without rollups (source)                   with rollups (source)              speed-up');
for (const period of ['DAY', 'WEEK', 'MONTH'] as const) {
  const [b, a] = [before[period]!, after[period]!];
  console.log(
    `${period.padEnd(6)}  ${String(a.rows).padStart(4)}  ${`${b.ms.toFixed(0)} ms (${b.sources.join('+')})`.padEnd(43)}${`${a.ms.toFixed(0)} ms (${a.sources.join('+')})`.padEnd(35)}${(b.ms / a.ms).toFixed(1)}×`,
  );
}

await server.stop();
await deps.close();
await database?.drop();
