/**
 * `npm run bench:storage`: what the aggregates cost next to the raw points, and what
 * compression saves, as `storageStats` reports it to a tenant. Not a test. Embedded
 * TimescaleDB: SERIES series (default 20) with a point a minute (60 points per series-hour) for
 * DAYS days (default 3) ending 3 days ago, recorded through the API; all aggregate levels'
 * bytes against the raw points' bytes (goal ≤ 0.5×); then the retention job's compression step
 * (chunks older than COMPRESS_AFTER_HOURS, default 48); storageStats before and after, and the
 * time an hourly query over the data takes before and after.
 */
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';

const SERIES = Number(process.env.SERIES ?? 20);
const DAYS = Number(process.env.DAYS ?? 3);
const OPERATOR_TOKEN = 'bench-storage-operator-token';
const env = parseEnv({ LOG_LEVEL: 'silent', OPERATOR_TOKEN, RETENTION_CRON: 'off', AGGREGATE_REFRESH: 'off', ALERT_EVALUATION_CRON: 'off', REPORT_ROLLUP_CRON: 'off', BOOTSTRAP_DEV_TENANT: 'false', QUERY_TIMEOUT_MS: '120000', QUERY_CACHE_SIZE: '0' });
const deps = await openDeps(env, createLogger('silent'), { embeddedDataDir: null });
const server = createServer(deps);
const url = `${await server.start()}/graphql`;

async function gql<T>(query: string, variables: unknown, token: string): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data || body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const STATS = 'query { storageStats { totalBytes raw { rows bytes compressedRows compressedBytes uncompressedBytes compressionRatio } aggregates { level rows bytes } } }';
interface Stats {
  storageStats: {
    totalBytes: number;
    raw: { rows: number; bytes: number; compressedRows: number; compressedBytes: number; uncompressedBytes: number; compressionRatio: number | null };
    aggregates: Array<{ level: string; rows: number; bytes: number }>;
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
  console.log(`bench:storage  ${SERIES} series × ${DAYS} days, a point a minute: recorded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await deps.aggregates.refreshAll();

  const query = `query { metricAggregates(input: { metrics: ["node.cpu"], from: "${new Date(start).toISOString()}", to: "${new Date(end).toISOString()}", granularity: HOUR, groupBy: ["region"] }) { series { buckets { count avg } } } }`;
  const time = async () => {
    const t0 = performance.now();
    const answer = JSON.stringify(await gql(query, {}, key));
    return { ms: performance.now() - t0, answer };
  };
  const before = (await gql<Stats>(STATS, {}, key)).storageStats;
  const queryBefore = await time();
  const compressed = await deps.retention.compress(new Date());
  const after = (await gql<Stats>(STATS, {}, key)).storageStats;
  const queryAfter = await time();
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const aggregateBytes = before.aggregates.reduce((n, a) => n + a.bytes, 0);
  console.log(`aggregates per level (stats + sketch, series and tag groups): ${before.aggregates.map((a) => `${a.level} ${a.rows.toLocaleString('en')} rows ${mb(a.bytes)}`).join(', ')}`);
  const ratio = aggregateBytes / before.raw.bytes;
  console.log(`all aggregate levels ${mb(aggregateBytes)} vs raw points ${mb(before.raw.bytes)} (uncompressed, 60 points per series-hour): ${ratio.toFixed(2)}× (goal ≤ 0.5×) ${ratio <= 0.5 ? 'PASS' : 'FAIL'}`);
  console.log(`compressed: ${JSON.stringify(compressed)}`);
  console.log(`raw points before: ${before.raw.rows.toLocaleString('en')} rows, ${mb(before.raw.bytes)}`);
  console.log(`raw points after:  ${after.raw.rows.toLocaleString('en')} rows (${after.raw.compressedRows.toLocaleString('en')} compressed), ${mb(after.raw.bytes)}; compressed chunks ${mb(after.raw.compressedBytes)} for ${mb(after.raw.uncompressedBytes)} before: ratio ${after.raw.compressionRatio?.toFixed(1)}×`);
  console.log(`tenant total: ${mb(before.totalBytes)} → ${mb(after.totalBytes)}`);
  console.log(`hourly query by region over the range: ${queryBefore.ms.toFixed(0)} ms before, ${queryAfter.ms.toFixed(0)} ms after; answers identical: ${queryBefore.answer === queryAfter.answer}`);
} finally {
  await server.stop();
  await deps.close();
}
