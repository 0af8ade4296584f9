import cron from 'node-cron';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
/** A node-cron expression (5 or 6 fields), or `off`. */
const cronOrOff = (name: string) => z.string().refine((value) => value === 'off' || cron.validate(value), `${name} must be a cron expression or off`);
const positiveInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A URL of one of `protocols`: `localhost:5432` parses as a URL too, with the protocol `localhost:`. */
const urlWith = (name: string, protocols: string[]) =>
  z.string().refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol), `${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL`);

/**
 * Every setting the service reads from its environment, with defaults.
 * The service starts with none of them set: embedded TimescaleDB under ./data, no Redis.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(4000),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** A PostgreSQL URL (TimescaleDB or plain PostgreSQL >= 14). Unset: embedded PGlite + TimescaleDB. */
  DATABASE_URL: urlWith('DATABASE_URL', ['postgres:', 'postgresql:']).optional(),
  /** Where the embedded engine keeps its files; ignored with DATABASE_URL. */
  DATA_DIR: z.string().min(1).default('./data'),
  /**
   * The embedded engine's shared_buffers in MB (default 32, src/db/embedded.ts). They are
   * resident from the start and never given back; pages beyond them come from the OS's file cache.
   */
  EMBEDDED_SHARED_BUFFERS_MB: positiveInt(1, 999).optional(),
  DATABASE_POOL_SIZE: positiveInt(1, 200).default(10),
  /** Streaming replicas of DATABASE_URL, comma-separated, that take reads (src/db/replicas.ts); ignored on the embedded engine. */
  DATABASE_READ_URLS: z
    .string()
    .default('')
    .transform((value) => value.split(',').map((url) => url.trim()).filter(Boolean))
    .pipe(z.array(urlWith('DATABASE_READ_URLS', ['postgres:', 'postgresql:']))),
  /** A replica whose replay is further behind the primary than this is taken out of reads until it catches up. */
  DATABASE_READ_MAX_LAG_MS: positiveInt(10, 3_600_000).default(5_000),
  /** How long a read waits for a replica to replay its tenant's last write before it reads from the primary. */
  DATABASE_READ_WAIT_MS: positiveInt(0, 60_000).default(100),
  /** How often replicas' health, recovery state and lag are checked (and the first retry delay of one that is down). */
  DATABASE_READ_CHECK_MS: positiveInt(10, 60_000).default(1_000),
  REDIS_URL: urlWith('REDIS_URL', ['redis:', 'rediss:']).optional(),
  /** Enables createTenant for whoever presents this token. At least 16 characters. */
  OPERATOR_TOKEN: z.string().min(16, 'OPERATOR_TOKEN must be at least 16 characters').optional(),
  /** Enables HS256 JWTs with claims tenant_id, role, exp. At least 32 characters. */
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
  MAX_BATCH_SIZE: positiveInt(1, 10_000).default(500),
  /** Creates a `dev` tenant and prints its ADMIN key on the first start of an empty embedded database. */
  BOOTSTRAP_DEV_TENANT: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: positiveInt(0, 600_000).default(10_000),
  /** When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`. At least 16 characters. */
  METRICS_TOKEN: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
  /** node-cron schedule of retention (and, on the embedded engine, compression), or `off`. */
  RETENTION_CRON: cronOrOff('RETENTION_CRON').default('0 7 * * * *'),
  /** Raw chunks older than this many hours are compressed (TimescaleDB); 0 turns compression off. */
  COMPRESS_AFTER_HOURS: positiveInt(0, 100_000).default(48),
  /** Rows one retention delete removes at most; each batch is its own short transaction. */
  RETENTION_BATCH_SIZE: positiveInt(100, 1_000_000).default(10_000),
  /** Days the scheduler's log (job_runs, the `jobRuns` query) keeps finished runs; the retention job deletes older ones. */
  JOB_RUNS_RETENTION_DAYS: positiveInt(1, 3650).default(30),
  /** node-cron schedule of alert rule evaluation, or `off`. */
  ALERT_EVALUATION_CRON: cronOrOff('ALERT_EVALUATION_CRON').default('*/15 * * * * *'),
  /** Webhook deliveries: tries per event, the first retry's delay (doubling each time) and each try's timeout. */
  WEBHOOK_MAX_ATTEMPTS: positiveInt(1, 20).default(6),
  WEBHOOK_RETRY_BASE_MS: positiveInt(10, 3_600_000).default(2_000),
  WEBHOOK_TIMEOUT_MS: positiveInt(100, 60_000).default(5_000),
  /** `true` lets webhooks reach private, loopback and link-local addresses: for local development only (refused by default, checked after DNS). */
  WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Signs exportUrl links; set the same value on every instance. Unset: a random key per process (links work on the instance that made them). */
  EXPORT_URL_SECRET: z.string().min(32, 'EXPORT_URL_SECRET must be at least 32 characters').optional(),
  /** The service's address as its users reach it (behind a proxy: https://metrics.example.com); links it returns start with it. Unset: the address the request came to. */
  PUBLIC_URL: z.string().url('PUBLIC_URL must be an absolute URL, e.g. https://metrics.example.com').optional(),
  /** How long an exportUrl link works. */
  EXPORT_URL_TTL_SECONDS: positiveInt(10, 86_400).default(300),
  /**
   * Rows one export may write, counted before any work as matching series × buckets of the
   * range (whatever the fill). 100 000 rows is about 12 MB of CSV; on the embedded engine each
   * row costs about 0.1 ms of this process's CPU, so the largest export is seconds of work,
   * spread over windows that yield to other requests.
   */
  EXPORT_MAX_ROWS: positiveInt(1, 100_000_000).default(100_000),
  /** statement_timeout of each aggregate query. */
  QUERY_TIMEOUT_MS: positiveInt(100, 300_000).default(5_000),
  /**
   * series × buckets one aggregate query may touch. 200 000: an answer keeps one object per
   * bucket with points (about 250 bytes, and as much again while it is cached as JSON), so the
   * worst answer costs about 100 MB — a few at once stay under 512 MB, where 2 000 000 took 3.9 GB.
   */
  QUERY_MAX_CELLS: positiveInt(1_000, 100_000_000).default(200_000),
  /**
   * Buckets one request's range may span, whatever the series (checked arithmetically before
   * anything is allocated). 100 000 = 69 days of MINUTE, 347 days of FIVE_MINUTES, 11 years of
   * HOUR, 273 years of DAY: more than a chart or an export page needs, and the bucket starts
   * of a range then take under 1 MB.
   */
  QUERY_MAX_BUCKETS: positiveInt(100, 10_000_000).default(100_000),
  /**
   * Buckets of pages (metricAggregates, previewMetricDefinition) one instance turns into
   * responses at once (src/query/answer-gate.ts); more wait their turn, by tenant. 10 000 = one
   * full page: completing it allocates tens of MB in graphql-js, and two side by side took the
   * service to 576 MB (#16). Small pages still run side by side.
   */
  QUERY_PAGE_BUCKETS_IN_FLIGHT: positiveInt(100, 10_000_000).default(10_000),
  /** Requests waiting for QUERY_PAGE_BUCKETS_IN_FLIGHT, in all and per tenant; past them (or after QUERY_TIMEOUT_MS waiting) RATE_LIMITED. */
  QUERY_PAGE_QUEUE: positiveInt(0, 10_000).default(32),
  QUERY_PAGE_QUEUE_PER_TENANT: positiveInt(0, 10_000).default(4),
  /**
   * series × buckets that answers (metricAggregates, liveAggregates, anomalies, alerts,
   * exports) read at once per instance, whatever their page size (a second gate of
   * src/query/answer-gate.ts, with QUERY_PAGE_QUEUE's line). A page is admitted for what it
   * returns, but its answer is read (and held, up to QUERY_MAX_CELLS) whole before the page is
   * cut: many `limit: 1` pages over dense data each held ~100 000 buckets and together passed
   * 512 MB (#16). 200 000 = QUERY_MAX_CELLS: one widest read at a time (about 100 MB), or many
   * narrow ones side by side. Below QUERY_MAX_CELLS, a wider read runs alone.
   */
  QUERY_READ_CELLS_IN_FLIGHT: positiveInt(100, 100_000_000).default(200_000),
  /** series × buckets (history and range) one metricAnomalies request may read. */
  ANOMALY_MAX_CELLS: positiveInt(1_000, 100_000_000).default(200_000),
  /** Oldest a cached answer may be when its range touches the last 15 minutes. */
  QUERY_CACHE_TTL_MS: positiveInt(0, 3_600_000).default(5_000),
  /** How long a cached answer about older data is kept. */
  QUERY_CACHE_HISTORICAL_TTL_MS: positiveInt(0, 86_400_000).default(60_000),
  /** Entries in the in-process cache (used when REDIS_URL is not set). */
  QUERY_CACHE_SIZE: positiveInt(0, 1_000_000).default(1_000),
  /** Characters of cached answers held in process, together; one answer may take an eighth (src/query/cache.ts). */
  QUERY_CACHE_MAX_BYTES: positiveInt(8, 4_000_000_000).default(32_000_000),
  /**
   * When the service refreshes continuous aggregates itself: `auto` on the embedded engine
   * (no background workers there); `on` also on a server; `off` leaves it to TimescaleDB's policies.
   */
  AGGREGATE_REFRESH: z.enum(['auto', 'on', 'off']).default('auto'),
  /** node-cron schedule of that refresh. */
  AGGREGATE_REFRESH_CRON: z.string().min(9).default('*/30 * * * * *'),
  /** node-cron schedule of the late-points job (src/jobs/late-points.ts), or `off`. */
  LATE_POINTS_CRON: cronOrOff('LATE_POINTS_CRON').default('*/15 * * * * *'),
  /** buckets × series one formula (metric definition) may read; 200 000 for the reasons of QUERY_MAX_CELLS. */
  FORMULA_MAX_COST: positiveInt(1_000, 100_000_000).default(200_000),
  /** node-cron schedule of the report rollup job (weekly and monthly rollups; daily too without TimescaleDB), or `off`. */
  REPORT_ROLLUP_CRON: z.string().min(3).default('0 */15 * * * *'),
  /** Completed periods that ended within this many days are rolled up again on every run, to take in late points. */
  REPORT_ROLLUP_LOOKBACK_DAYS: positiveInt(1, 366).default(3),
  /** Cardinality budgets per tenant (defaults; the operator overrides them per tenant with setTenantLimits). */
  MAX_SERIES: positiveInt(1, 100_000_000).default(100_000),
  MAX_SERIES_PER_METRIC: positiveInt(1, 100_000_000).default(10_000),
  MAX_TAG_VALUES: positiveInt(1, 100_000_000).default(1_000),
  /** Per-tenant rate limits (token buckets; in Redis when REDIS_URL is set): per second, with a burst of RATE_LIMIT_BURST_SECONDS of them. */
  RATE_LIMIT_WRITES_PER_SECOND: positiveInt(1, 10_000_000).default(5_000),
  RATE_LIMIT_POINTS_PER_SECOND: positiveInt(1, 100_000_000).default(500_000),
  RATE_LIMIT_QUERIES_PER_SECOND: positiveInt(1, 10_000_000).default(2_000),
  RATE_LIMIT_BURST_SECONDS: positiveInt(1, 3_600).default(2),
  /** Operation limits (graphql-armor): selection depth, aliases, tokens, directives and cost per operation. */
  GRAPHQL_MAX_DEPTH: positiveInt(2, 100).default(15),
  GRAPHQL_MAX_ALIASES: positiveInt(0, 1_000).default(15),
  GRAPHQL_MAX_TOKENS: positiveInt(100, 1_000_000).default(5_000),
  GRAPHQL_MAX_DIRECTIVES: positiveInt(0, 1_000).default(50),
  GRAPHQL_MAX_COST: positiveInt(100, 10_000_000).default(5_000),
  /**
   * Operation cost with list fields multiplied by their size bounds (src/builder.ts). 50 000:
   * every definition with every field (1 000 × 15) and its versions' formulas (× 10 × 2) fit;
   * selecting all of every version of 1 000 definitions does not without a smaller `limit`.
   */
  GRAPHQL_MAX_COMPLEXITY: positiveInt(100, 100_000_000).default(50_000),
  /** Schema introspection (GraphiQL needs it): `false` turns it off. */
  GRAPHQL_INTROSPECTION: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Largest request body accepted (413 past it). */
  MAX_BODY_BYTES: positiveInt(1_000, 100_000_000).default(2_000_000),
  /** Live subscriptions (graphql-ws): open subscriptions one connection may hold. */
  LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(1, 10_000).default(20),
  /** Live subscriptions: WebSocket connections one tenant may hold, over all its keys, per instance. */
  LIVE_MAX_CONNECTIONS_PER_TENANT: positiveInt(1, 1_000_000).default(500),
  /** WebSockets that have not yet sent connection_init, per instance (each waits at most 3 s); closed with 1013 past it. */
  LIVE_MAX_PENDING_CONNECTIONS: positiveInt(1, 1_000_000).default(1_000),
  /** Acknowledged WebSockets without credentials, per instance (they can run nothing but public operations); closed with 4429 past it. */
  LIVE_MAX_ANONYMOUS_CONNECTIONS: positiveInt(1, 1_000_000).default(100),
  /** Points a `metricRecorded` subscriber may have waiting to be sent; beyond it the oldest are dropped (and counted). */
  LIVE_BUFFER_POINTS: positiveInt(1, 1_000_000).default(1_000),
  /** How often a WebSocket's credentials are checked again: a revoked key or an expired JWT is cut off within this. */
  LIVE_AUTH_RECHECK_MS: positiveInt(100, 3_600_000).default(30_000),
  /** `liveAggregates`: at most one update per subscription per this interval. */
  LIVE_AGGREGATES_INTERVAL_MS: positiveInt(50, 60_000).default(1_000),
});

export type Env = z.infer<typeof envSchema>;

/** Parses the environment, or throws one error that lists every bad variable and why. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new Error(`Invalid environment:\n${lines.join('\n')}`);
}
