import SchemaBuilder from '@pothos/core';
import ZodPlugin from '@pothos/plugin-zod';
import { GraphQLError, Kind } from 'graphql';
import type { Context } from './context.js';
import type { Tags } from './db/tables.js';
import { describeZodError, userError } from './errors.js';

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
  plugins: [ZodPlugin],
  defaultFieldNullability: false,
  zod: {
    validationError: (error) => userError('BAD_USER_INPUT', describeZodError(error)),
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

const ISO_8601 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)$/i;

/**
 * The refusal of a value that is not an ISO 8601 string. A number is most often epoch
 * milliseconds (Date.now()) or seconds: the message shows the string that instant would be.
 */
function notDateTime(value: unknown) {
  const expected = 'DateTime must be an ISO 8601 string with a time zone offset, e.g. 2024-05-01T12:00:00Z';
  if (typeof value === 'number' && Number.isFinite(value)) {
    // Below 1e11 a number reads as seconds (1e11 s is the year 5138; 1e11 ms is 1973).
    const ms = Math.abs(value) < 1e11 ? value * 1000 : value;
    const instant = new Date(ms);
    if (!Number.isNaN(instant.getTime())) {
      const unit = ms === value ? 'epoch milliseconds' : 'epoch seconds';
      return userError('BAD_USER_INPUT', `${expected}; got the number ${value}. If it is ${unit}, send "${instant.toISOString()}" (in JavaScript: new Date(${value}${ms === value ? '' : ' * 1000'}).toISOString())`);
    }
  }
  return userError('BAD_USER_INPUT', `${expected}; got ${JSON.stringify(value)?.slice(0, 60)}`);
}

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_8601.test(value)) throw notDateTime(value);
  const date = new Date(value);
  // Date rolls 2026-02-30 over to March 2 instead of refusing it.
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (Number.isNaN(date.getTime()) || day > daysInMonth) throw userError('BAD_USER_INPUT', `DateTime ${value} is not a real date`);
  return date;
}

builder.scalarType('DateTime', {
  description: 'An instant as an ISO 8601 string with a time zone offset, e.g. `2024-05-01T12:00:00.000Z`.',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind === Kind.INT || ast.kind === Kind.FLOAT) throw notDateTime(Number(ast.value));
    if (ast.kind !== Kind.STRING) throw userError('BAD_USER_INPUT', 'DateTime must be an ISO 8601 string with a time zone offset, e.g. "2024-05-01T12:00:00Z"');
    return parseDateTime(ast.value);
  },
});

function literalToJson(ast: import('graphql').ValueNode): unknown {
  switch (ast.kind) {
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value)]));
    case Kind.LIST:
      return ast.values.map(literalToJson);
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
