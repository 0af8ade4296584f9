/**
 * `npm run bench:storage`: what the aggregates cost next to the raw points, and what
 * compression saves, as `storageStats` reports it to a tenant. Not a test. Embedded
 * TimescaleDB: SERIES series (default 100) with a point a minute (60 points per series-hour) for
 * DAYS days (default 3) ending 3 days ago, recorded through the API; all aggregate levels'
 * bytes against the raw points' bytes (goal ≤ 0.5×), at three moments:
 *   1. uncompressed (as written and refreshed);
 *   2. after the compression job runs now: raw chunks and the aggregate chunks past their
 *      compression age (1m and 5m: COMPRESS_AFTER_HOURS, default 48; 1h 3 days; 1d 35 days,
 *      src/ops/retention.ts compressionAge), whole chunks only;
 *   3. after the job as it runs once every level of this data is past its age (its clock
 *      36 days on): what older data costs for good.
 * And the time two queries take at each moment (median of 5), with their answers compared.
 * The late-points job is run here once the points are in (every point is late), not on its
 * schedule: in this process it would hold up the writes.
 *
 * Scale: storageStats attributes bytes chunk by chunk, and a chunk has a fixed cost (its
 * table, indexes, TOAST table, and once compressed a second table): tens of kB for each of the
 * twelve aggregates' chunks. Measured both ways (2026-12, every level compressed): ~1.5 MB
 * fixed plus ~41 B per point; at 10 series × 2 days the fixed part is ~35 % of the raw points'
 * bytes by itself, at the default scale (100 series × 3 days, 432 000 points) ~3 %.
 */
import { sql } from 'kysely';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';

const SERIES = Number(process.env.SERIES ?? 100);
const DAYS = Number(process.env.DAYS ?? 3);
const OPERATOR_TOKEN = 'bench-storage-operator-token';
const env = parseEnv({ LOG_LEVEL: 'silent', OPERATOR_TOKEN, RETENTION_CRON: 'off', AGGREGATE_REFRESH: 'off', ALERT_EVALUATION_CRON: 'off', REPORT_ROLLUP_CRON: 'off', LATE_POINTS_CRON: 'off', BOOTSTRAP_DEV_TENANT: 'false', QUERY_TIMEOUT_MS: '120000', QUERY_CACHE_SIZE: '0' });
const deps = await openDeps(env, createLogger('silent'), { embeddedDataDir: null });
const server = createServer(deps);
const url = `${await server.start()}/graphql`;

/**
 * A fresh connection per request: the engine runs in this process (WASM), and a long step
 * (the late-points job, VACUUM FULL, compression) holds the event loop past the server's
 * keep-alive timeout, which then closes the idle socket just as the next request is sent on it.
 */
async function gql<T>(query: string, variables: unknown, token: string): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, connection: 'close' }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data || body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const STATS =
  'query { storageStats { totalBytes raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio } aggregates { level rows bytes compressedRows compressedBytes uncompressedBytes } } }';
interface Stats {
  storageStats: {
    totalBytes: number;
    raw: { rows: number; bytes: number; compressedRows: number; compressedBytes: number; uncompressedBytes: number; compressionRatio: number | null };
    aggregates: Array<{ level: string; rows: number; bytes: number; compressedRows: number; compressedBytes: number; uncompressedBytes: number }>;
  };
}

try {
  const { createTenant } = await gql<{ createTenant: { adminKey: { key: string } } }>('mutation { createTenant(input: { name: "storage" }) { adminKey { key } } }', {}, OPERATOR_TOKEN);
  const key = createTenant.adminKey.key;
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 86_400_000;
  const start = end - DAYS * 86_400_000;
  const started = performance.now();
  let batch: unknown[] = [];
  const flush = async () => {
    if (batch.length) await gql('mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }', { m: batch }, key);
    batch = [];
  };
  for (let t = start; t < end; t += 60_000) {
    for (let s = 0; s < SERIES; s++) {
      batch.push({ name: 'node.cpu', type: 'GAUGE', unit: '%', value: Math.round((40 + 30 * Math.sin(t / 3_600_000 + s) + (s % 7)) * 10) / 10, tags: { host: `h${s}`, region: `r${s % 3}` }, timestamp: new Date(t).toISOString() });
      if (batch.length === 500) await flush();
    }
  }
  await flush();
  console.log(`bench:storage  ${SERIES} series × ${DAYS} days, a point a minute: ${(SERIES * DAYS * 1440).toLocaleString('en')} points recorded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // Every point is late (3 days and more behind the watermarks): the writes recorded their
  // ranges, and until the late-points job has taken them in, queries read raw points there. The
  // job runs here, not on its schedule: in this process (WASM) it would hold up the writes above.
  const refreshing = performance.now();
  await deps.aggregates.refreshAll();
  while ((await deps.latePoints.refreshPending()) > 0);
  console.log(`aggregates refreshed and late ranges taken in: ${((performance.now() - refreshing) / 1000).toFixed(1)} s`);
  // Both rewrote the same buckets (the refresh from TimescaleDB's invalidation log, the job from
  // the recorded ranges), and the embedded engine has no autovacuum: the dead rows would count
  // in the uncompressed sizes (~2× at 100 series). The baseline is the live rows, so they go.
  // (Compression rewrites a chunk with its live rows only: compressed sizes never include them.)
  const { rows: views } = await sql<{ mat: string }>`select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) as mat from timescaledb_information.continuous_aggregates`.execute(deps.db.kysely);
  for (const { mat } of views) await sql`vacuum full ${sql.raw(mat)}`.execute(deps.db.kysely);

  const iso = (ms: number) => new Date(ms).toISOString();
  const queries = {
    // The tag-group hourly level (and 5m, 1m, raw at the ragged ends).
    'hourly by region, whole range': `query { metricAggregates(input: { metrics: ["node.cpu"], from: "${iso(start)}", to: "${iso(end)}", granularity: HOUR, groupBy: ["region"] }) { series { buckets { count avg p95 } } } }`,
    // The 1 minute level, every series.
    'per minute by host, 6 hours': `query { metricAggregates(input: { metrics: ["node.cpu"], from: "${iso(start + 86_400_000)}", to: "${iso(start + 86_400_000 + 6 * 3_600_000)}", granularity: MINUTE, groupBy: ["host"] }) { series { buckets { count avg max p95 } } } }`,
  };
  const ask = async () => {
    const out: Record<string, { ms: number; answer: string }> = {};
    for (const [name, query] of Object.entries(queries)) {
      const times: number[] = [];
      let answer = '';
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        answer = JSON.stringify(await gql(query, {}, key));
        times.push(performance.now() - t0);
      }
      out[name] = { ms: times.sort((a, b) => a - b)[2]!, answer };
    }
    return out;
  };
  const moments: Array<{ label: string; stats: Stats['storageStats']; answers: Awaited<ReturnType<typeof ask>>; chunks: number }> = [];
  const measure = async (label: string, chunks: number) => moments.push({ label, stats: (await gql<Stats>(STATS, {}, key)).storageStats, answers: await ask(), chunks });
  await measure('uncompressed', 0);
  await measure('job now', await deps.retention.compress(new Date()));
  await measure('job, every level past its age', await deps.retention.compress(new Date(Date.now() + 36 * 86_400_000)));

  /** Where two answers differ: how many numbers, and the largest relative difference. */
  const difference = (a: string, b: string) => {
    const xs = a.match(/-?[\d.]+(e[-+]?\d+)?/g) ?? [];
    const ys = b.match(/-?[\d.]+(e[-+]?\d+)?/g) ?? [];
    if (xs.length !== ys.length || a.replace(/-?[\d.]+(e[-+]?\d+)?/g, '') !== b.replace(/-?[\d.]+(e[-+]?\d+)?/g, '')) return 'the answers differ in shape';
    let n = 0;
    let worst = 0;
    xs.forEach((x, i) => {
      if (x === ys[i]) return;
      n++;
      worst = Math.max(worst, Math.abs(Number(x) - Number(ys[i])) / Math.max(Math.abs(Number(x)), 1e-300));
    });
    return `${n} of ${xs.length} numbers differ, by ≤ ${worst.toExponential(1)} relative (a float sum's last bits: rows summed in another order)`;
  };
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
  const rawBytes = moments[0]!.stats.raw.bytes; // uncompressed: the goal's measure
  const perPoint = (bytes: number) => `${(bytes / moments[0]!.stats.raw.rows).toFixed(1)} B/point`;
  console.log(`raw points: ${moments[0]!.stats.raw.rows.toLocaleString('en')} rows, ${mb(rawBytes)} uncompressed (${perPoint(rawBytes)})`);
  for (const m of moments) {
    const aggregateBytes = m.stats.aggregates.reduce((n, a) => n + a.bytes, 0);
    const ratio = aggregateBytes / rawBytes;
    console.log(`\n${m.label}${m.chunks ? ` (${m.chunks} chunks compressed)` : ''}:`);
    console.log(`  aggregates per level (stats + sketch, series and tag groups): ${m.stats.aggregates.map((a) => `${a.level} ${a.rows.toLocaleString('en')} rows ${mb(a.bytes)}${a.compressedRows ? ` (${Math.round((100 * a.compressedRows) / a.rows)} % compressed)` : ''}`).join(', ')}`);
    console.log(`  all aggregate levels ${mb(aggregateBytes)} (${perPoint(aggregateBytes)}) vs raw points ${mb(rawBytes)} uncompressed: ${ratio.toFixed(2)}× (goal ≤ 0.5×) ${ratio <= 0.5 ? 'PASS' : 'FAIL'}; vs raw points as stored now (${mb(m.stats.raw.bytes)}): ${(aggregateBytes / m.stats.raw.bytes).toFixed(2)}×`);
    console.log(`  tenant total ${mb(m.stats.totalBytes)}`);
    for (const [name, { ms, answer }] of Object.entries(m.answers)) {
      const same = answer === moments[0]!.answers[name]!.answer;
      console.log(`  ${name}: ${ms.toFixed(0)} ms (${(ms / moments[0]!.answers[name]!.ms).toFixed(2)}× uncompressed); answer identical to uncompressed: ${same}${same ? '' : `; ${difference(moments[0]!.answers[name]!.answer, answer)}`}`);
    }
  }
} finally {
  await server.stop();
  await deps.close();
}
