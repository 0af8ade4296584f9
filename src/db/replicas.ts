/**
 * Read replicas (DATABASE_READ_URLS): tenant reads — aggregates, reports, exports, definition
 * previews, live re-reads — run on PostgreSQL streaming replicas; writes, key checks, migrations
 * and jobs stay on the primary.
 *
 * Read-your-writes. After a commit that wrote for a tenant, `wrote` asks the primary for
 * `pg_current_wal_insert_lsn()` (a position at or past that commit's record) and keeps the
 * highest per tenant, in process and, with Redis, under `mg:lsn:<tenant>` (a max, never
 * lowered). The write's response is sent only after that. A read takes the tenant's LSN (the
 * higher of the local and the Redis one) and runs on a replica whose
 * `pg_last_wal_replay_lsn()` has reached it — known from a recent poll, polled again while it
 * waits up to DATABASE_READ_WAIT_MS — else on the primary. So:
 *
 *   - a read that starts after a write's response, on the instance that took the write, sees
 *     the write (and all before it);
 *   - with Redis, the same holds on every instance sharing that Redis, for every write whose
 *     LSN reached Redis; while Redis cannot be read, reads go to the primary;
 *   - a write acknowledged while Redis could not be written is guaranteed only on its own
 *     instance (logged, and counted in metrograph_db_lsn_share_failures_total); elsewhere it
 *     shows within the lag bound, as does any write without Redis;
 *   - writes made by jobs (rollups, retention) are not tracked: within the lag bound.
 *   Reads are not monotonic across replicas for data the tenant did not write itself.
 *
 * Failures. Every DATABASE_READ_CHECK_MS each replica is asked for its recovery state and
 * replay position, and the primary for its WAL position (timestamped samples, from which a
 * replica's lag is the age of the oldest WAL it has not replayed). A replica that does not
 * answer, has left recovery (promoted, or a primary named by mistake) or lags more than
 * DATABASE_READ_MAX_LAG_MS is out of rotation; one that is down or promoted is retried with
 * doubling delays (up to 30 s). A read that fails on a replica because the replica went away
 * or cancelled it (a recovery conflict) runs again on the primary. Each change of a
 * replica's state is one log line.
 */
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { isUnavailable } from '../errors.js';
import { openPool, type Db } from './connect.js';
import type { Database } from './tables.js';
import { primaryReads, type Reads } from './tenant.js';

export interface ReplicaSettings {
  urls: readonly string[];
  poolSize: number;
  maxLagMs: number;
  waitMs: number;
  checkMs: number;
}

export type ReplicaState = 'starting' | 'up' | 'lagging' | 'down' | 'promoted';

/** Why a read ran where it did: `current` on a replica; the others on the primary. */
export type ReadReason = 'current' | 'behind' | 'lagging' | 'unavailable' | 'lsn_unknown' | 'replica_failed';

export interface ReplicaStatus {
  name: string;
  state: ReplicaState;
  /** How old the oldest WAL it has not replayed is; null while unknown (down, promoted, starting). */
  lagMs: number | null;
  /** Reads that ran there. */
  reads: number;
  error?: string;
}

export interface ReplicatedReads extends Reads {
  readonly replicated: true;
  status(): ReplicaStatus[];
  /** Reads that ran on the primary, by reason. */
  primaryReads(): Record<Exclude<ReadReason, 'current'>, number>;
  /** LSN writes that could not be shared through Redis. */
  readonly lsnShareFailures: number;
  /** The tenant's LSN as this instance knows it (local and Redis), as PostgreSQL writes it; for tests. */
  lsnOf(tenantId: string): Promise<string | null>;
  /** Runs the health check of every replica now (tests; the timer does it every checkMs). */
  check(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 30_000;
/** Between two polls of a replica's replay position while a read waits for it. */
const POLL_MS = 5;

/** `16/B374D848` → 0x16B374D848. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/') as [string, string];
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Fixed-width hex: Redis (Lua) compares these as strings, in LSN order. */
const lsnKey = (lsn: bigint) => lsn.toString(16).padStart(16, '0');

/** Keeps the higher of the stored and the given LSN (fixed-width hex), with a TTL in ms. */
const MAX_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

/** A read that may run again on the primary: the replica went away, or cancelled it (a recovery conflict, or it wrote). */
function replicaFailed(error: unknown): 'down' | 'retry' | null {
  if (isUnavailable(error)) return 'down';
  const code = (error as { code?: string })?.code;
  // 40001 on a standby: "canceling statement due to conflict with recovery"; 25006: read-only transaction.
  if (code === '40001' || code === '25006') return 'retry';
  return null;
}

/** host:port/database of a URL, without credentials: a replica's name in logs, metrics and /health. */
export function replicaName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
}

interface Replica {
  name: string;
  pool: pg.Pool;
  kysely: Kysely<Database>;
  state: ReplicaState;
  /** The highest replay position seen: it only moves forward, so a cached one is a safe lower bound. */
  replay: bigint;
  lagMs: number | null;
  reads: number;
  failures: number;
  nextCheckAt: number;
  error?: string;
  polling?: Promise<void>;
}

/**
 * The embedded engine and no DATABASE_READ_URLS keep every read on the primary. Otherwise a
 * pool per replica, checked once before this returns (so a bad URL is logged at start) and
 * then every checkMs.
 */
export async function openReplicas(db: Db, settings: ReplicaSettings, log: Logger, redis?: Redis): Promise<Reads & { close?(): Promise<void> }> {
  if (settings.urls.length === 0) return db.reads;
  if (db.kind !== 'postgres') {
    log.warn({ replicas: settings.urls.length }, 'database: DATABASE_READ_URLS is ignored on the embedded engine; every read runs on it');
    return db.reads;
  }
  const reads = createReplicatedReads(db.kysely, settings, log, redis);
  await reads.check();
  return reads;
}

/** The jobs' view of a database: every read on the primary. */
export function onPrimary(db: Db): Db {
  return { ...db, reads: primaryReads(db.kysely) };
}

export function createReplicatedReads(primary: Kysely<Database>, settings: ReplicaSettings, log: Logger, redis?: Redis): ReplicatedReads {
  const { maxLagMs, waitMs, checkMs } = settings;
  // A tenant's LSN matters only while some replica in rotation may not have replayed it; one
  // in rotation lags at most maxLagMs (measured to within a check): after this, forget it.
  const lsnTtlMs = 2 * maxLagMs + 4 * checkMs;
  const replicas: Replica[] = settings.urls.map((url) => {
    const { pool, kysely } = openPool(url, settings.poolSize, log, Math.min(5_000, Math.max(1_000, checkMs * 2)));
    return { name: replicaName(url), pool, kysely, state: 'starting', replay: 0n, lagMs: null, reads: 0, failures: 0, nextCheckAt: 0 };
  });
  const onPrimaryByReason: Record<Exclude<ReadReason, 'current'>, number> = { behind: 0, lagging: 0, unavailable: 0, lsn_unknown: 0, replica_failed: 0 };
  const tenants = new Map<string, { lsn: bigint; at: number }>();
  /** The primary's WAL position over time, oldest first, for the replicas' lag. */
  const samples: Array<{ at: number; lsn: bigint }> = [];
  let lsnShareFailures = 0;
  let next = 0;
  let closed = false;

  function transition(replica: Replica, state: ReplicaState, error?: string) {
    const was = replica.state;
    replica.state = state;
    replica.error = error;
    if (state === was) return;
    const fields = { replica: replica.name, lagMs: replica.lagMs, ...(error ? { err: error } : {}) };
    if (state === 'up') log.info(fields, 'database: read replica in rotation');
    else if (state === 'lagging') log.warn({ ...fields, maxLagMs }, 'database: read replica lags past DATABASE_READ_MAX_LAG_MS; reads go elsewhere until it catches up');
    else if (state === 'promoted') log.warn(fields, 'database: read replica is not in recovery (promoted, or a primary named in DATABASE_READ_URLS); not used for reads');
    else if (state === 'down') log.warn(fields, 'database: read replica unreachable; reads go to the primary (or other replicas); retrying with backoff');
  }

  function backOff(replica: Replica) {
    replica.failures++;
    replica.nextCheckAt = Date.now() + Math.min(MAX_BACKOFF_MS, checkMs * 2 ** (replica.failures - 1));
  }

  /** Age of the oldest WAL the primary had that `replay` lacks, as of `at`. */
  function lagOf(replay: bigint, at: number): number {
    const first = samples.find((s) => s.lsn > replay);
    return first ? Math.max(0, at - first.at) : 0;
  }

  async function checkReplica(replica: Replica): Promise<void> {
    try {
      const { rows } = await sql<{ recovery: boolean; replay: string | null }>`
        select pg_is_in_recovery() as recovery, pg_last_wal_replay_lsn()::text as replay`.execute(replica.kysely);
      const row = rows[0]!;
      if (!row.recovery || row.replay === null) {
        replica.lagMs = null;
        transition(replica, 'promoted');
        return backOff(replica);
      }
      const replay = parseLsn(row.replay);
      if (replay > replica.replay) replica.replay = replay;
      replica.lagMs = lagOf(replica.replay, Date.now());
      replica.failures = 0;
      replica.nextCheckAt = 0;
      transition(replica, replica.lagMs > maxLagMs ? 'lagging' : 'up');
    } catch (error) {
      replica.lagMs = null;
      transition(replica, 'down', (error as Error).message);
      backOff(replica);
    }
  }

  async function samplePrimary(): Promise<void> {
    try {
      const { rows } = await sql<{ lsn: string }>`select pg_current_wal_lsn()::text as lsn`.execute(primary);
      const now = Date.now();
      samples.push({ at: now, lsn: parseLsn(rows[0]!.lsn) });
      // Keep a window longer than the lag bound: a replica behind all of it lags past the bound.
      while (samples.length > 2 && samples[1]!.at < now - (2 * maxLagMs + 4 * checkMs)) samples.shift();
    } catch {
      // The primary is down: replicas keep serving; lag is judged on the samples we have.
    }
  }

  async function check(): Promise<void> {
    await samplePrimary();
    const now = Date.now();
    await Promise.all(replicas.filter((r) => r.nextCheckAt <= now).map((r) => (r.polling ??= checkReplica(r).finally(() => (r.polling = undefined)))));
    for (const [tenantId, entry] of tenants) if (entry.at < now - lsnTtlMs) tenants.delete(tenantId);
  }

  let checking = false;
  const timer = setInterval(() => {
    if (checking || closed) return;
    checking = true;
    void check().finally(() => (checking = false));
  }, checkMs);
  timer.unref();

  /** Polls one replica's replay position (shared by every read waiting on it). */
  function poll(replica: Replica): Promise<void> {
    return (replica.polling ??= checkReplica(replica).finally(() => (replica.polling = undefined)));
  }

  /** The tenant's LSN (local and Redis), or null when Redis cannot say. */
  async function required(tenantId: string): Promise<bigint | null> {
    let lsn = tenants.get(tenantId)?.lsn ?? 0n;
    if (redis) {
      try {
        const shared = await redis.get(`mg:lsn:${tenantId}`);
        if (shared && BigInt(`0x${shared}`) > lsn) lsn = BigInt(`0x${shared}`);
      } catch {
        return null;
      }
    }
    return lsn;
  }

  /** A replica in rotation that has replayed `lsn`, spreading reads round-robin; waits up to waitMs for one. */
  async function choose(lsn: bigint): Promise<Replica | Exclude<ReadReason, 'current' | 'replica_failed' | 'lsn_unknown'>> {
    const deadline = Date.now() + waitMs;
    const start = next++ % replicas.length;
    for (;;) {
      const candidates = replicas.filter((r) => r.state === 'up');
      if (candidates.length === 0) return replicas.some((r) => r.state === 'lagging') ? 'lagging' : 'unavailable';
      for (let i = 0; i < replicas.length; i++) {
        const replica = replicas[(start + i) % replicas.length]!;
        if (replica.state === 'up' && replica.replay >= lsn) return replica;
      }
      if (Date.now() >= deadline) return 'behind';
      await Promise.all(candidates.map(poll));
      if (candidates.some((r) => r.state === 'up' && r.replay >= lsn)) continue;
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    }
  }

  // Writers after the LSN query in flight was sent wait for the next one: an LSN read before
  // their commit could be behind it. One query serves every commit that ended before it.
  let inFlight: Promise<bigint> | null = null;
  let queued: Promise<bigint> | null = null;
  const queryLsn = async () => parseLsn((await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(primary)).rows[0]!.lsn);
  function currentLsn(): Promise<bigint> {
    if (!inFlight) {
      inFlight = queryLsn().finally(() => (inFlight = null));
      return inFlight;
    }
    queued ??= inFlight.catch(() => 0n).then(() => {
      queued = null;
      return currentLsn();
    });
    return queued;
  }

  let lastShareWarning = 0;
  return {
    replicated: true,
    async run(tenantId, work) {
      const lsn = await required(tenantId);
      const choice = lsn === null ? 'lsn_unknown' : await choose(lsn);
      if (typeof choice === 'string') {
        onPrimaryByReason[choice]++;
        return work(primary);
      }
      try {
        const result = await work(choice.kysely);
        choice.reads++;
        return result;
      } catch (error) {
        const failed = replicaFailed(error);
        if (!failed) {
          choice.reads++; // the replica answered: with the request's own error (NOT_FOUND, …)
          throw error;
        }
        if (failed === 'down') {
          transition(choice, 'down', (error as Error).message);
          backOff(choice);
        }
        onPrimaryByReason.replica_failed++;
        return work(primary);
      }
    },
    async wrote(tenantId) {
      let lsn: bigint;
      try {
        lsn = await currentLsn();
      } catch {
        // The commit happened but its position is unknown: read this tenant from the primary for a while.
        lsn = 2n ** 63n;
      }
      const known = tenants.get(tenantId);
      tenants.set(tenantId, { lsn: known && known.lsn > lsn ? known.lsn : lsn, at: Date.now() });
      if (!redis) return;
      try {
        await redis.eval(MAX_SCRIPT, 1, `mg:lsn:${tenantId}`, lsnKey(lsn), String(lsnTtlMs));
      } catch (error) {
        lsnShareFailures++;
        if (Date.now() - lastShareWarning > 60_000) {
          lastShareWarning = Date.now();
          log.warn({ err: (error as Error).message }, 'database: could not share a write position through Redis; other instances may read that write from a replica up to DATABASE_READ_MAX_LAG_MS late');
        }
      }
    },
    status: () => replicas.map((r) => ({ name: r.name, state: r.state, lagMs: r.lagMs, reads: r.reads, ...(r.error ? { error: r.error } : {}) })),
    primaryReads: () => ({ ...onPrimaryByReason }),
    get lsnShareFailures() {
      return lsnShareFailures;
    },
    async lsnOf(tenantId) {
      const lsn = await required(tenantId);
      return lsn === null || lsn === 0n ? null : formatLsn(lsn);
    },
    check,
    async close() {
      closed = true;
      clearInterval(timer);
      await Promise.all(replicas.map((r) => r.kysely.destroy().catch(() => {})));
    },
  };
}

/** Whether these reads go to replicas (for /health and /metrics). */
export function isReplicated(reads: Reads): reads is ReplicatedReads {
  return reads.replicated;
}
