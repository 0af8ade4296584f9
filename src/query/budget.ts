/**
 * Request budgets, checked at each entry point before anything that grows with the range is
 * allocated or read. Pure functions: the rules are tested as tables (test/budget.test.ts).
 *
 * Why a bucket budget on its own, apart from series × buckets: a query that matches no series
 * passes any cell budget (0 × n = 0), yet a reader that walks every bucket start of the range
 * still allocates one entry per bucket — year 1 to 9999 at MINUTE is 5·10⁹ of them, and the
 * process dies. The bucket count is range ÷ granularity, computed arithmetically, so the check
 * itself costs nothing whatever the range.
 *
 *   bucketBudget(from 0001-01-01, to 9999-12-31, MINUTE, { maxBuckets: 100_000 })
 *     → LIMIT_EXCEEDED "… 5 258 963 520 buckets of MINUTE, over the limit of 100000 …"
 */
import { userError } from '../errors.js';

export interface RequestBudget {
  /** Buckets one request's range may span at its granularity, whatever the series (QUERY_MAX_BUCKETS). */
  maxBuckets: number;
}

/** How many buckets of `granularityMs` (aligned to the epoch) cover [from, to): arithmetic, no array. */
export function bucketSpan(from: Date, to: Date, granularityMs: number): number {
  const first = Math.floor(from.getTime() / granularityMs) * granularityMs;
  return Math.max(0, Math.ceil((to.getTime() - first) / granularityMs));
}

/** The bucket count of [from, to), or LIMIT_EXCEEDED (naming the limit and what to change) past `budget.maxBuckets`. */
export function bucketBudget(from: Date, to: Date, granularityMs: number, budget: RequestBudget, granularity = `${granularityMs / 1000} s`): number {
  const buckets = bucketSpan(from, to, granularityMs);
  if (!Number.isFinite(buckets) || buckets > budget.maxBuckets) {
    throw userError(
      'LIMIT_EXCEEDED',
      'query.overBuckets', { buckets, granularity, limit: budget.maxBuckets },
      { limit: budget.maxBuckets, buckets },
    );
  }
  return buckets;
}

/**
 * Whether a fill mode makes every series carry every bucket of the range: then the answer holds
 * series × buckets entries whatever was recorded, and a live query's first message (the whole
 * answer) is at least `buckets` long as soon as one series matches.
 */
export function fillsEveryBucket(fill: string): boolean {
  return fill !== 'NONE';
}

/** Yields to the event loop, so a long loop of JavaScript work lets /health/live and other requests in. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Calls `yieldToLoop` every `every` iterations of a loop: `await tick()` inside it. */
export function ticker(every = 5_000): () => Promise<void> | undefined {
  let n = 0;
  return () => (++n % every === 0 ? yieldToLoop() : undefined);
}
