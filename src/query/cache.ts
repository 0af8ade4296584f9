import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.js';

/**
 * Cache of query answers: Redis when configured (shared by every instance), an in-process
 * LRU otherwise. Keys always start with the tenant. A Redis failure never fails a query: the
 * cache is bypassed and the failure logged (once a minute at most).
 */
export interface QueryCache {
  /**
   * The write generations of `names` for the tenant (as text) and the answer cached under `key`
   * if it was cached under those same generations, in one round trip: an answer cached before a
   * write of one of them is never found again after it.
   */
  lookup(tenantId: string, names: readonly string[], key: string): Promise<{ written: string; value: string | undefined }>;
  /**
   * Caches `value` under `key`, made when the generations were `written` (what lookup returned),
   * unless it is longer than `maxEntryBytes` (then it is not kept).
   */
  set(key: string, value: string, ttlMs: number, written: string): Promise<void>;
  /**
   * The longest answer (JSON characters) the cache keeps: a caller may skip serialising an
   * answer that is surely longer. Bounds what one request can make the cache hold.
   */
  readonly maxEntryBytes: number;
  /** Hits and misses since start, for the cache hit ratio. */
  readonly stats: { hits: number; misses: number };
  /**
   * Marks the tenant's answers about `metrics` stale: bumps a per-tenant, per-metric write
   * generation (and the tenant's `*`, which answers about metric definitions follow). Awaited
   * after a write commits and before its mutation returns.
   */
  touch(tenantId: string, metrics: readonly string[]): Promise<void>;
}

/**
 * A cached entry is the generations it was made under, a newline, then the answer: the answer
 * only if those are still `written`.
 */
const stamped = (written: string, value: string) => `${written}\n${value}`;
function unstamped(entry: string | null | undefined, written: string): string | undefined {
  if (entry == null) return undefined;
  const end = entry.indexOf('\n');
  return end >= 0 && entry.slice(0, end) === written ? entry.slice(end + 1) : undefined;
}

/** The field of the tenant's tenant-wide generation: bumped by every write. */
export const ANY_METRIC = '*';

/**
 * Write generations live as long as this after the tenant's last write (Redis). A cached answer
 * lives at most QUERY_CACHE_HISTORICAL_TTL_MS, so a generation forgotten after a quiet day can
 * never meet an answer cached under an older one.
 */
const GENERATION_TTL_MS = 86_400_000;

/** A cache that never holds anything: for readers that must see the database as it is now (live queries, alerts, exports). */
export const NO_CACHE: QueryCache = { stats: { hits: 0, misses: 0 }, maxEntryBytes: 0, lookup: async () => ({ written: '', value: undefined }), set: async () => {}, touch: async () => {} };

/**
 * `size`: entries kept in process (QUERY_CACHE_SIZE); `maxBytes`: their JSON characters together
 * (QUERY_CACHE_MAX_BYTES; JSON answers are ASCII, so characters are bytes of V8's one-byte
 * strings). One answer may take an eighth of `maxBytes`, in process and in Redis alike, so a few
 * wide answers can neither fill the heap nor push every other answer out.
 */
export function createQueryCache(options: { redis?: Redis; size: number; maxBytes: number; log: Logger }): QueryCache {
  const stats = { hits: 0, misses: 0 };
  const maxEntryBytes = Math.floor(options.maxBytes / 8);
  const count = (value: string | undefined) => {
    if (value === undefined) stats.misses++;
    else stats.hits++;
    return value;
  };
  const { redis, log } = options;
  if (redis) {
    let lastWarning = 0;
    const warn = (error: unknown) => {
      if (Date.now() - lastWarning < 60_000) return;
      lastWarning = Date.now();
      log.warn({ err: (error as Error).message }, 'query cache: redis unavailable, bypassing the cache');
    };
    return {
      stats,
      maxEntryBytes,
      // One round trip for both (MULTI … EXEC is sent at once): the generations and the entry.
      async lookup(tenantId, names, key) {
        try {
          const replies = await redis.multi().hmget(`mg:gen:${tenantId}`, ...names).get(`mg:q:${key}`).exec();
          if (!replies || replies.some(([error]) => error)) throw replies?.find(([error]) => error)?.[0] ?? new Error('transaction aborted');
          const written = (replies[0]![1] as Array<string | null>).map((g) => g ?? '0').join('.');
          return { written, value: count(unstamped(replies[1]![1] as string | null, written)) };
        } catch (error) {
          warn(error);
          // Unknown generations: a key no answer was cached under, so nothing stale is served.
          return { written: `unknown-${Math.random()}`, value: count(undefined) };
        }
      },
      async set(key, value, ttlMs, written) {
        if (ttlMs <= 0 || value.length > maxEntryBytes) return;
        await redis.set(`mg:q:${key}`, stamped(written, value), 'PX', ttlMs).catch(warn);
      },
      // Shared by every instance through one hash per tenant, so a write on one instance retires
      // the answers all of them cached.
      async touch(tenantId, metrics) {
        const key = `mg:gen:${tenantId}`;
        const pipeline = redis.multi();
        for (const name of new Set([...metrics, ANY_METRIC])) pipeline.hincrby(key, name, 1);
        pipeline.pexpire(key, GENERATION_TTL_MS);
        await pipeline.exec().catch(warn);
      },
    };
  }

  // Least recently used answers go first past QUERY_CACHE_SIZE entries or QUERY_CACHE_MAX_BYTES;
  // each expires after its own TTL.
  const entries = new LRUCache<string, string>({
    max: Math.max(1, options.size),
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (value) => Math.max(1, value.length),
    ttl: 0,
  });
  // In-process: this instance's writes only (without Redis, instances do not share answers either).
  // Kept a plain Map, not an LRU: evicting one counter alone would start it from 0 again and
  // serve answers cached under its old value; it is cleared together with the answers instead.
  const generations = new Map<string, number>();
  const field = (tenantId: string, name: string) => `${tenantId}\u0000${name}`;
  return {
    stats,
    maxEntryBytes,
    async touch(tenantId, metrics) {
      if (generations.size >= 100_000) {
        // Bounded: counters start again from 0, so answers cached under the old ones go too.
        generations.clear();
        entries.clear();
      }
      for (const name of new Set([...metrics, ANY_METRIC])) generations.set(field(tenantId, name), (generations.get(field(tenantId, name)) ?? 0) + 1);
    },
    async lookup(tenantId, names, key) {
      const written = names.map((name) => generations.get(field(tenantId, name)) ?? 0).join('.');
      return { written, value: count(unstamped(entries.get(key), written)) };
    },
    async set(key, value, ttlMs, written) {
      if (ttlMs <= 0 || options.size === 0 || value.length > maxEntryBytes) return;
      entries.set(key, stamped(written, value), { ttl: ttlMs });
    },
  };
}
