/**
 * The service's long-lived dependencies, opened from the environment in one place: database
 * (migrated), Redis if configured, authenticator, recorder, caches, buses, and the scheduled
 * jobs (src/jobs/). main.ts calls openDeps and hands the result to createServer; tests do the same.
 */
import type { Redis } from 'ioredis';
import { createAuthenticator, type Authenticator } from './auth.js';
import { connect, type Db } from './db/connect.js';
import { migrate } from './db/migrate.js';
import { onPrimary, openReplicas } from './db/replicas.js';
import { withTenantRead } from './db/tenant.js';
import type { Env } from './env.js';
import { shareRevocations } from './ws-guard.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import { createRecorder, type Recorder } from './ingest/record-points.js';
import { createAnswerGate, type AnswerGate } from './query/answer-gate.js';
import { createQueryCache, NO_CACHE, type QueryCache } from './query/cache.js';
import { fillAll } from './query/fill.js';
import { GRANULARITIES } from './query/plan.js';
import { createAggregateRefresher, type AggregateRefresher } from './query/refresh.js';
import { createLatePoints, type LatePoints } from './jobs/late-points.js';
import { refreshesAggregates, registerJobs, serviceJobs } from './jobs/register-jobs.js';
import { createScheduler, type Scheduler } from './jobs/scheduler.js';
import { createReportRollups } from './definitions/roll-up-reports.js';
import type { Logger } from './log.js';
import { createServiceMetrics, instrumentScheduler, type ServiceMetrics } from './observability/metrics.js';
import { createRefreshFloors, createRetention, type Retainer } from './ops/retention.js';
import { answerQuery } from './query/answer-query.js';
import { createLocalBus, createRedisBus, type PointBus } from './realtime/bus.js';
import { createLiveAggregates, type LiveAggregates } from './realtime/live-aggregates.js';
import { createAlertBus, type AlertBus } from './alerts/bus.js';
import { createAlerts, type Alerts } from './alerts/evaluate.js';

/** Long-lived things the resolvers use, built once in main.ts (or by a test). */
export interface Deps {
  env: Env;
  db: Db;
  log: Logger;
  auth: Authenticator;
  recorder: Recorder;
  /** Present when REDIS_URL is set. */
  redis?: Redis;
  queryCache: QueryCache;
  aggregates: AggregateRefresher;
  /** Takes late points into the aggregates and report rollups (a scheduled job; callable directly). */
  latePoints: LatePoints;
  /** node-cron jobs that run once per tick across instances (job_runs). */
  scheduler: Scheduler;
  /** The service's own Prometheus metrics (/metrics). */
  metrics: ServiceMetrics;
  /** Retention, compression and the refresh floors they keep (src/ops/retention.ts). */
  retention: Retainer;
  /** Committed points to live subscribers, across instances through Redis when configured. */
  bus: PointBus;
  /** Shared evaluators of liveAggregates. */
  live: LiveAggregates;
  /** Alert state changes to subscribers, across instances through Redis when configured. */
  alertBus: AlertBus;
  /** Alert evaluation and webhook delivery (scheduled jobs; callable directly). */
  alerts: Alerts;
  /** Per-tenant token buckets (src/rate-limit.ts). */
  limiter: RateLimiter;
  /** The buckets of pages being completed at once on this instance (src/query/answer-gate.ts). */
  pages: AnswerGate;
  /**
   * The series × buckets of answers being read at once on this instance (answerQuery), whatever
   * their page size. Apart from `pages`, and taken after it: an operation holding buckets of
   * `pages` may wait for cells here; a read holding cells waits for nothing else.
   */
  readGate: AnswerGate;
}

/**
 * Opens everything a server needs from the environment: database (migrated), Redis if
 * configured, authenticator and recorder. `close` releases them in reverse order.
 */
export interface OpenOptions {
  /** Embedded engine only: where its files live; null keeps everything in memory; undefined reads DATA_DIR. */
  embeddedDataDir?: string | null;
  /**
   * An engine already open and migrated, used instead of opening one; `close` leaves it open.
   * The tests share one embedded engine per worker this way (its start is most of a suite's cost).
   */
  db?: Db;
  /** Told each slow step before it starts (main prints them: the embedded engine is silent for seconds). */
  progress?: (step: string) => void;
}

export async function openDeps(env: Env, log: Logger, options: OpenOptions = {}): Promise<Deps & { close(): Promise<void> }> {
  const dataDir = options.embeddedDataDir === null ? undefined : (options.embeddedDataDir ?? env.DATA_DIR);
  const progress = options.progress ?? (() => {});
  if (!options.db) progress(env.DATABASE_URL ? 'connecting to PostgreSQL' : `opening the embedded database (${dataDir ?? 'in memory'})`);
  const db: Db = options.db ?? (await connect({ databaseUrl: env.DATABASE_URL, dataDir, poolSize: env.DATABASE_POOL_SIZE, embeddedSharedBuffersMb: env.EMBEDDED_SHARED_BUFFERS_MB, log }));
  const closeDb = options.db ? async () => {} : () => db.close();
  let redis: Redis | undefined;
  try {
    if (!options.db) {
      progress('applying migrations');
      await migrate(db, log);
    }
    if (env.REDIS_URL) {
      const { Redis: RedisClient } = await import('ioredis');
      redis = new RedisClient(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
      redis.on('error', (error) => log.warn({ err: error.message }, 'redis: connection error'));
      await redis.connect().catch((error) => log.warn({ err: (error as Error).message }, 'redis: not reachable at start; will retry'));
    }
  } catch (error) {
    await closeDb();
    throw error;
  }
  const reads = await openReplicas(db, { urls: env.DATABASE_READ_URLS, poolSize: env.DATABASE_POOL_SIZE, maxLagMs: env.DATABASE_READ_MAX_LAG_MS, waitMs: env.DATABASE_READ_WAIT_MS, checkMs: env.DATABASE_READ_CHECK_MS }, log, redis);
  db.reads = reads;
  const revocations = redis ? shareRevocations(redis, log) : undefined;
  const auth = createAuthenticator(db.kysely, { operatorToken: env.OPERATOR_TOKEN, jwtSecret: env.JWT_SECRET, onRevoke: revocations?.publish });
  revocations?.listen(auth);
  const floors = createRefreshFloors(db.kysely);
  const aggregates = createAggregateRefresher(db, log, { floor: floors.floor });
  const bus = redis ? createRedisBus(redis, log) : createLocalBus(log);
  const queryCache = createQueryCache({ redis, size: env.QUERY_CACHE_SIZE, maxBytes: env.QUERY_CACHE_MAX_BYTES, log });
  const recorder = createRecorder({
    kysely: db.kysely,
    log,
    // No refresh waits here: late points' ranges are recorded with them (src/query/invalidations.ts).
    // What the write changes is retired from the query cache, and the tenant's write position
    // noted so its next read waits for a replica that has it.
    afterCommit: (tenantId, points) => queryCache.touch(tenantId, [...new Set(points.map((p) => p.metric))]).finally(() => reads.wrote(tenantId)),
    budgets: { maxSeries: env.MAX_SERIES, maxSeriesPerMetric: env.MAX_SERIES_PER_METRIC, maxTagValues: env.MAX_TAG_VALUES },
    // After afterCommit: the aggregates a live query reads already hold these points.
    onCommitted: (tenantId, points) => bus.publish(tenantId, points),
  });
  const alertBus = createAlertBus({ redis, log });
  const limiter = createRateLimiter(env, log, redis);
  const gate = { maxWaiting: env.QUERY_PAGE_QUEUE, maxWaitingPerTenant: env.QUERY_PAGE_QUEUE_PER_TENANT, waitMs: env.QUERY_TIMEOUT_MS };
  const readGate = createAnswerGate({ ...gate, capacity: env.QUERY_READ_CELLS_IN_FLIGHT, busy: 'query.readsBusy' });
  const live = createLiveAggregates({
    bus,
    log,
    intervalMs: env.LIVE_AGGREGATES_INTERVAL_MS,
    // answerQuery() answers with the buckets that hold points; a live query shows its fill mode
    // (bounded by schema/live.ts first). Evaluations read uncached: each one follows new points.
    evaluate: async (principal, query, percentiles) => {
      const { result } = await answerQuery({ db, env, queryCache: NO_CACHE, readGate }, principal, query, percentiles);
      return { ...result, series: fillAll(result.series, { from: query.from, to: query.to, granularityMs: GRANULARITIES[query.granularity], fill: query.fill }) };
    },
    recordedMetrics: async (principal, names) => {
      if (names.length === 0) return [];
      const rows = await withTenantRead(db.reads, principal.tenantId, (trx) => trx.selectFrom('metrics').select('name').where('name', 'in', names).execute());
      return names.map((name) => rows.some((row) => row.name === name));
    },
  });
  const metrics = createServiceMetrics({ db, queryCache });
  const scheduler = instrumentScheduler(createScheduler(db.kysely, log), metrics);
  const retention = createRetention({ db, env, log, metrics, aggregates, floors });
  await retention.ensureCompressionPolicy();
  const rollups = createReportRollups(db.kysely, scheduler, { timescale: db.timescale, lookbackDays: env.REPORT_ROLLUP_LOOKBACK_DAYS });
  const latePoints = createLatePoints({ db, log, ...(refreshesAggregates(env, db) ? { materialiseLevels: () => aggregates.refreshAll() } : {}) });
  // Rules are read uncached, as their creator.
  const alerts = createAlerts({
    db,
    env,
    log,
    bus: alertBus,
    // Alert evaluation is a job: it reads the primary (replicas may lag behind what fired).
    readAs: async (principal, _requestId, query, percentiles) => (await answerQuery({ db: onPrimary(db), env, queryCache: NO_CACHE, readGate }, principal, query, percentiles)).result,
  });
  // Every scheduled job, each once per tick across instances (src/jobs/register-jobs.ts).
  registerJobs(scheduler, serviceJobs({ env, db, scheduler, aggregates, retention, rollups, latePoints, alerts }));
  const opened: Deps & { close(): Promise<void> } = {
    env,
    db,
    log,
    auth,
    recorder,
    redis,
    queryCache,
    aggregates,
    latePoints,
    scheduler,
    metrics,
    retention,
    bus,
    live,
    alertBus,
    alerts,
    limiter,
    pages: createAnswerGate({ ...gate, capacity: env.QUERY_PAGE_BUCKETS_IN_FLIGHT }),
    readGate,
    async close() {
      scheduler.stop();
      await recorder.drain();
      live.close();
      await bus.close();
      await alertBus.close();
      revocations?.close();
      redis?.disconnect();
      await reads.close?.();
      await closeDb();
    },
  };
  return opened;
}
