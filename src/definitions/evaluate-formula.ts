/**
 * Runs a checked formula for the transaction's tenant: resolves the series each reference
 * reads (with its tag matchers and the query's filters), checks groupBy and the cost, then
 * runs the one compiled statement and returns values per group and bucket.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { filterSql, takeCells, type ReadAllowance, type TagFilter } from '../query/aggregate.js';
import { avoidLatePointsInBuckets } from '../query/invalidations.js';
import { yieldToLoop } from '../query/budget.js';
import { anchoredRegex, type CheckedFormula, type Reference } from './check-formula.js';
import { compileFormula, type FormulaRow } from './compile-formula.js';
import type { Matcher } from './parse-formula.js';
import { bucketWindows, describe, type Bucketing, type Selection, type Source } from '../query/read-buckets.js';

export interface FormulaQuery {
  bucketing: Bucketing;
  /** Only series with all these tag values. */
  tags: Tags;
  /** Applied to every reference, on top of its own matchers. */
  filters: TagFilter[];
  groupBy: string[];
}

export interface FormulaOptions {
  timescale: boolean;
  /** The most buckets × series one evaluation may touch. */
  maxCost: number;
  /** Replaces the planned sources, e.g. with report rollups where they exist. */
  sources?: (planned: Source[]) => Source[];
  /**
   * series × buckets one statement may read (fixed-width buckets only): the range is then read
   * in windows of that many cells, each its own statement, so no statement asks the engine (and,
   * embedded, its one connection and its memory) for more than that at once. A window is at
   * least one bucket, however many series.
   */
  statementCells?: number;
  /** What the read was admitted for (answerQuery): the distinct series it reads × buckets are taken from it before any bucket is read. */
  allowance?: ReadAllowance;
  /** Values (groups × buckets with points) the evaluation may hold: past it, after the window that passed it, `overValues` is thrown and no further window is read. */
  maxValues?: { limit: number; overValues: (values: number) => Error };
}

/** buckets × series touched: what previewMetricDefinition shows and the limit bounds. */
export interface FormulaCost {
  series: number;
  buckets: number;
  cells: number;
  limit: number;
}

export interface FormulaGroup {
  /** The group-by tag values (keys a group's series lack are left out). */
  tags: Tags;
  /** Buckets with points, oldest first: index into `bucketing.starts`. */
  values: Array<{ index: number; value: number | null; n: number }>;
}

export interface FormulaResult {
  groups: FormulaGroup[];
  sources: string[];
  cost: FormulaCost;
}

/** The SQL condition of one tag matcher on series `s`; regexes are anchored and compiled by PostgreSQL. */
function matcherSql(m: Matcher): RawBuilder<boolean> {
  switch (m.op) {
    case '=':
      return sql<boolean>`s.tags @> jsonb_build_object(${m.key}::text, ${m.value}::text)`;
    case '!=':
      return sql<boolean>`(s.tags ->> ${m.key}::text) is distinct from ${m.value}::text`;
    case '=~':
      return sql<boolean>`coalesce((s.tags ->> ${m.key}::text) ~ ${anchoredRegex(m.value)}::text, false)`;
    case '!~':
      return sql<boolean>`not coalesce((s.tags ->> ${m.key}::text) ~ ${anchoredRegex(m.value)}::text, false)`;
  }
}

export interface SeriesRow {
  ref: number;
  id: number;
  tags: Tags;
}

/**
 * Every reference's series in one statement: `ref` says which reference a row is for.
 *
 *   select 0::int as ref, s.id, s.tags from series s where s.metric_id = $1 and coalesce((s.tags ->> $2::text) ~ $3::text, false)
 *   union all
 *   select 1::int as ref, s.id, s.tags from series s where s.metric_id = $4
 */
export function seriesSql(references: Reference[], query: Pick<FormulaQuery, 'tags' | 'filters'>): RawBuilder<SeriesRow> {
  const common: RawBuilder<boolean>[] = query.filters.map(filterSql);
  if (Object.keys(query.tags).length > 0) common.push(sql<boolean>`s.tags @> ${JSON.stringify(query.tags)}::jsonb`);
  const selects = references.map((reference, i) => {
    const conditions = [sql<boolean>`s.metric_id = ${reference.metric.id}`, ...reference.matchers.map(matcherSql), ...common];
    return sql`select ${i}::int as ref, s.id, s.tags from series s where ${sql.join(conditions, sql` and `)}`;
  });
  return sql<SeriesRow>`${sql.join(selects, sql` union all `)}`;
}

/**
 * Throws BAD_USER_INPUT unless every groupBy key is a tag of every referenced metric: a group
 * must mean the same thing on both sides of `sum(errors) / sum(requests)`.
 */
export async function checkGroupBy(trx: TenantTx, formula: Pick<CheckedFormula, 'references'>, groupBy: string[]): Promise<void> {
  if (groupBy.length === 0) return;
  const metrics = [...new Map(formula.references.map((r) => [r.metric.id, r.metric])).values()];
  const { rows } = await sql<{ metric_id: number; keys: string[] }>`
    select s.metric_id, array_agg(distinct k order by k) as keys
    from series s cross join lateral jsonb_object_keys(s.tags) k
    where s.metric_id = any(${metrics.map((m) => m.id)}::bigint[])
    group by s.metric_id`.execute(trx);
  for (const metric of metrics) {
    const keys = rows.find((r) => r.metric_id === metric.id)?.keys ?? [];
    const missing = groupBy.find((key) => !keys.includes(key));
    if (missing !== undefined) {
      throw userError(
        'BAD_USER_INPUT',
        'formula.groupByNotTag', { key: missing, metric: metric.name, tags: keys.join(', ') || 'none' },
        { groupBy: missing, metric: metric.name },
      );
    }
  }
}

const groupOrder = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Resolves series and groups, and the cost of reading them; throws LIMIT_EXCEEDED past the limit. */
export async function planFormula(trx: TenantTx, formula: CheckedFormula, query: FormulaQuery, options: Pick<FormulaOptions, 'maxCost' | 'allowance'>) {
  await checkGroupBy(trx, formula, query.groupBy);
  const { rows } = await seriesSql(formula.references, query).execute(trx);
  const groups: Array<{ key: string; tags: Tags }> = [];
  const groupIndex = new Map<string, number>();
  const selections: Selection[] = formula.references.map((r) => (r.fn === 'count_distinct' ? { ids: [], grps: [], values: [] } : { ids: [], grps: [] }));
  for (const row of rows) {
    const tags: Tags = {};
    for (const key of query.groupBy) if (row.tags[key] !== undefined) tags[key] = row.tags[key];
    const key = JSON.stringify(query.groupBy.map((k) => tags[k] ?? null));
    let index = groupIndex.get(key);
    if (index === undefined) {
      index = groups.length;
      groupIndex.set(key, index);
      groups.push({ key, tags });
    }
    const selection = selections[row.ref]!;
    selection.ids.push(row.id);
    selection.grps.push(index);
    selection.values?.push(row.tags[formula.references[row.ref]!.tagKey!] ?? null);
  }
  const series = rows.length;
  const buckets = query.bucketing.count;
  const cost: FormulaCost = { series, buckets, cells: series * buckets, limit: options.maxCost };
  if (cost.cells > options.maxCost) {
    throw userError(
      'LIMIT_EXCEEDED',
      'formula.overCost', { series, buckets, cells: cost.cells, limit: options.maxCost },
      { cost: cost.cells, limit: options.maxCost },
    );
  }
  // Its groups are at most its distinct series (a metric referenced twice is read once per reference, held once per group).
  takeCells(options.allowance, new Set(rows.map((row) => row.id)).size * buckets);
  return { groups, selections, cost };
}

/**
 * Evaluates `formula` per group and bucket.
 *
 * @example
 * await evaluateFormula(trx, await checkFormula(trx, 'sum(errors) / sum(requests)'),
 *   { bucketing: fixedBuckets(from, to, HOUR), tags: {}, filters: [], groupBy: ['route'] }, { timescale: true, maxCost: 1e6 })
 * // { groups: [{ tags: { route: '/a' }, values: [{ index: 0, value: 0.012, n: 2400 }, …] }, …],
 * //   sources: ['stats_1h'], cost: { series: 8, buckets: 3, cells: 24, limit: 1000000 } }
 */
export async function evaluateFormula(trx: TenantTx, formula: CheckedFormula, query: FormulaQuery, options: FormulaOptions): Promise<FormulaResult> {
  const { groups, selections, cost } = await planFormula(trx, formula, query, options);
  const kinds: Array<'stats' | 'sketch'> = formula.references.some((r) => r.quantile !== undefined) ? ['stats', 'sketch'] : ['stats'];
  const ordered = groups.map((g, index) => ({ ...g, index })).sort(groupOrder);
  const values = new Map<number, FormulaGroup['values']>(groups.map((_, i) => [i, []]));
  const read: Source[] = [];
  let held = 0;
  const perWindow = options.statementCells === undefined ? query.bucketing.count : options.statementCells / Math.max(1, cost.series);
  // Windows oldest first, so each group's values come out in bucket order.
  for (const [i, { offset, bucketing }] of bucketWindows(query.bucketing, perWindow).entries()) {
    // Between two windows' statements other requests (and /health/live) get the loop.
    if (i > 0) await yieldToLoop();
    const planned = bucketing.plan(options.timescale);
    // [late points, #12b] Ranges with late points not yet in the aggregates or rollups are read from raw points.
    const sources: Source[] = await avoidLatePointsInBuckets(trx, options.sources ? options.sources(planned) : planned, selections.flatMap((s) => s.ids), bucketing, options.timescale);
    read.push(...sources);
    if (sources.length === 0 || !selections.some((s) => s.ids.length > 0)) continue;
    let rows: FormulaRow[];
    try {
      ({ rows } = await compileFormula(formula, selections, sources, bucketing).execute(trx));
    } catch (error) {
      const code = (error as { code?: string }).code;
      // Both are checked when a formula is saved; these keep a surprise from being an INTERNAL error.
      if (code === '2201B') throw userError('BAD_USER_INPUT', 'formula.badRegex', { detail: (error as Error).message });
      if (code === '22003') throw userError('BAD_USER_INPUT', 'formula.outOfRange');
      throw error;
    }
    for (const row of rows) {
      values.get(row.grp)!.push({ index: offset + bucketing.index(row.b), value: row.value === null ? null : Number(row.value), n: Number(row.n) });
    }
    held += rows.length;
    if (options.maxValues && held > options.maxValues.limit) throw options.maxValues.overValues(held);
  }
  return {
    groups: ordered.map((g) => ({ tags: g.tags, values: values.get(g.index)!.sort((a, b) => a.index - b.index) })),
    sources: describe(read, kinds),
    cost,
  };
}
