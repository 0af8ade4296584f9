/**
 * readMetricInput, the fast path of recordMetrics' validation, held to metricInputSchema (the
 * one source of truth): for generated items, good and bad in every field, it accepts exactly
 * what the schema accepts and returns the same value; with a batch's tag cache, items that
 * repeat a tag set read the same as alone, and share one Tags object.
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_SEED=random tries a new one.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Tags } from '../src/db/tables.js';
import { metricInputSchema, readMetricInput } from '../src/ingest/metric-input.js';

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_261_202);
const RUNS = Number(process.env.FC_RUNS ?? 500);
console.log(`metric-input: FC_SEED=${SEED} FC_RUNS=${RUNS}`);

const HOUR = 3_600_000;
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
  timestamp: [fc.constantFrom<unknown>(null, undefined, new Date(Date.now() - HOUR), new Date('1970-01-01T00:00:00Z')), fc.constantFrom<unknown>(new Date(Date.now() + HOUR), new Date('1969-12-31T23:59:59Z'), new Date(NaN), '2024-01-01T00:00:00Z')],
  unit: [fc.constantFrom(null, undefined, 'ms', 'u'.repeat(50)), fc.constantFrom('', 'u'.repeat(51), 'a\u0000', 5)],
  id: [fc.constantFrom(null, undefined, '0b4a3f8e-6c1d-4f7a-9e2b-5d8c7a6b1e3f', '0B4A3F8E-6C1D-4F7A-9E2B-5D8C7A6B1E3F'), fc.constantFrom('not-a-uuid', 42, '')],
} as const;
const item = (pool: unknown[]) =>
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

describe('readMetricInput', () => {
  test('accepts exactly what metricInputSchema accepts, with the same value', () => {
    fc.assert(
      fc.property(tagsPool.chain((pool) => item(pool)), (raw) => expectSameAsSchema(raw, readMetricInput(raw))),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('with one tag cache over a batch: each item as the schema reads it; equal tag sets share one Tags object', () => {
    fc.assert(
      fc.property(tagsPool.chain((pool) => fc.array(item(pool), { maxLength: 12 })), (batch) => {
        const cache = new Map<string, Tags>();
        const reads = batch.map((raw) => readMetricInput(raw, cache));
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
      { seed: SEED, numRuns: RUNS },
    );
  });
});
