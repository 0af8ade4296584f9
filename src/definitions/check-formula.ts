/**
 * Checks a parsed formula against the tenant: every metric exists (else a did-you-mean), each
 * function suits its metric's type, every regular expression compiles in PostgreSQL. The
 * result is what the compiler takes: the expression with its references numbered, each
 * reference once however often it is written.
 */
import { sql } from 'kysely';
import type { Metric, MetricType } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { callsOf, didYouMean, FormulaError, FUNCTIONS, parseFormula, type Call, type FunctionName, type Matcher, type Node, type Position } from './parse-formula.js';

/** One distinct metric reference: what to read and how to aggregate it. */
export interface Reference {
  fn: FunctionName;
  /** For quantile and p50…p99. */
  quantile?: number;
  /** For count_distinct. */
  tagKey?: string;
  metric: Pick<Metric, 'id' | 'name' | 'type' | 'unit'>;
  matchers: Matcher[];
}

/** The formula with calls replaced by the index of their reference. */
export type Expr =
  | { kind: 'number'; value: number }
  | { kind: 'negate'; operand: Expr }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr }
  | { kind: 'ref'; index: number };

export interface CheckedFormula {
  text: string;
  expr: Expr;
  references: Reference[];
  /** Referenced metric names, sorted. */
  metrics: string[];
}

/** Functions whose value over no points is 0 rather than unknown (so `sum(errors) / sum(requests)` is 0 in a bucket without errors). */
export const ADDITIVE: ReadonlySet<FunctionName> = new Set(['sum', 'count', 'rate', 'increase', 'count_distinct']);

/** Why `fn` cannot read a metric of `type` (and what to use instead), or null when it can. */
export function typeMismatch(fn: FunctionName, metric: string, type: MetricType): { detail: string; hint: string } | null {
  if ((fn === 'rate' || fn === 'increase') && type !== 'COUNTER') {
    return { detail: `${fn} needs a COUNTER, and '${metric}' is a ${type}`, hint: `use ${type === 'GAUGE' ? 'avg, min, max or last' : 'count, avg or a percentile'}` };
  }
  if (FUNCTIONS[fn].kind === 'quantile' && type === 'COUNTER') {
    return { detail: `${fn} of the COUNTER '${metric}' is meaningless`, hint: 'its values are increments: use rate or increase' };
  }
  if (fn === 'last' && type === 'COUNTER') {
    return { detail: `last of the COUNTER '${metric}' is meaningless`, hint: 'its values are increments: use increase (or latestValue for the running total)' };
  }
  return null;
}

/**
 * The regex PostgreSQL runs for `=~`/`!~`: anchored at both ends, as PromQL's are. The pattern
 * is checked to compile on its own first (checkFormula), so it is one balanced expression and
 * `zzz)|(.*` cannot close the group early and leave `.*` unanchored.
 */
export function anchoredRegex(pattern: string): string {
  return `^(?:${pattern})$`;
}

function referenceKey(call: Call): string {
  return JSON.stringify([call.fn, call.quantile ?? null, call.tagKey ?? null, call.selector.metric, call.selector.matchers.map((m) => [m.key, m.op, m.value])]);
}

/**
 * Parses and checks `text` for the transaction's tenant. Throws FormulaError (with a position)
 * for anything the author must fix.
 *
 * @example
 * await checkFormula(trx, 'sum(http.errors{status=~"5.."}) / sum(http.requests) * 100')
 * // { expr: { kind: 'binary', op: '*', left: { kind: 'binary', op: '/', … }, … },
 * //   references: [{ fn: 'sum', metric: { name: 'http.errors', … }, matchers: [{ key: 'status', op: '=~', value: '5..' }] }, …],
 * //   metrics: ['http.errors', 'http.requests'] }
 */
export async function checkFormula(trx: TenantTx, text: string): Promise<CheckedFormula> {
  const ast = parseFormula(text);
  const calls = callsOf(ast);
  if (calls.length === 0) throw new FormulaError('a formula needs at least one metric', { offset: 0, line: 1, column: 1 }, 'e.g. sum(http.requests)');

  const names = [...new Set(calls.map((c) => c.selector.metric))];
  const metrics = await trx.selectFrom('metrics').select(['id', 'name', 'type', 'unit']).where('name', 'in', names).execute();
  const byName = new Map(metrics.map((m) => [m.name, m]));
  for (const call of calls) {
    const name = call.selector.metric;
    if (!byName.has(name)) throw await unknownMetric(trx, name, call.selector.pos);
  }
  for (const call of calls) {
    const metric = byName.get(call.selector.metric)!;
    const mismatch = typeMismatch(call.fn, metric.name, metric.type);
    if (mismatch) throw new FormulaError(mismatch.detail, call.pos, mismatch.hint);
  }

  // Regexes compile in PostgreSQL (regex_error, migrations/0020): never a JavaScript RegExp over user text.
  const regexes = calls.flatMap((c) => c.selector.matchers.filter((m) => m.op === '=~' || m.op === '!~'));
  if (regexes.length > 0) {
    const { rows } = await sql<{ i: number; error: string | null }>`
      select (t.i - 1)::int as i, coalesce(regex_error(t.p), regex_error('^(?:' || t.p || ')$')) as error
      from unnest(${regexes.map((m) => m.value)}::text[]) with ordinality as t (p, i)`.execute(trx);
    const bad = rows.filter((r) => r.error !== null).sort((a, b) => a.i - b.i)[0];
    if (bad) throw new FormulaError(`the regular expression ${JSON.stringify(regexes[bad.i]!.value)} does not compile`, regexes[bad.i]!.pos, `PostgreSQL says: ${bad.error}`);
  }

  const references: Reference[] = [];
  const indexByKey = new Map<string, number>();
  const toExpr = (node: Node): Expr => {
    switch (node.kind) {
      case 'number':
        return { kind: 'number', value: node.value };
      case 'negate':
        return { kind: 'negate', operand: toExpr(node.operand) };
      case 'binary':
        return { kind: 'binary', op: node.op, left: toExpr(node.left), right: toExpr(node.right) };
      case 'call': {
        const key = referenceKey(node);
        let index = indexByKey.get(key);
        if (index === undefined) {
          index = references.length;
          indexByKey.set(key, index);
          const reference: Reference = { fn: node.fn, metric: byName.get(node.selector.metric)!, matchers: node.selector.matchers };
          const q = node.fn === 'quantile' ? node.quantile : FUNCTIONS[node.fn].kind === 'quantile' ? (FUNCTIONS[node.fn] as { q: number }).q : undefined;
          if (q !== undefined) reference.quantile = q;
          if (node.tagKey !== undefined) reference.tagKey = node.tagKey;
          references.push(reference);
        }
        return { kind: 'ref', index };
      }
    }
  };
  return { text, expr: toExpr(ast), references, metrics: names.sort() };
}

/** The error for a metric name this tenant has not recorded, with the closest name it has. */
async function unknownMetric(trx: TenantTx, name: string, pos: Position): Promise<FormulaError> {
  const definition = await trx.selectFrom('metric_definitions').select('name').where('name', '=', name).executeTakeFirst();
  if (definition) return new FormulaError(`'${name}' is a metric definition`, pos, 'a formula can reference recorded metrics only');
  const known = await trx.selectFrom('metrics').select('name').orderBy('name').limit(10_000).execute();
  const suggestion = didYouMean(
    name,
    known.map((m) => m.name),
  );
  return new FormulaError(`metric '${name}' does not exist in this tenant`, pos, suggestion ? `did you mean '${suggestion}'?` : undefined);
}
