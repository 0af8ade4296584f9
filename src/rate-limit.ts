/**
 * Per-tenant rate limits: a token bucket per (tenant, class) — writes (mutations), points
 * (items recorded) and queries (queries and subscriptions started) — in Redis when REDIS_URL
 * is set (one atomic script, shared by every instance, on Redis' clock), in this process
 * otherwise. If Redis fails, the local buckets take over (logged) until it answers again.
 * Excess gets RATE_LIMITED with `retryAfter` seconds, and HTTP 429 with Retry-After.
 */
import type { Redis } from 'ioredis';
import type { Plugin } from 'graphql-yoga';
import { getOperationAST } from 'graphql';
import type { Principal } from './auth.js';
import type { Env } from './env.js';
import { userError } from './errors.js';
import type { Logger } from './log.js';

export type LimitClass = 'writes' | 'points' | 'queries';

export interface RateLimiter {
  /** Takes `cost` tokens of `tenantId`'s bucket of `kind`; resolves with the seconds to wait when it cannot. */
  take(tenantId: string, kind: LimitClass, cost: number): Promise<number | null>;
}

interface Rule {
  rate: number; // tokens per second
  burst: number; // bucket size
}

const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(bucket[1]) or burst
local ts = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
`;

function localBuckets(rules: Record<LimitClass, Rule>) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (tenantId: string, kind: LimitClass, cost: number): number | null => {
    const rule = rules[kind];
    const key = `${tenantId}:${kind}`;
    const now = Date.now();
    const bucket = buckets.get(key) ?? { tokens: rule.burst, at: now };
    bucket.tokens = Math.min(rule.burst, bucket.tokens + ((now - bucket.at) * rule.rate) / 1000);
    bucket.at = now;
    buckets.set(key, bucket);
    if (buckets.size > 100_000) buckets.delete(buckets.keys().next().value!); // bounded: the oldest goes
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return null;
    }
    return Math.ceil((cost - bucket.tokens) / rule.rate);
  };
}

export function createRateLimiter(env: Env, log: Logger, redis?: Redis): RateLimiter {
  const rule = (rate: number): Rule => ({ rate, burst: Math.max(1, rate * env.RATE_LIMIT_BURST_SECONDS) });
  const rules: Record<LimitClass, Rule> = {
    writes: rule(env.RATE_LIMIT_WRITES_PER_SECOND),
    points: rule(env.RATE_LIMIT_POINTS_PER_SECOND),
    queries: rule(env.RATE_LIMIT_QUERIES_PER_SECOND),
  };
  const local = localBuckets(rules);
  let lastWarning = 0;
  return {
    async take(tenantId, kind, cost) {
      // A cost over the bucket would never pass: it is charged as a full bucket.
      const charged = Math.min(cost, rules[kind].burst);
      if (!redis) return local(tenantId, kind, charged);
      try {
        const wait = (await redis.eval(SCRIPT, 1, `mg:rl:${tenantId}:${kind}`, rules[kind].rate, rules[kind].burst, charged)) as number;
        return wait > 0 ? Math.ceil(wait / 1000) : null;
      } catch (error) {
        if (Date.now() - lastWarning > 60_000) {
          lastWarning = Date.now();
          log.warn({ err: (error as Error).message }, 'rate limits: redis unavailable, using this instance’s buckets');
        }
        return local(tenantId, kind, charged);
      }
    },
  };
}

/** RATE_LIMITED, with the seconds to wait in `retryAfter`, a 429 and Retry-After over HTTP. */
export function rateLimited(kind: LimitClass, seconds: number) {
  return userError('RATE_LIMITED', 'request.rateLimited', { kind, seconds }, {
    retryAfter: seconds,
    http: { status: 429, headers: { 'retry-after': String(seconds) } },
  });
}

/** Charges one write or one query per operation, before it runs (HTTP and WebSocket alike). */
export function useRateLimits(limiter: RateLimiter): Plugin<{ principal: Principal | null }> {
  /** The refusal for this operation, or null when the tenant's bucket had a token. */
  const charge = async (ctx: { principal: Principal | null }, kind: LimitClass) => {
    if (ctx.principal?.kind !== 'tenant') return null;
    const wait = await limiter.take(ctx.principal.tenantId, kind, 1);
    return wait === null ? null : rateLimited(kind, wait);
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const kind: LimitClass = getOperationAST(args.document, args.operationName)?.operation === 'mutation' ? 'writes' : 'queries';
      const refusal = await charge(args.contextValue, kind);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = await charge(args.contextValue, 'queries');
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}
