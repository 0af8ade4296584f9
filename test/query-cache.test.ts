/**
 * The query cache's bounds (src/query/cache.ts): entries, characters in all, and the longest
 * answer one entry may hold, in process and in Redis. One wide answer must not take the heap,
 * nor push every other tenant's answers out.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../src/log.js';
import { createQueryCache, type QueryCache } from '../src/query/cache.js';
import { TEST_REDIS_URL } from './harness.js';

const log = createLogger('silent');
const text = (n: number, c = 'x') => c.repeat(n);
// Entries are stored with the write generations they were made under ('0\n': 2 characters here).
const put = async (cache: QueryCache, key: string, value: string) => cache.set(key, value, 60_000, (await cache.lookup('t', ['m'], key)).written);
const get = async (cache: QueryCache, key: string) => (await cache.lookup('t', ['m'], key)).value;

describe('in-process query cache', () => {
  test('keeps answers up to an eighth of its characters; a longer one is not kept', async () => {
    const cache = createQueryCache({ size: 100, maxBytes: 800, log });
    expect(cache.maxEntryBytes).toBe(100);
    await put(cache, 't:a', text(100));
    await put(cache, 't:b', text(101));
    expect(await get(cache, 't:a')).toBe(text(100));
    expect(await get(cache, 't:b')).toBeUndefined();
  });

  test('past its characters, the least recently used answers go first', async () => {
    const cache = createQueryCache({ size: 100, maxBytes: 800, log });
    // 102 characters each with its generations: seven fit in 800, an eighth does not.
    for (let i = 0; i < 7; i++) await put(cache, `t:${i}`, text(100, String(i)));
    expect(await get(cache, 't:0')).toBe(text(100, '0')); // now the most recently used
    await put(cache, 't:7', text(100, '7'));
    expect(await get(cache, 't:1')).toBeUndefined();
    for (const i of [0, 2, 3, 4, 5, 6, 7]) expect(await get(cache, `t:${i}`)).toBe(text(100, String(i)));
  });

  test('past its entries, the least recently used answers go first', async () => {
    const cache = createQueryCache({ size: 2, maxBytes: 1_000_000, log });
    await put(cache, 't:a', 'a');
    await put(cache, 't:b', 'b');
    await put(cache, 't:c', 'c');
    expect([await get(cache, 't:a'), await get(cache, 't:b'), await get(cache, 't:c')]).toEqual([undefined, 'b', 'c']);
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
    await put(cache, `${prefix}:a`, text(100));
    await put(cache, `${prefix}:b`, text(101));
    expect(await get(cache, `${prefix}:a`)).toBe(text(100));
    expect(await get(cache, `${prefix}:b`)).toBeUndefined();
    expect(await redis.exists(`mg:q:${prefix}:b`)).toBe(0);
  });
});
