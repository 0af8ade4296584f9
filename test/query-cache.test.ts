/**
 * The query cache's bounds (src/query/cache.ts): entries, characters in all, and the longest
 * answer one entry may hold, in process and in Redis. One wide answer must not take the heap,
 * nor push every other tenant's answers out.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../src/log.js';
import { createQueryCache } from '../src/query/cache.js';
import { TEST_REDIS_URL } from './harness.js';

const log = createLogger('silent');
const text = (n: number, c = 'x') => c.repeat(n);

describe('in-process query cache', () => {
  test('keeps answers up to an eighth of its characters; a longer one is not kept', async () => {
    const cache = createQueryCache({ size: 100, maxBytes: 800, log });
    expect(cache.maxEntryBytes).toBe(100);
    await cache.set('t:a', text(100), 60_000);
    await cache.set('t:b', text(101), 60_000);
    expect(await cache.get('t:a')).toBe(text(100));
    expect(await cache.get('t:b')).toBeUndefined();
  });

  test('past its characters, the least recently used answers go first', async () => {
    const cache = createQueryCache({ size: 100, maxBytes: 800, log });
    for (let i = 0; i < 8; i++) await cache.set(`t:${i}`, text(100, String(i)), 60_000);
    expect(await cache.get('t:0')).toBe(text(100, '0')); // now the most recently used
    await cache.set('t:8', text(100, '8'), 60_000);
    expect(await cache.get('t:1')).toBeUndefined();
    for (const i of [0, 2, 3, 4, 5, 6, 7, 8]) expect(await cache.get(`t:${i}`)).toBe(text(100, String(i)));
  });

  test('past its entries, the least recently used answers go first', async () => {
    const cache = createQueryCache({ size: 2, maxBytes: 1_000_000, log });
    await cache.set('t:a', 'a', 60_000);
    await cache.set('t:b', 'b', 60_000);
    await cache.set('t:c', 'c', 60_000);
    expect([await cache.get('t:a'), await cache.get('t:b'), await cache.get('t:c')]).toEqual([undefined, 'b', 'c']);
  });
});

describe.runIf(TEST_REDIS_URL)('Redis query cache', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: null });
  });
  afterAll(() => redis.quit());

  test('writes no answer longer than an eighth of QUERY_CACHE_MAX_BYTES', async () => {
    const cache = createQueryCache({ redis, size: 100, maxBytes: 800, log });
    const prefix = `test-${process.pid}-${Date.now()}`;
    await cache.set(`${prefix}:a`, text(100), 60_000);
    await cache.set(`${prefix}:b`, text(101), 60_000);
    expect(await cache.get(`${prefix}:a`)).toBe(text(100));
    expect(await cache.get(`${prefix}:b`)).toBeUndefined();
    expect(await redis.exists(`mg:q:${prefix}:b`)).toBe(0);
  });
});
