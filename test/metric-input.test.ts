/**
 * The hand-written fast path of a recorded point, readMetricInput (src/ingest/metric-input.ts),
 * held to the schema it stands in for: for any input, it returns undefined exactly when
 * metricInputSchema rejects the input, and otherwise the value the schema returns. Inputs are
 * generated near the edges the schema draws (name pattern and length, finite values, negative
 * counters, tag keys and values, 1970 and ten minutes ahead, unit length, UUIDs in any case).
 *
 * Items that repeat a tag set (a batch's do) read the same as alone and share one Tags object
 * (the Tags known by raw object, kept across requests).
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_SEED=random tries a new one.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Tags } from '../src/db/tables.js';
import { checkTags, checkTagsBySignature, MAX_FUTURE_MS, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, metricInputSchema, MIN_TIMESTAMP, readMetricInput, tagSignature } from '../src/ingest/metric-input.js';

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_261_202);
const RUNS = Number(process.env.FC_RUNS ?? 3000);
console.log(`metric-input property: FC_SEED=${SEED} FC_RUNS=${RUNS}`);

const edgeString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', 'é', '😀', '.', '_', '-', ' '), maxLength: 6 }),
  fc.constantFrom('', 'a', '1a', 'a'.repeat(255), 'a'.repeat(256), '__proto__', 'constructor', 'prototype'),
);
const name = fc.oneof(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9._-]{0,20}$/), fc.constantFrom('a'.repeat(255), 'a'.repeat(256)), edgeString);
const value = fc.oneof(fc.double(), fc.integer({ min: -5, max: 5 }), fc.constantFrom(-0, Number.MAX_VALUE, Number.NaN, Infinity), edgeString, fc.constant(null));
const type = fc.oneof(fc.constantFrom('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'), fc.constantFrom('counter', '', 'OTHER'), fc.integer());
const tagKey = fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), fc.constantFrom('k'.repeat(MAX_TAG_KEY), 'k'.repeat(MAX_TAG_KEY + 1)), edgeString);
const tagValue = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('v'.repeat(MAX_TAG_VALUE), 'v'.repeat(MAX_TAG_VALUE + 1)), edgeString, fc.integer(), fc.constant(null), fc.constant({}));
const tags = fc.oneof(
  fc.dictionary(tagKey, tagValue, { maxKeys: 4 }),
  fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 10 }), { minKeys: MAX_TAGS - 1, maxKeys: MAX_TAGS + 1 }),
  fc.constantFrom(JSON.parse('{"__proto__": "x"}') as unknown, [], 'region=eu', 0, Object.create(null) as unknown),
  fc.constant(null),
  fc.constant(undefined),
);
// Clear of the ten-minute bound by a minute either way: both sides read the clock a moment apart.
const timestamp = fc.oneof(
  fc.integer({ min: -1_000_000_000_000, max: MAX_FUTURE_MS - 60_000 }).map((offset) => new Date(Date.now() + offset)),
  fc.integer({ min: MAX_FUTURE_MS + 60_000, max: 400 * 86_400_000 }).map((offset) => new Date(Date.now() + offset)),
  fc.constantFrom(-1, 0, 1).map((ms) => new Date(MIN_TIMESTAMP.getTime() + ms)),
  fc.constantFrom(new Date(Number.NaN), '2026-12-02T06:00:00Z', 1_764_655_200_000),
  fc.constant(null),
  fc.constant(undefined),
);
const unit = fc.oneof(fc.constantFrom('ms', 'bytes', 'u'.repeat(50), 'u'.repeat(51), ''), edgeString, fc.integer(), fc.constant(null), fc.constant(undefined));
const id = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), edgeString, fc.constantFrom('00000000-0000-0000-0000-00000000000g'), fc.constant(null), fc.constant(undefined));
const item = fc.record({ name, value, type, tags, timestamp, unit, id, extra: fc.option(fc.string()) }, { requiredKeys: [] });
// Points the schema takes, or one edge away from it, so values are compared as often as rejections are.
const valid = fc.record(
  {
    name: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9._-]{0,20}$/),
    value: fc.oneof(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-1, -0)),
    type: fc.constantFrom('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'),
    tags: fc.option(fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 10 }), { maxKeys: 4 })),
    timestamp: fc.option(fc.integer({ min: 0, max: 1_700_000_000_000 }).map((ms) => new Date(ms))),
    unit: fc.option(fc.constantFrom('ms', 'bytes', 'u'.repeat(50), 'u'.repeat(51), '')),
    id: fc.option(fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()))),
  },
  { requiredKeys: ['name', 'value', 'type'] },
);
const raw = fc.oneof({ weight: 10, arbitrary: valid }, { weight: 20, arbitrary: item }, { weight: 1, arbitrary: fc.constantFrom(null, undefined, 0, 'point', [] as unknown) });

const HOUR = 3_600_000;
/** Batches: a few tag sets, each repeated as distinct objects of equal content. */
const goodText = fc.oneof(fc.constantFrom('a', 'host', 'web-01', 'eu', 'ok\uD83D\uDE00', 'x'.repeat(50)), fc.string({ minLength: 1, maxLength: 8 }));
const badText = fc.constantFrom('', '__proto__', 'constructor', 'x'.repeat(51), 'y'.repeat(101), 'nul\u0000', '\uD800');
const tagSet = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(goodText, goodText, { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(goodText, badText), fc.oneof(goodText, badText, fc.constant(null), fc.integer()), { minKeys: 1, maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 'tags', 7, ['a'], Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']))) },
);
const tagsPool = fc.array(tagSet, { minLength: 1, maxLength: 4 });

/** Each field good, or (in about one item of three) one field bad. */
const FIELDS = {
  name: [fc.constantFrom('cpu', 'http.requests', 'a_b-c.d', 'x'.repeat(255)), fc.oneof(fc.constantFrom('1abc', '', 'x'.repeat(256), 'a b'), fc.string({ maxLength: 4 }))],
  value: [fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }), fc.constantFrom(0, 1.5)), fc.constantFrom(NaN, Infinity, -1, '1')],
  type: [fc.constantFrom('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'), fc.constantFrom('counter', 'OTHER', 1)],
  // An hour ago and an hour ahead are read from the clock when an item is generated, not at load.
  timestamp: [
    fc.oneof(fc.constantFrom<unknown>(null, undefined, new Date('1970-01-01T00:00:00Z')), fc.constant(-HOUR).map((offset): unknown => new Date(Date.now() + offset))),
    fc.oneof(fc.constantFrom<unknown>(new Date('1969-12-31T23:59:59Z'), new Date(NaN), '2024-01-01T00:00:00Z'), fc.constant(HOUR).map((offset): unknown => new Date(Date.now() + offset))),
  ],
  unit: [fc.constantFrom(null, undefined, 'ms', 'u'.repeat(50)), fc.constantFrom('', 'u'.repeat(51), 'a\u0000', 5)],
  id: [fc.constantFrom(null, undefined, '0b4a3f8e-6c1d-4f7a-9e2b-5d8c7a6b1e3f', '0B4A3F8E-6C1D-4F7A-9E2B-5D8C7A6B1E3F'), fc.constantFrom('not-a-uuid', 42, '')],
} as const;
const pooledItem = (pool: unknown[]) =>
  fc.tuple(fc.nat(pool.length - 1), fc.nat(17)).chain(([tagsAt, bad]) => {
    const names = Object.keys(FIELDS) as Array<keyof typeof FIELDS>;
    const fields = Object.fromEntries(names.map((name, i) => [name, FIELDS[name][i === bad ? 1 : 0] as fc.Arbitrary<unknown>]));
    // Copies of pooled tag sets: equal content in distinct objects, as a JSON body gives them.
    return fc.record(fields).map((r) => {
      const raw: Record<string, unknown> = { ...r, tags: structuredClone(pool[tagsAt]) };
      for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
      if (r.type === 'COUNTER' && typeof r.value === 'number' && bad !== 1) raw.value = Math.abs(r.value);
      return raw;
    });
  });

function expectSameAsSchema(raw: unknown, read: ReturnType<typeof readMetricInput>) {
  const parsed = metricInputSchema.safeParse(raw);
  if (read === undefined) expect(parsed.success).toBe(false);
  else {
    expect(parsed.success).toBe(true);
    expect(read).toEqual(parsed.data);
  }
}

describe('readMetricInput, the fast path of a recorded point', () => {
  test('accepts exactly what metricInputSchema accepts, and returns the same value', () => {
    let accepted = 0;
    fc.assert(
      fc.property(raw, (input) => {
        const schema = metricInputSchema.safeParse(input);
        const fast = readMetricInput(input);
        if (schema.success) accepted++;
        expect(fast === undefined).toBe(!schema.success);
        if (schema.success) expect(fast).toStrictEqual(schema.data);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The generator reaches both sides of the schema, not only its rejections.
    expect(accepted).toBeGreaterThan(RUNS / 5);
  });

  test('over a batch: each item as the schema reads it; equal tag sets share one Tags object', () => {
    fc.assert(
      fc.property(tagsPool.chain((pool) => fc.array(pooledItem(pool), { maxLength: 12 })), (batch) => {
        const reads = batch.map((raw) => readMetricInput(raw));
        batch.forEach((raw, i) => expectSameAsSchema(raw, reads[i]));
        const byContent = new Map<string, Tags>();
        batch.forEach((raw, i) => {
          const read = reads[i];
          if (!read || raw.tags === undefined || raw.tags === null) return;
          const content = JSON.stringify(Object.entries(raw.tags as object));
          const first = byContent.get(content);
          if (first) expect(read.tags).toBe(first);
          else byContent.set(content, read.tags);
        });
      }),
      { seed: SEED, numRuns: RUNS / 6 },
    );
  });
});

describe('checkTagsBySignature, the Tags of a label list kept across requests', () => {
  /** A protocol's label list: names and values near the edges, names repeated (the last wins). */
  const labelList = fc.array(fc.tuple(fc.oneof(goodText, badText, fc.constantFrom('host', 'region')), fc.oneof(goodText, badText)), { maxLength: 6 });
  const signatureOf = (labels: Array<[string, string]>) => labels.map(([k, v]) => tagSignature(k, v)).join('');
  const objectOf = (labels: Array<[string, string]>) => () => {
    const raw: Record<string, string> = {};
    for (const [k, v] of labels) raw[k] = v;
    return raw;
  };

  test('answers as checkTags does, and with the same Tags object every time a valid list comes again', () => {
    fc.assert(
      fc.property(fc.array(labelList, { minLength: 1, maxLength: 4 }), (lists) => {
        for (const labels of [...lists, ...lists]) {
          const first = checkTagsBySignature(signatureOf(labels), objectOf(labels));
          expect(first).toEqual(checkTags(objectOf(labels)()));
          const again = checkTagsBySignature(signatureOf(labels), objectOf(labels));
          if ('error' in first) expect(again).toEqual(first);
          else expect(again).toBe(first);
        }
      }),
      { seed: SEED, numRuns: RUNS / 6 },
    );
  });

  test('a valid list is not built again once known (the second request reads no labels)', () => {
    let built = 0;
    const raw = () => (built++, { zone: 'b', host: 'a' });
    const signature = tagSignature('zone', 'b') + tagSignature('host', 'a');
    const first = checkTagsBySignature(signature, raw);
    expect(first).toEqual({ host: 'a', zone: 'b' });
    expect(checkTagsBySignature(signature, raw)).toBe(first);
    expect(built).toBe(1);
  });
});
