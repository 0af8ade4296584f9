/**
 * The query service: answers an aggregate query for one tenant principal, from the cache when
 * it holds a fresh enough answer, else through the bucket reader (runAggregate for recorded
 * metrics, formulas for definitions), admitted through the instance's read gate (#16).
 * metricAggregates, liveAggregates, anomalies, alerts and exports all call it;
 * src/schema/aggregation.ts only declares.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Principal } from '../auth.js';
import { withTenantRead, type Reads, type TenantTx } from '../db/tenant.js';
import { runAggregateWithDefinitions } from '../definitions/evaluate-definition.js';
import { definitionStamp, findDefinitions, readerOf, scopeSettings, type LoadedDefinition } from '../definitions/store-definitions.js';
import type { Env } from '../env.js';
import { userError } from '../errors.js';
import { olderThanRaw } from '../ops/retention.js';
import { ReadOutgrown, seriesOfMetric, type AggregateQuery, type AggregateResult, type ReadAllowance } from './aggregate.js';
import type { AnswerGate } from './answer-gate.js';
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
  /** series × buckets being read at once on this instance (QUERY_READ_CELLS_IN_FLIGHT). */
  readGate: AnswerGate;
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
 *
 * #16: an answer is read whole (up to QUERY_MAX_CELLS), whatever page of it the caller then
 * returns, so a read is admitted through the instance's read gate (deps.readGate) for the most
 * it may read: its series (countSeries' count) × the buckets of its range. At most
 * QUERY_READ_CELLS_IN_FLIGHT series × buckets are then read at once per instance, however small
 * the pages cut from them. The order of the work:
 *
 *   1. one transaction: definitions, cache lookup, and on a miss the series count;
 *   2. outside any transaction, the read gate (a wait inside one would hold the embedded
 *      engine's only connection, and everyone would wait with it); a cached answer never waits;
 *   3. a second transaction reads the answer, taking no more cells than were admitted (series
 *      created after the count: admitted again, see below); the cells are given back once it
 *      is read and serialised for the cache, before the cache write.
 *
 * A caller may hold page buckets (src/plugins/page-admission.ts) while it waits here; nothing
 * waits for anything while it holds read cells, so the two gates cannot wait on each other.
 */
export async function answerQuery(
  deps: QueryDeps,
  principal: Extract<Principal, { kind: 'tenant' }>,
  request: AggregateQuery,
  percentiles: boolean,
): Promise<{ result: AggregateResult; fromCache: boolean }> {
  const { env, queryCache, db, readGate } = deps;
  // The range is budgeted before anything grows with it; the answer holds only buckets with
  // points (a fill mode is applied per page, src/query/fill.ts), so it is as big as the data
  // read, in memory and in the cache, whatever the fill mode.
  const buckets = bucketBudget(request.from, request.to, GRANULARITIES[request.granularity], { maxBuckets: env.QUERY_MAX_BUCKETS }, request.granularity);
  // A window query (alerts) reads one bucket over [from, to).
  const span = request.window ? 1 : buckets;
  const query: AggregateQuery = { ...request, fill: 'NONE' };
  const transaction = { timeoutMs: env.QUERY_TIMEOUT_MS, limitExceeded: true, settings: scopeSettings(readerOf(principal)) };
  // Every round trip is a fixed cost of every answer, cached or not: which names are
  // definitions (and at which version) decides the cache key, so they are read first, and a
  // hit ends the work there; a miss counts its series in the same transaction.
  const looked = await withTenantRead(
    db.reads,
    principal.tenantId,
    async (trx) => {
      const definitions = await findDefinitions(trx, query.metrics, 'scoped');
      // The write generations of what the query reads (bumped by every commit, across instances
      // through Redis): a write retires the answers that may include it. A definition reads other
      // metrics, so any write of the tenant retires it (ANY_METRIC). Taken here, before the read:
      // a write committed while the answer is read retires it.
      const key = queryKey(principal.tenantId, query, percentiles, definitions);
      const { written, value: cached } = await queryCache.lookup(principal.tenantId, definitions.length > 0 ? [ANY_METRIC] : query.metrics, key);
      if (cached) return { cached };
      // An unknown name counts no series here; the read says NOT_FOUND for it, as before.
      return { key, written, definitions, series: await seriesOf(trx, query, definitions, 'count') };
    },
    transaction,
  );
  if ('cached' in looked) return { result: JSON.parse(looked.cached!, reviveDates) as AggregateResult, fromCache: true };
  const { key, written, definitions } = looked;
  const read = (allowance: ReadAllowance | undefined) =>
    withTenantRead(
      db.reads,
      principal.tenantId,
      async (trx): Promise<AggregateResult> => {
        const options = { timescale: db.timescale, percentiles, limits: { maxCells: env.QUERY_MAX_CELLS }, maxCost: env.FORMULA_MAX_COST, allowance };
        const answer = await runAggregateWithDefinitions(trx, query, definitions, options);
        return { ...answer, downsampled: answer.downsampled ?? (db.timescale && (await olderThanRaw(trx, query.from))) };
      },
      transaction,
    );
  let result: AggregateResult | undefined;
  let entry: string | undefined;
  // Admitted for what was counted. The read resolves its series again: if some were created
  // since the count, it stops before reading a bucket (ReadOutgrown) and is admitted again for
  // the gate's whole capacity, so it is read alone, as any read of at least that weight is.
  for (let cells = looked.series * span; result === undefined; cells = readGate.capacity) {
    const release = await readGate.admit(principal.tenantId, cells);
    try {
      result = await read(cells < readGate.capacity ? { cells } : undefined);
      // Its JSON is as big again as the answer: made while the cells are still held.
      const buckets = result.series.reduce((n, s) => n + s.buckets.length, 0);
      if (buckets * MIN_BUCKET_JSON <= queryCache.maxEntryBytes) entry = JSON.stringify(result);
    } catch (error) {
      if (!(error instanceof ReadOutgrown)) throw error;
    } finally {
      release();
    }
  }
  if (entry !== undefined) {
    const live = query.to.getTime() > Date.now() - LIVE_WINDOW_MS;
    await queryCache.set(key, entry, live ? env.QUERY_CACHE_TTL_MS : env.QUERY_CACHE_HISTORICAL_TTL_MS, written);
  }
  return { result, fromCache: false };
}

/**
 * How many series of the recorded metrics `query` names and of the metrics its `definitions`
 * read match its tags and filters, in one statement. A definition's groups are at most its
 * metrics' series, so series × buckets bounds any answer, whatever its fill. A metric is
 * counted for each part of the answer that reads it (`errors` and a definition over `errors`:
 * twice), as each part reads and holds it. `refuse`: NOT_FOUND for a name that is neither (as
 * the answer would be); `count`: such a name counts 0.
 *
 *   select m.name, (select count(*)::int from series s where s.metric_id = m.id and s.tags @> $1::jsonb) as series
 *   from metrics m where m.name = any($2::text[])
 */
async function seriesOf(trx: TenantTx, query: Pick<AggregateQuery, 'metrics' | 'tags' | 'filters'>, definitions: readonly LoadedDefinition[], unknown: 'refuse' | 'count'): Promise<number> {
  const defined = new Set(definitions.map((d) => d.name));
  const parts = [query.metrics.filter((name) => !defined.has(name)), ...definitions.map((d) => d.metrics)].map((names) => [...new Set(names)]);
  const metrics = [...new Set(parts.flat())];
  if (metrics.length === 0) return 0;
  const conditions = seriesOfMetric(query);
  const { rows } = await sql<{ name: string; series: number }>`
    select m.name, (select count(*)::int from series s where ${sql.join(conditions, sql` and `)}) as series
    from metrics m where m.name = any(${metrics}::text[])`.execute(trx);
  const missing = metrics.find((name) => !rows.some((row) => row.name === name));
  if (unknown === 'refuse' && missing !== undefined) throw userError('NOT_FOUND', 'metric.notFound', { metric: missing }, { metric: missing });
  const series = new Map(rows.map((row) => [row.name, Number(row.series)]));
  return parts.flat().reduce((n, name) => n + (series.get(name) ?? 0), 0);
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
    async (trx) => seriesOf(trx, query, await findDefinitions(trx, query.metrics, readerOf(principal)), 'refuse'),
    { timeoutMs: deps.env.QUERY_TIMEOUT_MS, limitExceeded: true },
  );
}

/**
 * The most buckets a page of at most `limit` buckets of `query` can hold, known before anything
 * is read: what it is admitted for (src/plugins/page-admission.ts). Not what is read to make
 * it: answerQuery admits that apart, through the read gate. A range of at least `limit`
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
