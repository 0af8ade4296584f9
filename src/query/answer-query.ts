/**
 * The query service: answers an aggregate query for one tenant principal, from the cache when
 * it holds a fresh enough answer, else through the bucket reader (runAggregate for recorded
 * metrics, formulas for definitions) in one tenant transaction. metricAggregates,
 * liveAggregates, alerts and exports all call it; src/schema/aggregation.ts only declares.
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../auth.js';
import { withTenantRead, type Reads } from '../db/tenant.js';
import { runAggregateWithDefinitions } from '../definitions/evaluate-definition.js';
import { definitionStamp, findDefinitions, readerOf, scopeSettings, type LoadedDefinition } from '../definitions/store-definitions.js';
import type { Env } from '../env.js';
import { olderThanRaw } from '../ops/retention.js';
import { resolveSeries, type AggregateQuery, type AggregateResult } from './aggregate.js';
import { ANY_METRIC, type QueryCache } from './cache.js';
import { bucketBudget, bucketSpan } from './budget.js';
import { GRANULARITIES } from './plan.js';

/** What a client is told about how an answer was made. */
export interface QueryMetadata {
  executionTimeMs: number;
  fromCache: boolean;
  sources: string[];
  downsampled: boolean;
}

/** The narrow dependencies of the query service. */
export interface QueryDeps {
  /** `reads` picks the engine: a replica that has the tenant's writes, else the primary (db/replicas.ts). */
  db: { reads: Reads; timescale: boolean };
  env: Pick<Env, 'QUERY_TIMEOUT_MS' | 'QUERY_MAX_CELLS' | 'QUERY_MAX_BUCKETS' | 'FORMULA_MAX_COST' | 'QUERY_CACHE_TTL_MS' | 'QUERY_CACHE_HISTORICAL_TTL_MS'>;
  queryCache: QueryCache;
}

/** Recent enough that new points may still change the answer. */
const LIVE_WINDOW_MS = 15 * 60_000;

/** The cache key of an answer; it names the version of each definition used, so changing a definition retires its cached answers. */
export function queryKey(tenantId: string, query: AggregateQuery, percentiles: boolean, definitions: readonly Pick<LoadedDefinition, 'name' | 'version'>[]): string {
  const canonical = JSON.stringify([
    query.metrics,
    query.from.getTime(),
    query.to.getTime(),
    query.granularity,
    Object.entries(query.tags).sort(),
    query.filters,
    query.groupBy,
    query.fill,
    percentiles,
    definitionStamp(definitions as readonly LoadedDefinition[]),
    query.window ?? false,
  ]);
  return `${tenantId}:${createHash('sha256').update(canonical).digest('base64url')}`;
}

/**
 * No bucket serialises shorter than this (191 characters with two dates, count 0 and ten
 * nulls): an answer with more buckets than maxEntryBytes / this is surely too long to cache,
 * and is not serialised for it.
 */
const MIN_BUCKET_JSON = 190;

const reviveDates = (key: string, value: unknown) => (key === 'start' || key === 'end' ? new Date(value as string) : value);

/**
 * Answers an aggregate query for `principal`'s tenant, from the cache when it holds a fresh
 * enough answer. An answer whose range touches the last 15 minutes is never older than
 * QUERY_CACHE_TTL_MS (default 5 s).
 */
export async function answerQuery(
  deps: QueryDeps,
  principal: Extract<Principal, { kind: 'tenant' }>,
  request: AggregateQuery,
  percentiles: boolean,
): Promise<{ result: AggregateResult; fromCache: boolean }> {
  const { env, queryCache, db } = deps;
  // The range is budgeted before anything grows with it; the answer holds only buckets with
  // points (a fill mode is applied per page, src/query/fill.ts), so it is as big as the data
  // read, in memory and in the cache, whatever the fill mode.
  bucketBudget(request.from, request.to, GRANULARITIES[request.granularity], { maxBuckets: env.QUERY_MAX_BUCKETS }, request.granularity);
  const query: AggregateQuery = { ...request, fill: 'NONE' };
  // One transaction for the whole answer: every round trip is a fixed cost of every answer,
  // cached or not. Which names are definitions (and at which version) decides the cache key,
  // so they are read first; a hit ends the transaction there.
  const outcome = await withTenantRead(
    db.reads,
    principal.tenantId,
    async (trx) => {
      const definitions = await findDefinitions(trx, query.metrics, 'scoped');
      // The write generations of what the query reads (bumped by every commit, across instances
      // through Redis): a write retires the answers that may include it. A definition reads other
      // metrics, so any write of the tenant retires it (ANY_METRIC).
      const key = queryKey(principal.tenantId, query, percentiles, definitions);
      const { written, value: cached } = await queryCache.lookup(principal.tenantId, definitions.length > 0 ? [ANY_METRIC] : query.metrics, key);
      if (cached) return { key, written, cached };
      const options = { timescale: db.timescale, percentiles, limits: { maxCells: env.QUERY_MAX_CELLS }, maxCost: env.FORMULA_MAX_COST };
      const answer = await runAggregateWithDefinitions(trx, query, definitions, options);
      return { key, written, result: { ...answer, downsampled: answer.downsampled ?? (db.timescale && (await olderThanRaw(trx, query.from))) } };
    },
    { timeoutMs: env.QUERY_TIMEOUT_MS, limitExceeded: true, settings: scopeSettings(readerOf(principal)) },
  );
  if ('cached' in outcome) return { result: JSON.parse(outcome.cached!, reviveDates) as AggregateResult, fromCache: true };
  const { key, written, result } = outcome;
  const live = query.to.getTime() > Date.now() - LIVE_WINDOW_MS;
  const buckets = result.series.reduce((n, s) => n + s.buckets.length, 0);
  if (buckets * MIN_BUCKET_JSON <= queryCache.maxEntryBytes) {
    await queryCache.set(key, JSON.stringify(result), live ? env.QUERY_CACHE_TTL_MS : env.QUERY_CACHE_HISTORICAL_TTL_MS, written);
  }
  return { result, fromCache: false };
}

/**
 * How many series an answer may hold, known before it is read (#16): those of the recorded
 * metrics the query names and of the metrics its definitions read, with its tags and filters.
 * A definition's groups are at most its metrics' series, so series × buckets bounds any
 * answer, whatever its fill. NOT_FOUND for a name that is neither, as the answer would be.
 */
export async function countSeries(deps: Pick<QueryDeps, 'db' | 'env'>, principal: Extract<Principal, { kind: 'tenant' }>, query: Pick<AggregateQuery, 'metrics' | 'tags' | 'filters'>): Promise<number> {
  return withTenantRead(
    deps.db.reads,
    principal.tenantId,
    async (trx) => {
      const definitions = await findDefinitions(trx, query.metrics, readerOf(principal));
      const defined = new Set(definitions.map((d) => d.name));
      const metrics = [...new Set([...query.metrics.filter((name) => !defined.has(name)), ...definitions.flatMap((d) => d.metrics)])];
      if (metrics.length === 0) return 0;
      return (await resolveSeries(trx, { metrics, tags: query.tags, filters: query.filters })).series.length;
    },
    { timeoutMs: deps.env.QUERY_TIMEOUT_MS, limitExceeded: true },
  );
}

/**
 * The most buckets a page of at most `limit` buckets of `query` can hold, known before anything
 * is read: what it is admitted for (src/plugins/page-admission.ts). A range of at least `limit`
 * buckets fills a page from one series, so it is `limit` without a round trip; a narrower one
 * is series × its buckets, counted (countSeries), when that is less.
 *
 *   limit 10 000, 60 MINUTE buckets, 3 series → 180;  limit 10 000, 99 000 buckets → 10 000
 */
export async function pageBound(deps: Pick<QueryDeps, 'db' | 'env'>, principal: Extract<Principal, { kind: 'tenant' }>, query: AggregateQuery, limit: number): Promise<number> {
  const span = query.window ? 1 : bucketSpan(query.from, query.to, GRANULARITIES[query.granularity]);
  if (span >= limit) return limit;
  return Math.min(limit, span * (await countSeries(deps, principal, query)));
}
