/**
 * The formula language of metric definitions, parsed by hand into an AST.
 *
 *   formula  = expr
 *   expr     = term { ("+" | "-") term }
 *   term     = unary { ("*" | "/") unary }
 *   unary    = "-" unary | primary
 *   primary  = number | "(" expr ")" | call
 *   call     = function "(" [ number "," ] selector [ "," string ] ")"
 *   selector = metric [ "{" [ matcher { "," matcher } ] "}" ]
 *   matcher  = tagKey ( "=" | "!=" | "=~" | "!~" ) string
 *
 * e.g. `sum(http.errors{status=~"5.."}) / sum(http.requests) * 100`.
 *
 * The parser never runs anything: it only builds the tree, and every error names the line and
 * column where it found the problem. Input is bounded before parsing (length, nesting, number of
 * metric references), so no formula can make it recurse or allocate without limit.
 */

export interface Position {
  /** 0-based offset in UTF-16 code units. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in characters (code points) of that line. */
  column: number;
}

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  key: string;
  op: MatchOp;
  value: string;
  pos: Position;
}

export interface Selector {
  metric: string;
  matchers: Matcher[];
  pos: Position;
}

/** How a function reads its metric: what the compiler aggregates per bucket. */
export const FUNCTIONS = {
  sum: { kind: 'stat', doc: 'sum of the values in the bucket' },
  count: { kind: 'stat', doc: 'number of points in the bucket' },
  avg: { kind: 'stat', doc: 'mean of the values' },
  min: { kind: 'stat', doc: 'smallest value' },
  max: { kind: 'stat', doc: 'largest value' },
  last: { kind: 'stat', doc: 'newest value (not for a COUNTER)' },
  rate: { kind: 'stat', doc: 'COUNTER: increase per second of the bucket' },
  increase: { kind: 'stat', doc: 'COUNTER: increase over the bucket' },
  p50: { kind: 'quantile', q: 0.5, doc: 'median (not for a COUNTER)' },
  p90: { kind: 'quantile', q: 0.9, doc: '90th percentile' },
  p95: { kind: 'quantile', q: 0.95, doc: '95th percentile' },
  p99: { kind: 'quantile', q: 0.99, doc: '99th percentile' },
  quantile: { kind: 'quantile', doc: 'quantile(q, metric) with 0 <= q <= 1' },
  count_distinct: { kind: 'distinct', doc: 'count_distinct(metric, "tagKey"): distinct values of the tag among series with points in the bucket' },
} as const;

export type FunctionName = keyof typeof FUNCTIONS;

export type Node =
  | { kind: 'number'; value: number; pos: Position }
  | { kind: 'negate'; operand: Node; pos: Position }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/'; left: Node; right: Node; pos: Position }
  | { kind: 'call'; fn: FunctionName; selector: Selector; quantile?: number; tagKey?: string; pos: Position };

export type Call = Extract<Node, { kind: 'call' }>;

export const LIMITS = {
  /** Characters in a formula. */
  length: 2_000,
  /** Nesting of parentheses, calls and unary minus. */
  depth: 16,
  /** Metric references (calls). */
  references: 20,
  /** A tag value compared with = or !=, as recorded tags allow. */
  value: 100,
  /** A regular expression: PostgreSQL compiles it; the length keeps its automaton small. */
  regex: 200,
  tagKey: 50,
  metric: 255,
  /** Binary operators: keeps the tree (and the SQL built from it) small. */
  operators: 100,
} as const;

/** A formula the caller can fix: the message says what and where (`… at 1:7`). */
export class FormulaError extends Error {
  constructor(
    readonly detail: string,
    readonly pos: Position,
    /** Said after the position, e.g. `did you mean 'avg'?`. */
    readonly hint?: string,
  ) {
    super(`${detail} at ${pos.line}:${pos.column}${hint ? `; ${hint}` : ''}`);
    this.name = 'FormulaError';
  }
}

/** The closest of `candidates` to `word` by edit distance, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const limit = word.length <= 4 ? 1 : word.length <= 12 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (Math.abs(candidate.length - word.length) > limit) continue;
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase(), limit);
    if (d < bestDistance || (d === bestDistance && best !== undefined && candidate < best)) {
      best = candidate;
      bestDistance = d;
    }
  }
  // A word changed entirely (`x` → `y`) is no typo.
  return bestDistance <= limit && bestDistance < word.length ? best : undefined;
}

/**
 * Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps),
 * computed only within `max` of the diagonal: anything farther returns max + 1. Bounded work
 * per candidate, however long the names or many the candidates.
 */
export function editDistance(a: string, b: string, max = Math.max(a.length, b.length)): number {
  // A shared prefix or suffix costs nothing (metric names share long ones: `http.server.…`).
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  // Keep one character of context before the difference, so an adjacent swap is still seen.
  if (start > 0) start--;
  a = a.slice(start, endA);
  b = b.slice(start, endB);
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const far = max + 1;
  let twoBack = new Uint32Array(b.length + 1);
  let previous = new Uint32Array(b.length + 1);
  let row = new Uint32Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) previous[j] = j <= max ? j : far;
  for (let i = 1; i <= a.length; i++) {
    row.fill(far);
    if (i <= max) row[0] = i;
    let best = row[0]!;
    for (let j = Math.max(1, i - max); j <= Math.min(b.length, i + max); j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, twoBack[j - 2]! + 1);
      row[j] = Math.min(v, far);
      best = Math.min(best, row[j]!);
    }
    if (best > max) return far;
    [twoBack, previous, row] = [previous, row, twoBack];
  }
  return Math.min(previous[b.length]!, far);
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isNameChar = (c: string | undefined) => isLetter(c) || isDigit(c) || c === '_' || c === '.' || c === '-';
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** Shown in messages: the character itself when printable ASCII, else its code point too. */
function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code >= 0x21 && code <= 0x7e) return `'${c}'`;
  if (code > 0x7e && !/[\p{Cc}\p{Cf}\p{Z}\p{Cs}]/u.test(c)) return `'${c}' (${hex})`;
  return hex;
}

/**
 * Parses a formula into its tree, or throws a FormulaError that says where it went wrong.
 * Checks syntax and the limits only; `checkFormula` (check-formula.ts) checks it against the
 * tenant's metrics.
 *
 * @example
 * parseFormula('sum(http.errors{status=~"5.."}) / sum(http.requests)')
 * // { kind: 'binary', op: '/', left: { kind: 'call', fn: 'sum', selector: { metric: 'http.errors', … } }, right: … }
 */
export function parseFormula(text: string): Node {
  const start: Position = { offset: 0, line: 1, column: 1 };
  if (text.length > LIMITS.length) {
    throw new FormulaError(`the formula is ${text.length} characters long; at most ${LIMITS.length} are allowed`, start);
  }
  return new Parser(text).formula();
}

class Parser {
  private offset = 0;
  private line = 1;
  private column = 1;
  private depth = 0;
  private references = 0;
  private operators = 0;

  constructor(private readonly text: string) {}

  formula(): Node {
    this.skipSpace();
    if (this.atEnd()) throw new FormulaError('the formula is empty', this.position());
    const node = this.expr();
    this.skipSpace();
    if (!this.atEnd()) throw this.unexpected('an operator (+ - * /) or the end of the formula');
    return node;
  }

  // --- grammar ---------------------------------------------------------------------------

  private expr(): Node {
    let left = this.term();
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c !== '+' && c !== '-') return left;
      const pos = this.operator();
      const right = this.term();
      left = { kind: 'binary', op: c, left, right, pos };
    }
  }

  private term(): Node {
    let left = this.unary();
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c !== '*' && c !== '/') return left;
      const pos = this.operator();
      const right = this.unary();
      left = { kind: 'binary', op: c, left, right, pos };
    }
  }

  /** Consumes a binary operator, counting it against the limit. */
  private operator(): Position {
    const pos = this.position();
    if (++this.operators > LIMITS.operators) throw new FormulaError(`a formula may have at most ${LIMITS.operators} operators`, pos);
    this.advance();
    return pos;
  }

  private unary(): Node {
    this.skipSpace();
    if (this.peek() === '-') {
      const pos = this.position();
      this.advance();
      return this.nested(pos, () => ({ kind: 'negate', operand: this.unary(), pos }));
    }
    return this.primary();
  }

  private primary(): Node {
    this.skipSpace();
    const pos = this.position();
    const c = this.peek();
    if (c === undefined) throw this.unexpected('a number, a function call or "("');
    if (isDigit(c) || (c === '.' && isDigit(this.peek(1)))) return { kind: 'number', value: this.number(), pos };
    if (c === '(') {
      this.advance();
      return this.nested(pos, () => {
        const inner = this.expr();
        this.skipSpace();
        this.expect(')', 'to close the "(" at ' + `${pos.line}:${pos.column}`);
        return inner;
      });
    }
    if (isLetter(c) || c === '_') return this.call();
    throw this.unexpected('a number, a function call or "("');
  }

  private call(): Node {
    const pos = this.position();
    let name = '';
    while (isLetter(this.peek()) || isDigit(this.peek()) || this.peek() === '_') name += this.advance();
    if (!(name in FUNCTIONS)) {
      const suggestion = didYouMean(name, Object.keys(FUNCTIONS));
      if (suggestion) throw new FormulaError(`unknown function '${name}'`, pos, `did you mean '${suggestion}'?`);
      if (this.peek() !== '(') {
        const metric = name + this.peekName();
        throw new FormulaError(`expected a function call, not the bare metric '${metric}'`, pos, `write e.g. sum(${metric})`);
      }
      throw new FormulaError(`unknown function '${name}'`, pos, `the functions are ${Object.keys(FUNCTIONS).join(', ')}`);
    }
    const fn = name as FunctionName;
    this.skipSpace();
    this.expect('(', `after '${fn}'`);
    return this.nested(pos, () => {
      this.references++;
      if (this.references > LIMITS.references) throw new FormulaError(`a formula may reference at most ${LIMITS.references} metrics`, pos);
      let quantile: number | undefined;
      if (fn === 'quantile') {
        this.skipSpace();
        const qPos = this.position();
        if (!isDigit(this.peek()) && this.peek() !== '.') throw this.unexpected('the quantile, a number from 0 to 1, e.g. quantile(0.75, http.latency)');
        quantile = this.number();
        if (quantile < 0 || quantile > 1) throw new FormulaError(`the quantile must be between 0 and 1; got ${quantile}`, qPos);
        this.skipSpace();
        this.expect(',', 'after the quantile');
      }
      this.skipSpace();
      const selector = this.selector();
      let tagKey: string | undefined;
      this.skipSpace();
      if (fn === 'count_distinct') {
        this.expect(',', 'and then the tag key, e.g. count_distinct(sessions, "user")');
        this.skipSpace();
        const keyPos = this.position();
        if (this.peek() !== '"') throw this.unexpected('the tag key as a string, e.g. "user"');
        tagKey = this.string(LIMITS.tagKey, 'a tag key');
        if (tagKey.length === 0) throw new FormulaError('the tag key must not be empty', keyPos);
        this.skipSpace();
      }
      if (this.peek() === ',') throw this.unexpected(`")": ${fn} takes ${fn === 'quantile' ? 'a quantile and one metric' : fn === 'count_distinct' ? 'one metric and one tag key' : 'one metric'}`);
      this.expect(')', `to close ${fn}(`);
      const node: Call = { kind: 'call', fn, selector, pos };
      if (quantile !== undefined) node.quantile = quantile;
      if (tagKey !== undefined) node.tagKey = tagKey;
      return node;
    });
  }

  private selector(): Selector {
    const pos = this.position();
    if (!isLetter(this.peek())) throw this.unexpected('a metric name');
    let metric = '';
    while (isNameChar(this.peek())) metric += this.advance();
    if (metric.length > LIMITS.metric) throw new FormulaError(`metric names are at most ${LIMITS.metric} characters`, pos);
    this.skipSpace();
    const matchers: Matcher[] = [];
    if (this.peek() === '{') {
      this.advance();
      this.skipSpace();
      while (this.peek() !== '}') {
        if (matchers.length > 0) {
          this.expect(',', 'between tag matchers, or "}" to end them');
          this.skipSpace();
        }
        matchers.push(this.matcher());
        this.skipSpace();
        if (this.atEnd()) throw this.unexpected('"}" to end the tag matchers');
      }
      this.advance();
    }
    return { metric, matchers, pos };
  }

  private matcher(): Matcher {
    const keyPos = this.position();
    let key: string;
    if (this.peek() === '"') key = this.string(LIMITS.tagKey, 'a tag key');
    else if (isLetter(this.peek()) || this.peek() === '_') {
      key = '';
      while (isNameChar(this.peek())) key += this.advance();
      if (key.length > LIMITS.tagKey) throw new FormulaError(`tag keys are at most ${LIMITS.tagKey} characters`, keyPos);
    } else throw this.unexpected('a tag key, e.g. {route="/login"}');
    if (key.length === 0) throw new FormulaError('a tag key must not be empty', keyPos);
    this.skipSpace();
    let op: MatchOp;
    const c = this.peek();
    if (c === '=') {
      this.advance();
      if (this.peek() === '~') {
        this.advance();
        op = '=~';
      } else op = '=';
    } else if (c === '!' && (this.peek(1) === '=' || this.peek(1) === '~')) {
      this.advance();
      op = this.advance() === '=' ? '!=' : '!~';
    } else throw this.unexpected('a matcher: =, !=, =~ or !~');
    this.skipSpace();
    if (this.peek() !== '"') throw this.unexpected(`the value as a double-quoted string after '${op}'`);
    const regex = op === '=~' || op === '!~';
    // The matcher's position is its value's: where a regex that does not compile is shown.
    const pos = this.position();
    const value = this.string(regex ? LIMITS.regex : LIMITS.value, regex ? 'a regular expression' : 'a tag value');
    return { key, op, value, pos };
  }

  // --- tokens ----------------------------------------------------------------------------

  private number(): number {
    const pos = this.position();
    let raw = '';
    while (isDigit(this.peek())) raw += this.advance();
    if (this.peek() === '.') {
      raw += this.advance();
      if (!isDigit(this.peek()) && raw === '.') throw this.unexpected('a digit');
      while (isDigit(this.peek())) raw += this.advance();
    }
    if (this.peek() === 'e' || this.peek() === 'E') {
      raw += this.advance();
      if (this.peek() === '+' || this.peek() === '-') raw += this.advance();
      if (!isDigit(this.peek())) throw this.unexpected('the digits of the exponent');
      while (isDigit(this.peek())) raw += this.advance();
    }
    if (raw.length > 40) throw new FormulaError('a number may have at most 40 characters', pos);
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new FormulaError(`the number ${raw} is too large`, pos);
    if (isLetter(this.peek()) || this.peek() === '_') throw this.unexpected('an operator after the number');
    return value;
  }

  /** A double-quoted string with \" \\ \n \t escapes; no control or invisible formatting characters. */
  private string(max: number, what: string): string {
    const pos = this.position();
    this.advance(); // the opening quote
    let value = '';
    let length = 0;
    for (;;) {
      const charPos = this.position();
      const c = this.peekChar();
      if (c === undefined || c === '\n' || c === '\r') throw new FormulaError('unclosed string', pos, 'end it with "');
      this.advanceChar();
      if (c === '"') break;
      if (c === '\\') {
        const escaped = this.peekChar();
        const map: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };
        if (escaped === undefined || !(escaped in map)) throw new FormulaError(`unknown escape '\\${escaped ?? ''}'`, charPos, 'use \\", \\\\, \\n or \\t');
        this.advanceChar();
        value += map[escaped]!;
      } else {
        if (/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u.test(c)) throw new FormulaError(`${describeChar(c)} is not allowed in a string`, charPos, 'control and invisible formatting characters are refused');
        value += c;
      }
      length++;
      if (length > max) throw new FormulaError(`${what} may have at most ${max} characters`, pos);
    }
    return value;
  }

  /** Runs `parse` one level deeper, refusing to go past the depth limit. */
  private nested<T>(pos: Position, parse: () => T): T {
    if (++this.depth > LIMITS.depth) throw new FormulaError(`the formula nests deeper than ${LIMITS.depth} levels`, pos);
    const result = parse();
    this.depth--;
    return result;
  }

  private expect(c: string, why: string) {
    if (this.peek() !== c) throw this.unexpected(`"${c}" ${why}`);
    this.advance();
  }

  private peekName(): string {
    let i = this.offset;
    let name = '';
    while (isNameChar(this.text[i]) && name.length < 60) name += this.text[i++];
    return name;
  }

  private skipSpace() {
    while (isSpace(this.peek())) this.advance();
  }

  private atEnd() {
    return this.offset >= this.text.length;
  }

  /** The next UTF-16 unit: enough for the grammar's ASCII tokens. */
  private peek(ahead = 0): string | undefined {
    return this.text[this.offset + ahead];
  }

  /** The next whole character (code point), for strings and messages. */
  private peekChar(): string | undefined {
    const code = this.text.codePointAt(this.offset);
    return code === undefined ? undefined : String.fromCodePoint(code);
  }

  private advance(): string {
    return this.advanceChar()!;
  }

  private advanceChar(): string | undefined {
    const c = this.peekChar();
    if (c === undefined) return undefined;
    this.offset += c.length;
    if (c === '\n') {
      this.line++;
      this.column = 1;
    } else this.column++;
    return c;
  }

  private position(): Position {
    return { offset: this.offset, line: this.line, column: this.column };
  }

  private unexpected(expected: string): FormulaError {
    const c = this.peekChar();
    if (c === undefined) return new FormulaError('the formula ends too early', this.position(), `expected ${expected}`);
    return new FormulaError(`unexpected ${describeChar(c)}`, this.position(), `expected ${expected}`);
  }
}

/** Every metric reference in the tree, left to right. */
export function callsOf(node: Node): Call[] {
  switch (node.kind) {
    case 'number':
      return [];
    case 'negate':
      return callsOf(node.operand);
    case 'binary':
      return [...callsOf(node.left), ...callsOf(node.right)];
    case 'call':
      return [node];
  }
}

/** The formula written back in one canonical form (for messages and tests). */
export function printFormula(node: Node): string {
  switch (node.kind) {
    case 'number':
      return String(node.value);
    case 'negate':
      return `-${printFormula(node.operand)}`;
    case 'binary':
      return `(${printFormula(node.left)} ${node.op} ${printFormula(node.right)})`;
    case 'call': {
      const matchers = node.selector.matchers.map((m) => `${JSON.stringify(m.key)}${m.op}${JSON.stringify(m.value)}`).join(',');
      const selector = `${node.selector.metric}${matchers ? `{${matchers}}` : ''}`;
      if (node.fn === 'quantile') return `quantile(${node.quantile}, ${selector})`;
      if (node.fn === 'count_distinct') return `count_distinct(${selector}, ${JSON.stringify(node.tagKey)})`;
      return `${node.fn}(${selector})`;
    }
  }
}
