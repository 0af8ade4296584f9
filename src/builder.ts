import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import AccessPlugin from './plugins/access.js';
import ZodOncePlugin from './plugins/zod-once.js';
import { GraphQLError, Kind } from 'graphql';
import type { Context } from './context.js';
import type { Tags } from './db/tables.js';
import { invalidInput, userError } from './errors.js';

/** The one SchemaBuilder: plugins, scalars and the context type. Types live in schema/. */
export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    /** Validated where it is used (per batch item), so its input is whatever object was sent. */
    Tags: { Input: unknown; Output: Tags };
  };
}>({
  // AccessPlugin first: Pothos runs the first plugin's wrapper first, so who may call a field is
  // checked before its arguments are validated (src/plugins/access.ts). ZodOncePlugin is
  // plugin-zod without its second validation of a subscription's arguments at every event.
  plugins: [AccessPlugin, ComplexityPlugin, ZodOncePlugin],
  defaultFieldNullability: false,
  // Each field's cost is declared here (a list multiplies what it selects by its size bound:
  // `listOf(limit)` below, 10 by default); the operation's total is checked at validation, over
  // HTTP and WebSocket alike, by src/limits.ts — not in resolvers, so nothing has run when it is refused.
  complexity: { defaultComplexity: 1, defaultListMultiplier: 10, disabled: true },
  zod: {
    validationError: (error) => invalidInput(error),
  },
});

/**
 * The cost of a list field whose size is bounded by its `limit` argument: what it selects counts
 * once per item it may return (`fallback` when no limit is given).
 */
export const listOf =
  (fallback: number) =>
  (args: { limit?: number | null }) => ({ field: 1, multiplier: typeof args.limit === 'number' && args.limit > 0 ? args.limit : fallback });

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

const ISO_8601 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)$/i;

/**
 * The refusal of a value that is not an ISO 8601 string. A number is most often epoch
 * milliseconds (Date.now()) or seconds: the message shows the string that instant would be.
 */
function notDateTime(value: unknown) {
  if (typeof value === 'number' && Number.isFinite(value)) {
    // Below 1e11 a number reads as seconds (1e11 s is the year 5138; 1e11 ms is 1973).
    const ms = Math.abs(value) < 1e11 ? value * 1000 : value;
    const instant = new Date(ms);
    if (!Number.isNaN(instant.getTime())) {
      const unit = ms === value ? 'epoch milliseconds' : 'epoch seconds';
      return userError('BAD_USER_INPUT', 'dateTime.epoch', { value, unit, iso: instant.toISOString(), times: ms === value ? '' : ' * 1000' });
    }
  }
  return userError('BAD_USER_INPUT', 'dateTime.notIso', { got: String(JSON.stringify(value)?.slice(0, 60)) });
}

const digitAt = (text: string, i: number) => text.charCodeAt(i) - 48;

/** Where toISOString's form, `2026-12-03T00:14:20.123Z`, has its digits. */
const ISO_STRING_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
const number2 = (text: string, i: number) => digitAt(text, i) * 10 + digitAt(text, i + 1);
const daysIn = (year: number, month: number) => (month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31);

/**
 * The instant of a real date in toISOString's form from year 1000 on, the form clients send
 * (a recordMetrics batch parses 500), read digit by digit: about a third of ISO_8601's test
 * and Date's parse. NaN for anything else, which parseDateTime then reads in full: what this
 * accepts, it accepts too, as the same instant (test/metric-input-list.test.ts holds them).
 */
function isoStringTime(value: string): number {
  if (value.length !== 24 || value[4] !== '-' || value[7] !== '-' || value[10] !== 'T' || value[13] !== ':' || value[16] !== ':' || value[19] !== '.' || value[23] !== 'Z') return NaN;
  for (const i of ISO_STRING_DIGITS) {
    const digit = digitAt(value, i);
    if (!(digit >= 0 && digit <= 9)) return NaN;
  }
  const year = number2(value, 0) * 100 + number2(value, 2);
  const month = number2(value, 5);
  const day = number2(value, 8);
  const hour = number2(value, 11);
  const minute = number2(value, 14);
  const second = number2(value, 17);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, digitAt(value, 20) * 100 + number2(value, 21));
}

function parseDateTime(value: unknown): Date {
  if (typeof value === 'string') {
    const time = isoStringTime(value);
    if (!Number.isNaN(time)) return new Date(time);
  }
  if (typeof value !== 'string' || !ISO_8601.test(value)) throw notDateTime(value);
  const date = new Date(value);
  // Date rolls 2026-02-30 over to March 2 instead of refusing it. The digits are where
  // ISO_8601 put them (read as numbers without splitting: a batch parses 500 of these).
  const year = number2(value, 0) * 100 + number2(value, 2);
  const month = number2(value, 5);
  const day = number2(value, 8);
  if (Number.isNaN(date.getTime()) || (day > 28 && day > daysIn(year, month))) throw userError('BAD_USER_INPUT', 'dateTime.notReal', { value });
  // Year 0000 is 1 BC in ISO 8601, which PostgreSQL has no name for: refused here, not as a database error later.
  // (An offset can move year 0001 into year 0000 too.)
  if (year < 1 || date.getUTCFullYear() < 1) throw userError('BAD_USER_INPUT', 'dateTime.beforeYear1', { value });
  return date;
}

builder.scalarType('DateTime', {
  description: 'An instant as an ISO 8601 string with a time zone offset, e.g. `2024-05-01T12:00:00.000Z`.',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind === Kind.INT || ast.kind === Kind.FLOAT) throw notDateTime(Number(ast.value));
    if (ast.kind !== Kind.STRING) throw userError('BAD_USER_INPUT', 'dateTime.literal');
    return parseDateTime(ast.value);
  },
});

/**
 * A Tags literal as JSON. Tags are flat, so nesting past `depth` is refused here as the caller's
 * fault: following it would recurse once per level (10 000 levels overflow the stack).
 */
function literalToJson(ast: import('graphql').ValueNode, depth = 0): unknown {
  if (depth > 2) throw userError('BAD_USER_INPUT', 'tags.notFlat');
  switch (ast.kind) {
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value, depth + 1)]));
    case Kind.LIST:
      return ast.values.map((v) => literalToJson(v, depth + 1));
    case Kind.STRING:
    case Kind.ENUM:
      return ast.value;
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    default:
      throw new GraphQLError('Tags cannot hold variables inside the object');
  }
}

builder.scalarType('Tags', {
  description:
    'A flat JSON object of string keys to string values, e.g. `{"host": "a", "region": "eu"}`. At most 20 keys; keys 1-50 characters; values at most 100 characters; `__proto__`, `constructor` and `prototype` are not allowed as keys.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast) => literalToJson(ast),
});
