/**
 * Definitions wherever a metric name is accepted. This is the entry point for other query
 * paths (metricAggregates, latestValue, and for live aggregates and alerts):
 *
 *   const definitions = await findDefinitions(trx, query.metrics, readerOf(principal));
 *   const result = await runAggregateWithDefinitions(trx, query, definitions, options);
 *
 * `result` has the shape runAggregate returns; a definition gives one series per group whose
 * buckets carry its `value`. `definitions[i].metrics` names the recorded metrics each one reads,
 * which is what a live query must watch for new points.
 */
import { sql } from 'kysely';
import type { Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { bucketingOf, runAggregate, type AggregateQuery, type AggregateResult, type Bucket, type QueryLimits, type ReadAllowance, type ResultSeries } from '../query/aggregate.js';
import { MINUTE } from '../query/plan.js';
import { checkFormula, type CheckedFormula } from './check-formula.js';
import { evaluateFormula, type FormulaCost, type FormulaGroup } from './evaluate-formula.js';
import { FormulaError } from './parse-formula.js';
import { fixedBuckets, type Bucketing } from '../query/read-buckets.js';
import type { LoadedDefinition } from './store-definitions.js';

export interface DefinitionQueryOptions {
  timescale: boolean;
  percentiles: boolean;
  limits: QueryLimits;
  /** buckets × series one definition may read (FORMULA_MAX_COST). */
  maxCost: number;
  /** What the whole answer was admitted for (answerQuery's read gate); each part takes its cells. */
  allowance?: ReadAllowance;
}

/** A series of a definition: a ResultSeries that also says which definition version answered. */
export interface DefinitionSeries extends ResultSeries {
  definition: { name: string; version: number };
}

/** A stored formula checked again for today's metrics (one may have been purged since it was saved). */
export async function checkStored(trx: TenantTx, definition: Pick<LoadedDefinition, 'name' | 'version' | 'formula'>): Promise<CheckedFormula> {
  try {
    return await checkFormula(trx, definition.formula);
  } catch (error) {
    if (error instanceof FormulaError) {
      throw userError('BAD_USER_INPUT', 'definition.stale', { name: definition.name, version: definition.version, detail: error.message }, { definition: definition.name });
    }
    throw error;
  }
}

/**
 * A definition's buckets: one value each. sum, min, max, avg, last and the percentiles all
 * carry that value, so a panel plotting any of them shows the definition; count is the points
 * its references read; rate is null.
 */
export function definitionBuckets(group: FormulaGroup, bucketing: Bucketing): Bucket[] {
  return group.values.map(({ index, value, n }) => ({
    start: new Date(bucketing.start(index)),
    end: new Date(bucketing.end(index)),
    count: n,
    sum: value,
    min: value,
    max: value,
    avg: value,
    last: value,
    rate: null,
    p50: value,
    p90: value,
    p95: value,
    p99: value,
    value,
  }));
}

/** The series of one definition for an aggregate query: the query's groupBy, or the definition's when the query has none. */
export async function evaluateDefinition(
  trx: TenantTx,
  definition: LoadedDefinition,
  query: AggregateQuery,
  options: Pick<DefinitionQueryOptions, 'timescale' | 'maxCost' | 'allowance'>,
): Promise<{ series: DefinitionSeries[]; sources: string[]; cost: FormulaCost }> {
  const formula = await checkStored(trx, definition);
  const bucketing = bucketingOf(query);
  const groupBy = query.groupBy.length > 0 ? query.groupBy : definition.groupBy;
  const result = await evaluateFormula(trx, formula, { bucketing, tags: query.tags, filters: [...definition.filters, ...query.filters], groupBy }, options);
  const series = result.groups.map((group) => ({
    metric: definition.name,
    type: 'GAUGE' as const,
    unit: definition.unit,
    tags: group.tags,
    definition: { name: definition.name, version: definition.version },
    // Buckets with points only: a fill mode is applied per page by src/query/fill.ts.
    buckets: definitionBuckets(group, bucketing),
  }));
  return { series, sources: result.sources, cost: result.cost };
}

/**
 * runAggregate for a query whose names may include definitions (`definitions`, from
 * findDefinitions): recorded metrics are answered by runAggregate, each definition by its
 * formula; series come back in the order of `query.metrics`.
 */
export async function runAggregateWithDefinitions(
  trx: TenantTx,
  query: AggregateQuery,
  definitions: readonly LoadedDefinition[],
  options: DefinitionQueryOptions,
): Promise<AggregateResult> {
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const recorded = query.metrics.filter((name) => !byName.has(name));
  const series: ResultSeries[] = [];
  const sources = new Set<string>();
  let downsampled: boolean | undefined;
  if (recorded.length > 0) {
    const result = await runAggregate(trx, { ...query, metrics: recorded }, options);
    series.push(...result.series);
    for (const s of result.sources) sources.add(s);
    downsampled = result.downsampled;
  }
  for (const definition of definitions) {
    if (!query.metrics.includes(definition.name)) continue;
    const result = await evaluateDefinition(trx, definition, query, options);
    series.push(...result.series);
    for (const s of result.sources) sources.add(s);
  }
  const order = (s: ResultSeries) => query.metrics.indexOf(s.metric);
  // Array.prototype.sort is stable: each metric's series keep their group order.
  series.sort((a, b) => order(a) - order(b));
  return { granularity: query.granularity, series, sources: [...sources], ...(downsampled === undefined ? {} : { downsampled }) };
}

/** How far back latestValue looks for a definition's newest minute with points. */
export const LATEST_LOOKBACK_MS = 24 * 60 * MINUTE;

/**
 * latestValue of a definition: its value over the newest minute (within the last 24 hours)
 * in which its references have points, over the series matching `tags`.
 */
export async function latestDefinitionValue(
  trx: TenantTx,
  definition: LoadedDefinition,
  tags: Tags,
  options: Pick<DefinitionQueryOptions, 'timescale' | 'maxCost'>,
  now = new Date(),
): Promise<{ value: number; timestamp: Date } | null> {
  const formula = await checkStored(trx, definition);
  const to = new Date(Math.floor(now.getTime() / MINUTE) * MINUTE + MINUTE);
  const bucketing = fixedBuckets(new Date(to.getTime() - LATEST_LOOKBACK_MS), to, MINUTE);
  const result = await evaluateFormula(trx, formula, { bucketing, tags, filters: definition.filters, groupBy: [] }, options);
  const newest = result.groups[0]?.values.at(-1);
  if (!newest || newest.value === null) return null;
  return { value: newest.value, timestamp: new Date(bucketing.start(newest.index)) };
}

/** tagKeys of a definition: the keys every metric it references has, so the keys it can be grouped by. */
export async function definitionTagKeys(trx: TenantTx, definition: LoadedDefinition): Promise<string[]> {
  const { rows } = await sql<{ key: string }>`
    select k as key
    from metrics m join series s on s.metric_id = m.id cross join lateral jsonb_object_keys(s.tags) k
    where m.name = any(${definition.metrics}::text[])
    group by k
    having count(distinct m.id) = ${definition.metrics.length}::int
    order by k limit 1000`.execute(trx);
  return rows.map((r) => r.key);
}

/** tagValues of a definition: the values of `key` across the series of the metrics it references. */
export async function definitionTagValues(trx: TenantTx, definition: LoadedDefinition, key: string, prefix: string, limit: number): Promise<string[]> {
  const { rows } = await sql<{ value: string }>`
    select distinct s.tags ->> ${key}::text as value
    from metrics m join series s on s.metric_id = m.id
    where m.name = any(${definition.metrics}::text[]) and jsonb_exists(s.tags, ${key}::text)
      and starts_with(s.tags ->> ${key}::text, ${prefix}::text)
    order by value limit ${limit}`.execute(trx);
  return rows.map((r) => r.value);
}
