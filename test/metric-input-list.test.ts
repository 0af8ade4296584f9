/**
 * readMetricInputList (src/plugins/metric-input-list.ts), recordMetrics' items read ahead of
 * GraphQL's coercion, held to what it stands in for: graphql-js's coerceInputValue of the
 * variable against the real schema's `[MetricInput!]!`, then readMetricInput on each coerced
 * item, as the resolver reads them. For any list of JSON items, it
 * returns undefined exactly when the coercion fails or readMetricInput refuses an item (the
 * request then takes the old path, whose errors are unchanged), and otherwise the same values.
 *
 * The DateTime scalar's reading of toISOString's form, which these items' times go through, is
 * held to Date's own here too.
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_SEED=random tries a new one.
 */
import fc from 'fast-check';
import { coerceInputValue, GraphQLList, GraphQLNonNull, isInputObjectType, isScalarType } from 'graphql';
import { describe, expect, test } from 'vitest';
import { markRead, readAheadOf, readMetricInput, type MetricInput } from '../src/ingest/metric-input.js';
import { readMetricInputList } from '../src/plugins/metric-input-list.js';
import { schema } from '../src/schema/index.js';

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_261_202);
const RUNS = Number(process.env.FC_RUNS ?? 2000);
console.log(`metric-input-list property: FC_SEED=${SEED} FC_RUNS=${RUNS}`);

const metricInput = schema.getType('MetricInput');
const dateTime = schema.getType('DateTime');
if (!isInputObjectType(metricInput) || !isScalarType(dateTime)) throw new Error('schema: MetricInput or DateTime missing');
const listType = new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(metricInput)));
const parseTime = (value: unknown) => dateTime.parseValue(value);

/** What the old path makes of the list: undefined when coercion or readMetricInput refuses any of it. */
function oldPath(list: unknown): MetricInput[] | undefined {
  let failed = false;
  const coerced = coerceInputValue(list, listType, () => (failed = true)) as unknown[];
  if (failed) return undefined;
  const read = coerced.map((item) => readMetricInput(item));
  return read.every((r) => r !== undefined) ? (read as MetricInput[]) : undefined;
}

const HOUR = 3_600_000;
const uuid = '0b4a3f8e-6c1d-4f7a-9e2b-5d8c7a6b1e3f';
// Each field as JSON gives it: good, or one edge of GraphQL's scalars or of readMetricInput away.
const name = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('cpu', 'http.requests', 'a_b-c.d', 'x'.repeat(255)) }, { weight: 1, arbitrary: fc.constantFrom('1abc', '', 'x'.repeat(256), 'a b', 5, null, true) });
const value = fc.oneof({ weight: 6, arbitrary: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }), fc.constantFrom(0, 1.5, 7)) }, { weight: 1, arbitrary: fc.constantFrom(-1, '1', null, true, [1], 2 ** 60) });
const type = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY') }, { weight: 1, arbitrary: fc.constantFrom('counter', 'OTHER', 1, null, ['GAUGE']) });
const tags = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<unknown>({ host: 'a' }, { host: 'b', region: 'eu' }, { region: 'eu', host: 'b' }, {}, null) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({ host: 1 }, { '': 'x' }, JSON.parse('{"__proto__": "x"}'), 'host=a', 7, ['a'], { k: 'v'.repeat(101) }) },
);
// Texts are read when the item is generated, so "an hour ago" is an hour ago.
const timestamp = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.constantFrom<unknown>(null, '1970-01-01T00:00:00Z', '2024-05-01T12:00:00.000+02:00'), fc.constant(-HOUR).map((o): unknown => new Date(Date.now() + o).toISOString())) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom<unknown>('1969-12-31T23:59:59Z', '2024-02-30T00:00:00Z', '0000-01-01T00:00:00Z', 'yesterday', '', 1_700_000_000_000, true, {}),
      fc.constant(HOUR).map((o): unknown => new Date(Date.now() + o).toISOString()),
    ),
  },
);
const unit = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(null, 'ms', 'u'.repeat(50)) }, { weight: 1, arbitrary: fc.constantFrom('', 'u'.repeat(51), 'a\u0000', 5) });
const id = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(null, uuid, uuid.toUpperCase()) }, { weight: 1, arbitrary: fc.oneof(fc.uuid(), fc.constantFrom('not-a-uuid', 42, 4.5, '', true)) });
const extra = fc.constantFrom('extra', 'Name', '__proto__');
const item = fc
  .tuple(fc.record({ name, value, type, tags, timestamp, unit, id }, { requiredKeys: [] }), fc.option(extra, { freq: 20 }))
  .map(([fields, unknownKey]) => {
    const raw: Record<string, unknown> = { ...fields };
    if (unknownKey !== null) Object.defineProperty(raw, unknownKey, { value: 'x', enumerable: true, configurable: true, writable: true });
    return raw;
  });
// Mostly items with every required field; now and then one without.
const fullItem = fc.record({ name, value, type }).chain((required) => item.map((rest) => ({ ...rest, ...required })));
const list = fc.oneof({ weight: 8, arbitrary: fc.array(fc.oneof({ weight: 9, arbitrary: fullItem }, { weight: 1, arbitrary: item }), { maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, {}, 'a', [null], [[]]) });

describe('DateTime, read in toISOString’s form without its regular expression', () => {
  // Digits anywhere in that form, out of range too (month 13, hour 24, February 30, year 0000),
  // and the same with one character changed: the form a client sends and its near misses.
  const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
  const isoLike = fc
    .tuple(digits(4), fc.oneof(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 99 })), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), digits(2), fc.oneof(digits(2), fc.constant('60')), digits(3))
    .map(([y, mo, d, h, mi, s, ms]) => `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${mi}:${s}.${ms}Z`);
  const nearMiss = fc.tuple(isoLike, fc.nat(23), fc.constantFrom('t', 'z', ' ', '+', '0', '9', '-', ':', '.', 'Z', 'T')).map(([v, i, c]) => v.slice(0, i) + c + v.slice(i + 1));

  test('accepts exactly the real dates from year 0001, as the instant Date reads', () => {
    fc.assert(
      fc.property(fc.oneof(isoLike, nearMiss, fc.constantFrom('2024-02-29T12:00:00.000Z', '2023-02-29T12:00:00.000Z', '1900-02-29T00:00:00.000Z', '2000-02-29T00:00:00.000Z', '0999-12-31T23:59:59.999Z')), (text) => {
        const date = new Date(text);
        let parsed: unknown;
        try {
          parsed = parseTime(text);
        } catch {
          parsed = undefined;
        }
        if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(text)) {
          // A real date in this form is what toISOString prints of it (an unreal one rolls over or is Invalid Date).
          const real = !text.startsWith('0000') && !Number.isNaN(date.getTime()) && date.toISOString() === text;
          expect(parsed).toStrictEqual(real ? date : undefined);
        } else if (parsed !== undefined) expect((parsed as Date).getTime()).toBe(date.getTime()); // another ISO 8601 form (e.g. a lower-case t)
      }),
      { seed: SEED, numRuns: RUNS * 5 },
    );
  });
});

describe('readMetricInputList, recordMetrics’ items read ahead of GraphQL', () => {
  test('accepts exactly the lists that coerce and that readMetricInput takes item by item, and returns the same values', () => {
    let accepted = 0;
    fc.assert(
      fc.property(list, (raw) => {
        const expected = oldPath(raw);
        const fast = readMetricInputList(raw, parseTime);
        if (!Array.isArray(raw)) {
          // A single object GraphQL coerces into a list of one: left to it, whatever it makes of it.
          expect(fast).toBeUndefined();
          return;
        }
        expect(fast === undefined).toBe(expected === undefined);
        if (fast) {
          accepted++;
          expect(fast).toStrictEqual(expected);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Both sides are reached, not only the refusals.
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });

  test('items with equal tags share one Tags object (the recorder finds a series once per object)', () => {
    const read = readMetricInputList(
      [
        { name: 'cpu', value: 1, type: 'GAUGE', tags: { host: 'a', region: 'eu' } },
        { name: 'cpu', value: 2, type: 'GAUGE', tags: { host: 'a', region: 'eu' } },
        { name: 'cpu', value: 3, type: 'GAUGE', tags: { region: 'eu', host: 'a' } },
      ],
      parseTime,
    )!;
    expect(read.map((r) => r.tags)).toEqual([{ host: 'a', region: 'eu' }, { host: 'a', region: 'eu' }, { host: 'a', region: 'eu' }]);
    expect(read[1]!.tags).toBe(read[0]!.tags);
  });

  test.each([
    ['an unknown field', { name: 'cpu', value: 1, type: 'GAUGE', extra: 1 }],
    ['an integer id (GraphQL makes it a text; no UUID)', { name: 'cpu', value: 1, type: 'GAUGE', id: 42 }],
    ['a date that does not exist', { name: 'cpu', value: 1, type: 'GAUGE', timestamp: '2024-02-30T00:00:00Z' }],
    ['a negative counter', { name: 'c', value: -1, type: 'COUNTER' }],
  ])('refuses a list with %s, leaving it to the old path', (_case, bad) => {
    expect(readMetricInputList([{ name: 'cpu', value: 1, type: 'GAUGE' }, bad], parseTime)).toBeUndefined();
  });

  test('the resolver finds the items read ahead in the copy it is handed, and only in an exact one', () => {
    const context = {};
    const read = readMetricInputList([{ name: 'cpu', value: 1, type: 'GAUGE', tags: { host: 'a' }, timestamp: '2024-05-01T00:00:00Z' }, { name: 'cpu', value: -0, type: 'GAUGE' }], parseTime)!;
    markRead(context, read);
    // Pothos' zod plugin hands the resolver shallow copies.
    const copy = read.map((item) => ({ ...item }));
    expect(readAheadOf(context, copy)).toBe(read);
    expect(readAheadOf({}, copy)).toBeNull(); // another request's
    expect(readAheadOf(context, copy.slice(1))).toBeNull();
    expect(readAheadOf(context, [copy[0], { ...copy[1], value: 0 }])).toBeNull(); // -0 is not 0
    expect(readAheadOf(context, [{ ...copy[0], tags: { host: 'a' } }, copy[1]])).toBeNull(); // tags not the ones read
    expect(readAheadOf(context, [{ ...copy[0], timestamp: new Date('2024-05-01T00:00:00Z') }, copy[1]])).toBeNull();
  });
});
