/**
 * The service's own metrics, served at /metrics in the Prometheus text format (prom-client).
 *
 * One registry per server (not prom-client's global one), so several servers in one process
 * (the tests) each count their own. Labels are bounded: operation names come from the schema's
 * root fields, never from what a client calls its operation; no tenant id is ever a label.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/connect.js';
import type { JobWork, Scheduler } from '../jobs/scheduler.js';
import type { QueryCache } from '../query/cache.js';
import { isReplicated } from '../db/replicas.js';
import { registerReplicaMetrics } from './replica-metrics.js';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ServiceMetrics {
  registry: Registry;
  graphqlOperations: Counter<'operation' | 'outcome'>;
  graphqlDuration: Histogram<'operation'>;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  httpDuration: Histogram<'route'>;
  pointsIngested: Counter;
  pointsRejected: Counter<'reason'>;
  liveSubscriptions: Gauge<'field'>;
  jobRuns: Counter<'job' | 'status'>;
  jobDuration: Histogram<'job'>;
  retentionDeleted: Counter<'level'>;
  alertTransitions: Counter<'state'>;
  webhookDeliveries: Counter<'outcome'>;
  exportRows: Counter<'format'>;
  /** OTLP and remote-write requests by protocol and HTTP status. */
  protocolRequests: Counter<'protocol' | 'status'>;
  /** Their data points by protocol and outcome: stored, duplicate (a resent request), rejected. */
  protocolDataPoints: Counter<'protocol' | 'outcome'>;
  /**
   * Counts a server's live sockets in `metrograph_live_send_buffer_bytes` (what was written to
   * them and has not reached the kernel yet); returns the function that stops counting them.
   */
  watchLiveSockets(sockets: () => Iterable<{ bufferedAmount: number }>): () => void;
}

/** Why a point was not stored: a bounded set, for `metrograph_points_rejected_total{reason}`. */
export type RejectReason = 'validation' | 'conflict' | 'batch_too_large' | 'internal' | 'cardinality' | 'non_finite' | 'out_of_order' | 'unsupported';

export function createServiceMetrics(source: { db: Db; queryCache: QueryCache }): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const { db, queryCache } = source;
  if (isReplicated(db.reads)) registerReplicaMetrics(registers, db.reads);
  new Gauge({
    name: 'metrograph_db_pool_connections',
    help: 'Database connections by state (pg pool; the embedded engine has one connection).',
    labelNames: ['state'],
    registers,
    collect() {
      const pool = db.pool;
      this.set({ state: 'total' }, pool ? pool.totalCount : 1);
      this.set({ state: 'idle' }, pool ? pool.idleCount : 0);
      this.set({ state: 'waiting' }, pool ? pool.waitingCount : 0);
    },
  });
  // On the embedded engine most of the process's memory is PGlite's: its WASM memory holds
  // PostgreSQL's shared buffers and query memory, grows with the largest query and never shrinks.
  const engineMemory = db.engineMemoryBytes;
  if (engineMemory) {
    new Gauge({
      name: 'metrograph_embedded_engine_memory_bytes',
      help: "The embedded engine's WASM memory (PostgreSQL's shared buffers and query memory); it never shrinks.",
      registers,
      collect() {
        this.set(engineMemory());
      },
    });
  }
  // process_resident_memory_bytes and nodejs_external_memory_bytes come with the defaults; the
  // ArrayBuffers' share of external memory does not.
  new Gauge({
    name: 'metrograph_nodejs_array_buffers_bytes',
    help: 'Memory of ArrayBuffers and Buffers (part of nodejs_external_memory_bytes).',
    registers,
    collect() {
      this.set(process.memoryUsage().arrayBuffers);
    },
  });
  // The cache keeps its own totals; a counter only goes up, so each scrape adds what is new.
  const seen = { hits: 0, misses: 0 };
  new Counter({
    name: 'metrograph_query_cache_requests_total',
    help: 'Query cache look-ups by result.',
    labelNames: ['result'],
    registers,
    collect() {
      const { hits, misses } = queryCache.stats;
      this.inc({ result: 'hit' }, hits - seen.hits);
      this.inc({ result: 'miss' }, misses - seen.misses);
      Object.assign(seen, { hits, misses });
    },
  });
  new Gauge({
    name: 'metrograph_query_cache_hit_ratio',
    help: 'Query cache hits / look-ups since start (0 before the first look-up).',
    registers,
    collect() {
      const { hits, misses } = queryCache.stats;
      this.set(hits + misses === 0 ? 0 : hits / (hits + misses));
    },
  });

  const liveSockets = new Set<() => Iterable<{ bufferedAmount: number }>>();
  new Gauge({
    name: 'metrograph_live_send_buffer_bytes',
    help: "Bytes written to live (WebSocket) connections that the kernel has not taken yet. Deliveries wait for a client's socket, so a client that stops reading leaves this near zero; growth means the server is holding what clients do not read.",
    registers,
    collect() {
      let bytes = 0;
      for (const sockets of liveSockets) for (const socket of sockets()) bytes += socket.bufferedAmount;
      this.set(bytes);
    },
  });

  return {
    registry,
    watchLiveSockets(sockets) {
      liveSockets.add(sockets);
      return () => void liveSockets.delete(sockets);
    },
    graphqlOperations: new Counter({
      name: 'metrograph_graphql_operations_total',
      help: 'GraphQL operations by root fields and outcome (ok, or the first error code).',
      labelNames: ['operation', 'outcome'],
      registers,
    }),
    graphqlDuration: new Histogram({
      name: 'metrograph_graphql_operation_duration_seconds',
      help: 'Time to execute a GraphQL operation (for subscriptions: to set it up).',
      labelNames: ['operation'],
      buckets: SECONDS,
      registers,
    }),
    httpRequests: new Counter({
      name: 'metrograph_http_requests_total',
      help: 'HTTP requests by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'metrograph_http_request_duration_seconds',
      help: 'HTTP request latency by route, until the response is finished.',
      labelNames: ['route'],
      buckets: SECONDS,
      registers,
    }),
    pointsIngested: new Counter({ name: 'metrograph_points_ingested_total', help: 'Points stored (duplicates of a client id not counted).', registers }),
    pointsRejected: new Counter({
      name: 'metrograph_points_rejected_total',
      help: 'Points not stored, by reason: validation, conflict (type or unit), batch_too_large, internal, cardinality, non_finite, out_of_order, unsupported.',
      labelNames: ['reason'],
      registers,
    }),
    liveSubscriptions: new Gauge({
      name: 'metrograph_live_subscriptions',
      help: 'Open GraphQL subscriptions by root field.',
      labelNames: ['field'],
      registers,
    }),
    jobRuns: new Counter({ name: 'metrograph_job_runs_total', help: 'Scheduled job runs on this instance by job and status.', labelNames: ['job', 'status'], registers }),
    jobDuration: new Histogram({ name: 'metrograph_job_duration_seconds', help: 'Scheduled job run time.', labelNames: ['job'], buckets: SECONDS, registers }),
    retentionDeleted: new Counter({
      name: 'metrograph_retention_deleted_rows_total',
      help: 'Rows removed by retention per level (raw, 1m, 5m, 1h, 1d; chunks dropped whole are not counted).',
      labelNames: ['level'],
      registers,
    }),
    alertTransitions: new Counter({ name: 'metrograph_alert_transitions_total', help: 'Alert rule state changes by new state.', labelNames: ['state'], registers }),
    webhookDeliveries: new Counter({
      name: 'metrograph_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, retry, failed.',
      labelNames: ['outcome'],
      registers,
    }),
    exportRows: new Counter({ name: 'metrograph_export_rows_total', help: 'Rows streamed by /export by format.', labelNames: ['format'], registers }),
    protocolRequests: new Counter({
      name: 'metrograph_protocol_requests_total',
      help: 'OTLP (otlp_protobuf, otlp_json) and remote-write (prometheus) requests by HTTP status.',
      labelNames: ['protocol', 'status'],
      registers,
    }),
    protocolDataPoints: new Counter({
      name: 'metrograph_protocol_data_points_total',
      help: 'Data points of OTLP and remote-write requests by outcome: stored, duplicate (a resent request), rejected.',
      labelNames: ['protocol', 'outcome'],
      registers,
    }),
  };
}

/**
 * The scheduler with each job's runs counted and timed. Wraps the work, so a tick another
 * instance claimed (the work never runs here) is not counted.
 */
export function instrumentScheduler(scheduler: Scheduler, metrics: ServiceMetrics): Scheduler {
  const timed =
    (job: string, work: JobWork): JobWork =>
    async (tick) => {
      const end = metrics.jobDuration.startTimer({ job });
      try {
        const rows = await work(tick);
        metrics.jobRuns.inc({ job, status: 'COMPLETED' });
        return rows;
      } catch (error) {
        metrics.jobRuns.inc({ job, status: 'FAILED' });
        throw error;
      } finally {
        end();
      }
    };
  return {
    schedule: (job, expression, work) => scheduler.schedule(job, expression, timed(job, work)),
    run: (job, tick, work, options) => scheduler.run(job, tick, timed(job, work), options),
    stop: () => scheduler.stop(),
  };
}
