/**
 * A checked formula → one SQL statement. Each distinct metric reference becomes a CTE of
 * (grp, b, v, n) rows for its function, read from the sources the planner picked (continuous
 * aggregates where they answer exactly, rollups for report periods, raw points at the edges);
 * the arithmetic is then applied per (group, bucket). So a ratio is a ratio of sums per bucket
 * and group, never an average of ratios, and division by zero is null (NULLIF).
 *
 * No user text is ever part of the SQL: metric ids, tag values, regexes and even numeric
 * constants are parameters; operators and CTE names come from fixed lists.
 */
import { sql, type RawBuilder } from 'kysely';
import { ADDITIVE, type CheckedFormula, type Expr, type Reference } from './check-formula.js';
import { quantileSql, selectionSql, statsSql, unionSql, type Bucketing, type Selection, type Source } from '../query/read-buckets.js';

/** One row of a formula's answer: group, bucket (as `Bucketing.of` gives it), value, points read. */
export interface FormulaRow {
  grp: number;
  b: unknown;
  value: number | null;
  n: number;
}

const OPERATORS = { '+': sql`+`, '-': sql`-`, '*': sql`*`, '/': sql`/` } as const;

/** The CTE of one reference: (grp, b, v, n) per group and bucket where it has points. */
function referenceSql(reference: Reference, selection: Selection, sources: Source[], bucketing: Bucketing): RawBuilder<unknown> {
  const fn = reference.fn;
  if (fn === 'count_distinct') {
    // Series with points in the bucket, counted by their distinct values of the tag (series without the tag do not count).
    return sql`select sel.grp, seg.b, count(distinct sel.val)::float8 as v, sum(seg.n)::float8 as n
               from (${unionSql(sources, 'stats', bucketing, selection.ids)}) seg join ${selectionSql(selection)} on sel.series_id = seg.series_id
               where seg.n > 0 and sel.val is not null
               group by sel.grp, seg.b`;
  }
  const stats = statsSql(sources, bucketing, { ids: selection.ids, grps: selection.grps });
  if (reference.quantile !== undefined) {
    return quantileSql(sources, bucketing, { ids: selection.ids, grps: selection.grps }, reference.quantile, sql`(${stats})`);
  }
  const values: Record<string, RawBuilder<unknown>> = {
    sum: sql`st.s`,
    increase: sql`st.s`,
    count: sql`st.n`,
    avg: sql`st.s / nullif(st.n, 0)`,
    min: sql`st.mn`,
    max: sql`st.mx`,
    last: sql`st.lv`,
    // COUNTER values are increments: the increase per second of the bucket's part inside the range.
    rate: sql`st.s / nullif(${bucketing.covered(sql`st.b`)}, 0)`,
  };
  const value = values[fn];
  if (!value) throw new Error(`no SQL for function ${fn}`);
  return sql`select st.grp, st.b, (${value})::float8 as v, st.n from (${stats}) st`;
}

/**
 * The arithmetic over the references' CTEs. In a bucket where a reference has no points,
 * additive functions (sum, count, rate, increase, count_distinct) are 0 there, so
 * `sum(errors) / sum(requests)` is 0 in a bucket without errors; the others are unknown (null).
 */
function valueSql(expr: Expr, references: Reference[]): RawBuilder<number> {
  switch (expr.kind) {
    case 'number':
      return sql<number>`${expr.value}::float8`;
    case 'negate':
      return sql<number>`(- ${valueSql(expr.operand, references)})`;
    case 'binary': {
      const left = valueSql(expr.left, references);
      const right = valueSql(expr.right, references);
      return expr.op === '/' ? sql<number>`(${left} / nullif(${right}, 0::float8))` : sql<number>`(${left} ${OPERATORS[expr.op]} ${right})`;
    }
    case 'ref': {
      const ref = sql.ref(`r${expr.index}.v`);
      return ADDITIVE.has(references[expr.index]!.fn) ? sql<number>`coalesce(${ref}, 0::float8)` : sql<number>`${ref}`;
    }
  }
}

/**
 * The statement answering `formula` over `bucketing` for the series in `selections` (one per
 * reference, in the order of `formula.references`).
 *
 * @example
 * // sum(http.errors{status=~"5.."}) / sum(http.requests) * 100, one group, hourly:
 * // with r0 as (select st.grp, st.b, (st.s)::float8 as v, st.n from (select sel.grp, date_bin(…) … ) st),
 * //      r1 as (…),
 * //      k as (select grp, b from r0 union select grp, b from r1)
 * // select k.grp, k.b, ((coalesce(r0.v, 0) / nullif(coalesce(r1.v, 0), 0::float8)) * $9::float8) as value, … from k
 * //   left join r0 on r0.grp = k.grp and r0.b = k.b left join r1 on …
 */
export function compileFormula(formula: Pick<CheckedFormula, 'expr' | 'references'>, selections: Selection[], sources: Source[], bucketing: Bucketing): RawBuilder<FormulaRow> {
  const refs = formula.references.map((reference, i) => ({ name: `r${i}`, reference, selection: selections[i]! }));
  const ctes = refs.map(({ name, reference, selection }) => sql`${sql.table(name)} as (${referenceSql(reference, selection, sources, bucketing)})`);
  const keys = sql.join(
    refs.map(({ name }) => sql`select grp, b from ${sql.table(name)}`),
    sql` union `,
  );
  const joins = sql.join(
    refs.map(({ name }) => sql`left join ${sql.table(name)} on ${sql.ref(`${name}.grp`)} = k.grp and ${sql.ref(`${name}.b`)} = k.b`),
    sql` `,
  );
  const points = sql.join(
    refs.map(({ name }) => sql`coalesce(${sql.ref(`${name}.n`)}, 0)`),
    sql` + `,
  );
  return sql<FormulaRow>`
    with ${sql.join(ctes)}, k as (${keys})
    select k.grp, k.b, ${valueSql(formula.expr, formula.references)} as value, (${points})::float8 as n
    from k ${joins}
    order by k.grp, k.b`;
}
