import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';

/**
 * Cache of query answers: Redis when configured (shared by every instance), an in-process
 * LRU otherwise. Keys always start with the tenant. A Redis failure never fails a query: the
 * cache is bypassed and the failure logged (once a minute at most).
 */
export interface QueryCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Hits and misses since start, for the cache hit ratio. */
  readonly stats: { hits: number; misses: number };
}

/** A cache that never holds anything: for readers that must see the database as it is now (live queries, alerts, exports). */
export const NO_CACHE: QueryCache = { stats: { hits: 0, misses: 0 }, get: async () => undefined, set: async () => {} };

export function createQueryCache(options: { redis?: Redis; size: number; log: Logger }): QueryCache {
  const stats = { hits: 0, misses: 0 };
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
      async get(key) {
        try {
          return count((await redis.get(`mg:q:${key}`)) ?? undefined);
        } catch (error) {
          warn(error);
          return count(undefined);
        }
      },
      async set(key, value, ttlMs) {
        if (ttlMs <= 0) return;
        await redis.set(`mg:q:${key}`, value, 'PX', ttlMs).catch(warn);
      },
    };
  }

  const entries = new Map<string, { value: string; until: number }>();
  return {
    stats,
    async get(key) {
      const entry = entries.get(key);
      if (!entry || entry.until <= Date.now()) {
        if (entry) entries.delete(key);
        return count(undefined);
      }
      // Re-insert: Map order is our recency order.
      entries.delete(key);
      entries.set(key, entry);
      return count(entry.value);
    },
    async set(key, value, ttlMs) {
      if (ttlMs <= 0 || options.size === 0) return;
      entries.delete(key);
      entries.set(key, { value, until: Date.now() + ttlMs });
      while (entries.size > options.size) entries.delete(entries.keys().next().value!);
    },
  };
}
