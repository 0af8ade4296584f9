/**
 * The formula language without a database: what parses (and into what), each error with its
 * position, hostile input refused before anything runs, and the compiled SQL carrying every
 * user value as a parameter.
 */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, test } from 'vitest';
import type { CheckedFormula, Expr, Reference } from '../src/definitions/check-formula.js';
import { compileFormula } from '../src/definitions/compile-formula.js';
import { seriesSql } from '../src/definitions/evaluate-formula.js';
import { didYouMean, editDistance, FormulaError, LIMITS, parseFormula, printFormula, type Node } from '../src/definitions/parse-formula.js';
import { fixedBuckets } from '../src/query/read-buckets.js';
import { HOUR, planSegments } from '../src/query/plan.js';

/** Compiles SQL without a database (Kysely's DummyDriver), to look at the text and parameters. */
const compiler = new Kysely<any>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

function parseError(text: string): FormulaError {
  try {
    parseFormula(text);
  } catch (error) {
    if (error instanceof FormulaError) return error;
    throw error;
  }
  throw new Error(`parsed: ${text}`);
}

describe('parseFormula accepts the language', () => {
  test.each([
    ['sum(http.errors{status=~"5.."}) / sum(http.requests) * 100', '((sum(http.errors{"status"=~"5.."}) / sum(http.requests)) * 100)'],
    ['rate(http.requests{route="/login"})', 'rate(http.requests{"route"="/login"})'],
    ['p95(http.latency)', 'p95(http.latency)'],
    ['avg(cpu.usage{host="a"}) - avg(cpu.usage{host="b"})', '(avg(cpu.usage{"host"="a"}) - avg(cpu.usage{"host"="b"}))'],
    ['count(sessions) / count_distinct(sessions, "user")', '(count(sessions) / count_distinct(sessions, "user"))'],
    ['quantile(0.75, http.latency{route!="/health", region!~"test-.*"})', 'quantile(0.75, http.latency{"route"!="/health","region"!~"test-.*"})'],
    ['-min(temp) + 1.5e2 * (max(temp) - .5)', '(-min(temp) + (150 * (max(temp) - 0.5)))'],
    ['last(cpu{"odd key"="x \\"quoted\\" \\\\ back"})', 'last(cpu{"odd key"="x \\"quoted\\" \\\\ back"})'],
    ['  sum(a)\n\t/ increase(b{})  ', '(sum(a) / increase(b))'],
    ['p50(x) + p90(x) + p99(x)', '((p50(x) + p90(x)) + p99(x))'],
    ['sum(metric-with-dashes_and.dots)', 'sum(metric-with-dashes_and.dots)'],
  ])('%s', (text, printed) => {
    expect(printFormula(parseFormula(text))).toBe(printed);
  });

  test('operators bind as in arithmetic: * and / before + and -, left to right', () => {
    const tree = parseFormula('sum(a) - sum(b) - sum(c) * 2 / 4') as Extract<Node, { kind: 'binary' }>;
    expect(printFormula(tree)).toBe('((sum(a) - sum(b)) - ((sum(c) * 2) / 4))');
  });

  test('a call records its position, its function and its selector', () => {
    expect(parseFormula('1 +\n  quantile(0.9, lat{route="/a"})')).toMatchObject({
      kind: 'binary',
      right: {
        kind: 'call',
        fn: 'quantile',
        quantile: 0.9,
        pos: { line: 2, column: 3 },
        selector: { metric: 'lat', matchers: [{ key: 'route', op: '=', value: '/a', pos: { line: 2, column: 27 } }] },
      },
    });
  });
});

describe('parse errors say what and where', () => {
  test.each([
    ['avgg(http.requests)', "unknown function 'avgg' at 1:1; did you mean 'avg'?"],
    ['sum(a) + summ(b)', "unknown function 'summ' at 1:10; did you mean 'sum'?"],
    ['http.requests / 2', "expected a function call, not the bare metric 'http.requests' at 1:1; write e.g. sum(http.requests)"],
    ['frobnicate(x)', "unknown function 'frobnicate' at 1:1; the functions are sum, count, avg, min, max, last, rate, increase, p50, p90, p95, p99, quantile, count_distinct"],
    ['', 'the formula is empty at 1:1'],
    ['sum(a) +', 'the formula ends too early at 1:9; expected a number, a function call or "("'],
    ['sum(a) sum(b)', "unexpected 's' at 1:8; expected an operator (+ - * /) or the end of the formula"],
    ['(sum(a)', 'the formula ends too early at 1:8; expected ")" to close the "(" at 1:1'],
    ['sum(a))', "unexpected ')' at 1:7; expected an operator (+ - * /) or the end of the formula"],
    ['sum()', "unexpected ')' at 1:5; expected a metric name"],
    ['sum(a, b)', "unexpected ',' at 1:6; expected \")\": sum takes one metric"],
    ['sum(a{b="c"', 'the formula ends too early at 1:12; expected "}" to end the tag matchers'],
    ['sum(a{b="c})', 'unclosed string at 1:9; end it with "'],
    ['sum(a{b=c})', "unexpected 'c' at 1:9; expected the value as a double-quoted string after '='"],
    ["sum(a{b='c'})", "unexpected ''' at 1:9; expected the value as a double-quoted string after '='"],
    ['sum(a{b=="c"})', "unexpected '=' at 1:9; expected the value as a double-quoted string after '='"],
    ['sum(a{b~"c"})', "unexpected '~' at 1:8; expected a matcher: =, !=, =~ or !~"],
    ['sum(a{b="c" d="e"})', 'unexpected \'d\' at 1:13; expected "," between tag matchers, or "}" to end them'],
    ['sum(a{b="\\q"})', "unknown escape '\\q' at 1:10; use \\\", \\\\, \\n or \\t"],
    ['quantile(1.5, a)', 'the quantile must be between 0 and 1; got 1.5 at 1:10'],
    ['quantile(a)', "unexpected 'a' at 1:10; expected the quantile, a number from 0 to 1, e.g. quantile(0.75, http.latency)"],
    ['count_distinct(a)', 'unexpected \')\' at 1:17; expected "," and then the tag key, e.g. count_distinct(sessions, "user")'],
    ['count_distinct(a, user)', "unexpected 'u' at 1:19; expected the tag key as a string, e.g. \"user\""],
    ['count_distinct(a, "")', 'the tag key must not be empty at 1:19'],
    ['sum(a) * 1e999', 'the number 1e999 is too large at 1:10'],
    ['sum(a) * 2x', "unexpected 'x' at 1:11; expected an operator after the number"],
    ['sum(a) * 1.e', 'the formula ends too early at 1:13; expected the digits of the exponent'],
    ['sum(a{b="' + 'x'.repeat(101) + '"})', 'a tag value may have at most 100 characters at 1:9'],
    ['sum(a{b=~"' + 'x'.repeat(201) + '"})', 'a regular expression may have at most 200 characters at 1:10'],
  ])('%s', (text, message) => {
    expect(parseError(text).message).toBe(message);
  });

  test('positions count lines and characters, not bytes', () => {
    const error = parseError('sum(a{x="żółć"})\n  + avgg(b)');
    expect(error.message).toBe("unknown function 'avgg' at 2:5; did you mean 'avg'?");
    expect(error.pos).toEqual({ offset: 21, line: 2, column: 5 });
  });
});

describe('hostile formulas are refused cleanly by the parser, before anything runs', () => {
  test.each([
    ["'; drop table metrics; --", "unexpected ''' at 1:1; expected a number, a function call or \"(\""],
    ['sum(a); drop table metrics', "unexpected ';' at 1:7; expected an operator (+ - * /) or the end of the formula"],
    ['sum(a) -- comment', "expected a function call, not the bare metric 'comment' at 1:11; write e.g. sum(comment)"],
    ['sum(a) /* x */', "unexpected '*' at 1:9; expected a number, a function call or \"(\""],
    ['sum(a{b="x"}); select pg_sleep(10)', "unexpected ';' at 1:14; expected an operator (+ - * /) or the end of the formula"],
    ['sum(a{"b\\"); drop table x; --"="c"})', null],
    ['sum(pg_catalog.pg_tables)', null],
    ['sum(a) || sum(b)', "unexpected '|' at 1:8; expected an operator (+ - * /) or the end of the formula"],
    ['sum(a)::text', "unexpected ':' at 1:7; expected an operator (+ - * /) or the end of the formula"],
    ['$1', "unexpected '$' at 1:1; expected a number, a function call or \"(\""],
    ['sum(a{b=$$x$$})', "unexpected '$' at 1:9; expected the value as a double-quoted string after '='"],
  ])('%s', (text, message) => {
    if (message === null) {
      // Parses: the odd text is a tag key or a metric name, and reaches SQL only as a parameter (below).
      expect(() => parseFormula(text)).not.toThrow();
    } else {
      expect(parseError(text).message).toBe(message);
    }
  });

  test.each([
    ['a Cyrillic ѕ in a function name', '\u0455um(a)', "unexpected 'ѕ' (U+0455) at 1:1; expected a number, a function call or \"(\""],
    ['fullwidth parentheses', 'sum\uFF08a\uFF09', "unexpected '（' (U+FF08) at 1:4; expected \"(\" after 'sum'"],
    ['a zero-width space inside a name', 'su\u200Bm(a)', "unknown function 'su' at 1:1; did you mean 'sum'?"],
    ['a right-to-left override in a string', 'sum(a{b="\u202Eevil"})', 'U+202E is not allowed in a string at 1:10; control and invisible formatting characters are refused'],
    ['a NUL in a string', 'sum(a{b="x\u0000"})', 'U+0000 is not allowed in a string at 1:11; control and invisible formatting characters are refused'],
    ['a lone surrogate', 'sum(a{b="\uD800"})', 'U+D800 is not allowed in a string at 1:10; control and invisible formatting characters are refused'],
    ['a non-breaking space between tokens', 'sum(a)\u00A0+ sum(b)', "unexpected U+00A0 at 1:7; expected an operator (+ - * /) or the end of the formula"],
    ['a Greek question mark for ;', 'sum(a)\u037E', "unexpected '\u037E' (U+037E) at 1:7; expected an operator (+ - * /) or the end of the formula"],
  ])('%s', (_name, text, message) => {
    expect(parseError(text).message).toBe(message);
  });

  test('a 10 000-character formula is refused by its length, unread', () => {
    const text = 'sum(a) + '.repeat(1111) + 'sum(a)';
    expect(text.length).toBeGreaterThan(10_000);
    expect(parseError(text).message).toBe(`the formula is ${text.length} characters long; at most ${LIMITS.length} are allowed at 1:1`);
  });

  test('10 000 nested parentheses are refused by the length, 17 by the depth', () => {
    expect(parseError('('.repeat(5_000) + 'sum(a)' + ')'.repeat(5_000)).message).toMatch(/^the formula is 10006 characters long/);
    expect(parseError('('.repeat(17) + 'sum(a)' + ')'.repeat(17)).message).toBe('the formula nests deeper than 16 levels at 1:17');
    expect(printFormula(parseFormula('('.repeat(15) + 'sum(a)' + ')'.repeat(15)))).toBe('sum(a)');
    expect(parseError('-'.repeat(20) + 'sum(a)').message).toBe('the formula nests deeper than 16 levels at 1:17');
  });

  test('at most 20 metric references and 100 operators', () => {
    expect(parseError(Array.from({ length: 21 }, (_, i) => `sum(m${i})`).join('+')).message).toBe('a formula may reference at most 20 metrics at 1:171');
    expect(() => parseFormula(Array.from({ length: 20 }, (_, i) => `sum(m${i})`).join('+'))).not.toThrow();
    expect(parseError('sum(a)' + '+1'.repeat(101)).message).toBe('a formula may have at most 100 operators at 1:207');
  });
});

test.each([
  ['avgg', ['avg', 'sum'], 'avg'],
  ['http.reqests', ['http.requests', 'http.errors'], 'http.requests'],
  ['http.requets', ['http.requests'], 'http.requests'],
  ['cpu', ['memory', 'disk'], undefined],
  ['x', ['y'], undefined],
])('didYouMean(%s) is %s', (word, candidates, expected) => {
  expect(didYouMean(word, candidates)).toBe(expected);
});

describe('compiled SQL carries every user value as a parameter', () => {
  const text = 'sum(http.errors{status=~"5..", route!="\'; drop table metrics; --"}) / sum(http.requests{"we\\"ird"="x"}) * 100 + quantile(0.25, lat) - count_distinct(s, "u\'ser")';
  const ast = parseFormula(text);
  const metric = (id: number, name: string, type: 'COUNTER' | 'HISTOGRAM') => ({ id, name, type, unit: null });
  const calls = (node: Node): Extract<Node, { kind: 'call' }>[] =>
    node.kind === 'call' ? [node] : node.kind === 'binary' ? [...calls(node.left), ...calls(node.right)] : node.kind === 'negate' ? calls(node.operand) : [];
  const found = calls(ast);
  const references: Reference[] = [
    { fn: 'sum', metric: metric(11, 'http.errors', 'COUNTER'), matchers: found[0]!.selector.matchers },
    { fn: 'sum', metric: metric(12, 'http.requests', 'COUNTER'), matchers: found[1]!.selector.matchers },
    { fn: 'quantile', quantile: 0.25, metric: metric(13, 'lat', 'HISTOGRAM'), matchers: [] },
    { fn: 'count_distinct', tagKey: "u'ser", metric: metric(14, 's', 'COUNTER'), matchers: [] },
  ];
  const expr: Expr = {
    kind: 'binary',
    op: '-',
    left: {
      kind: 'binary',
      op: '+',
      left: { kind: 'binary', op: '*', left: { kind: 'binary', op: '/', left: { kind: 'ref', index: 0 }, right: { kind: 'ref', index: 1 } }, right: { kind: 'number', value: 100 } },
      right: { kind: 'ref', index: 2 },
    },
    right: { kind: 'ref', index: 3 },
  };
  const formula: CheckedFormula = { text, expr, references, metrics: ['http.errors', 'http.requests', 'lat', 's'] };
  const userValues = ['http.errors', 'http.requests', '5..', "drop table", 'we"ird', 'status', 'route', "u'ser", '100', '0.25'];

  test('the statement that finds the series', () => {
    const compiled = seriesSql(references, { tags: { env: "prod'; --" }, filters: [{ key: 'region', in: ['eu', "x'y"] }] }).compile(compiler);
    for (const value of userValues) expect(compiled.sql).not.toContain(value);
    expect(compiled.sql).not.toContain("prod'");
    expect(compiled.parameters).toEqual(expect.arrayContaining(['status', '^(?:5..)$', 'route', "'; drop table metrics; --", 'we"ird', 'x', 11, 12, '{"env":"prod\'; --"}', ['eu', "x'y"]]));
    expect(compiled.sql).toMatch(/^select \$1::int as ref, s\.id, s\.tags from series s where s\.metric_id = \$2 and coalesce\(\(s\.tags ->> \$3::text\) ~ \$4::text, false\)/);
  });

  test('the one statement that evaluates the formula', () => {
    const from = new Date('2026-11-20T00:00:00Z');
    const to = new Date('2026-11-20T03:00:00Z');
    const bucketing = fixedBuckets(from, to, HOUR);
    const selections = [
      { ids: [1, 2], grps: [0, 1] },
      { ids: [3], grps: [0] },
      { ids: [4], grps: [1] },
      { ids: [5, 6], grps: [0, 0], values: ['alice', "o'brien"] },
    ];
    const compiled = compileFormula(formula, selections, planSegments(from, to, HOUR, true), bucketing).compile(compiler);
    for (const value of userValues) expect(compiled.sql).not.toContain(value);
    expect(compiled.sql).not.toContain('alice');
    expect(compiled.parameters).toEqual(expect.arrayContaining([100, 0.25, ['alice', "o'brien"], [1, 2]]));
    // Division is guarded, each reference is one CTE, and it all is one statement.
    expect(compiled.sql).toContain('/ nullif(');
    expect(compiled.sql.match(/\br[0-3]" as \(/g)).toHaveLength(4);
    expect(compiled.sql.trim().startsWith('with')).toBe(true);
    expect(compiled.sql).not.toContain(';');
  });
});

test.each([
  ['kitten', 'sitting', 3],
  ['ab', 'ba', 1],
  ['http.reqests', 'http.requests', 1],
  ['', 'abc', 3],
  ['same', 'same', 0],
])('editDistance(%s, %s) is %i', (a, b, d) => {
  expect(editDistance(a, b)).toBe(d);
  expect(editDistance(a, b, d)).toBe(d);
  if (d > 0) expect(editDistance(a, b, d - 1)).toBe(d); // past the bound: bound + 1
});

// No time limit asserted: a machine busy with other work made a 1 s bound fail. What keeps it
// fast is the bounded editDistance (the table above: past the bound it stops at bound + 1).
test('did-you-mean over 10 000 long names finds the one a character away', () => {
  const names = Array.from({ length: 10_000 }, (_, i) => `${'service.component.'.repeat(12)}metric${i}`);
  expect(didYouMean(`${'service.component.'.repeat(12)}metric123x`, names)).toBe(`${'service.component.'.repeat(12)}metric123`);
});
