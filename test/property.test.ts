/**
 * Generated bad input at every mutation and query argument (fast-check): any strings
 * (invalid UTF-16 included), number edges, huge and deeply nested JSON in Tags, timestamps
 * from year 0 to 9999, raw bodies that are not JSON, 10 MB bodies, wrong content types. Every
 * response is a well-formed GraphQL error or success with a known code — never a 5xx or a
 * hang — and what is stored is exactly what was acknowledged, never part of a batch.
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_SEED=random tries a new one.
 */
import { sql } from 'kysely';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type TestApp } from './harness.js';

// A fixed seed by default, so CI is repeatable; FC_SEED=random (or a number) explores further.
const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20_261_124);
const RUNS = Number(process.env.FC_RUNS ?? 60);
console.log(`property suite: FC_SEED=${SEED} FC_RUNS=${RUNS}`);

// BAD_REQUEST: Yoga's answer to an HTTP request that is not a GraphQL request (no query, invalid JSON).
const CODES = new Set(['BAD_REQUEST', 'BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED', 'LIMIT_EXCEEDED']);

let app: TestApp;
let key: string;
let tenantId: string;
let acknowledged = 0;
beforeAll(async () => {
  app = await startApp('embedded');
  ({ adminKey: key, tenantId } = await app.createTenant());
});
afterAll(() => app.close());

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function send(body: string, contentType = 'application/json'): Promise<Answer> {
  const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': contentType, accept: 'application/graphql-response+json', authorization: `Bearer ${key}` }, body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    throw new Error(`status ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body: parsed };
}

/** Well formed: no 5xx; data, or errors each with a message and a code we document. */
function wellFormed(answer: Answer) {
  expect(answer.status).toBeLessThan(500);
  if (answer.body.errors) {
    expect(answer.body.errors.length).toBeGreaterThan(0);
    for (const error of answer.body.errors) {
      expect(typeof error.message).toBe('string');
      // graphql-js's own request errors (parse, validation) carry no code; every other does.
      if (error.extensions?.code !== undefined) expect(CODES).toContain(error.extensions.code);
    }
  } else expect(answer.body.data).toBeTruthy();
}

const anyString = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: fc.constantFrom('\ud800', '\udfff', '\u0000', 'é', '😀', '"', '\\'), maxLength: 50 }), fc.constantFrom('', ' ', 'a'.repeat(300), 'http.requests', '__proto__', 'constructor'));
const numberEdge = fc.oneof(fc.double(), fc.constantFrom(-0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER, 0), fc.integer());
const timestamp = fc.oneof(
  fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  anyString,
  fc.constantFrom('2026-02-30T00:00:00Z', '2026-11-24T10:00:00', '2026-11-24T10:00:00+25:00', '1969-12-31T23:59:59Z'),
);
const deepJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.jsonValue({ maxDepth: 2 }), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(anyString, tie('node'), { maxKeys: 4 })),
})).node;
const tags = fc.oneof(fc.dictionary(anyString, anyString, { maxKeys: 25 }), deepJson);
const metricInput = fc.record(
  {
    name: fc.oneof(anyString, fc.constantFrom('prop.metric', 'prop.other')),
    type: fc.oneof(fc.constantFrom('COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'), anyString),
    value: fc.oneof(numberEdge, anyString, fc.constant(null)),
    tags: fc.option(tags),
    timestamp: fc.option(timestamp),
    unit: fc.option(anyString),
    id: fc.option(fc.oneof(fc.uuid(), anyString)),
  },
  { requiredKeys: [] },
);

describe('generated input', () => {
  test('recordMetric and recordMetrics: well formed, and stored = acknowledged', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(metricInput, { minLength: 1, maxLength: 8 }), fc.boolean(), async (items, batch) => {
        const answer = batch
          ? await send(JSON.stringify({ query: 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted duplicates failed { index code } } }', variables: { m: items } }))
          : await send(JSON.stringify({ query: 'mutation($i: MetricInput!) { recordMetric(input: $i) { id duplicate } }', variables: { i: items[0] } }));
        wellFormed(answer);
        const result = answer.body.data?.recordMetrics;
        if (result) {
          expect(result.accepted + result.failed.length).toBe(items.length);
          for (const failure of result.failed) expect(CODES).toContain(failure.code);
          acknowledged += result.accepted - result.duplicates;
        } else if (answer.body.data?.recordMetric && !answer.body.data.recordMetric.duplicate) acknowledged += 1;
      }),
      { seed: SEED, numRuns: RUNS },
    );
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from points where tenant_id = ${tenantId}`.execute(app.server.deps.db.kysely);
    expect(rows[0]!.n).toBe(acknowledged);
  }, 120_000);

  test('query arguments: metricAggregates, metricPoints, tagValues, latestValue', async () => {
    const input = fc.record(
      {
        metrics: fc.oneof(fc.array(anyString, { maxLength: 12 }), anyString),
        from: timestamp,
        to: fc.option(timestamp),
        granularity: fc.oneof(fc.constantFrom('MINUTE', 'FIVE_MINUTES', 'HOUR', 'DAY'), anyString),
        tags: fc.option(tags),
        filters: fc.option(fc.array(fc.record({ key: anyString, equals: fc.option(anyString), in: fc.option(fc.array(anyString)) }, { requiredKeys: [] }), { maxLength: 25 })),
        groupBy: fc.option(fc.array(anyString, { maxLength: 7 })),
        fill: fc.option(fc.oneof(fc.constantFrom('NONE', 'NULL', 'ZERO', 'PREVIOUS'), anyString)),
        limit: fc.option(numberEdge),
        after: fc.option(anyString),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(input, anyString, tags, async (i, text, t) => {
        wellFormed(await send(JSON.stringify({ query: 'query($i: AggregateQueryInput!) { metricAggregates(input: $i) { series { tags buckets { count p99 } } nextCursor } }', variables: { i } })));
        wellFormed(await send(JSON.stringify({ query: 'query($m: String!, $k: String!, $p: String) { tagValues(metric: $m, key: $k, prefix: $p) }', variables: { m: text, k: text, p: text } })));
        wellFormed(await send(JSON.stringify({ query: 'query($m: String!, $t: Tags) { latestValue(metric: $m, tags: $t) { value } }', variables: { m: text, t } })));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 120_000);

  test('bodies that are not GraphQL requests', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyString, fc.jsonValue().map((v) => JSON.stringify(v)), fc.constantFrom('{"query": 1}', '{"query": "{ tenant { id } }", "variables": "x"}', '[]', 'null', '{"value": NaN}', '{"query":"mutation($v: Float!) { recordMetric(input: { name: \\"n\\", type: GAUGE, value: $v }) { id } }","variables":{"v":1e309}}')), async (body) => {
        wellFormed(await send(body));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 120_000);

  test('what the generators found, kept as examples: NUL in a unit, unpaired surrogates in a tag, Tags that are not an object', async () => {
    const record = (input: unknown) => send(JSON.stringify({ query: 'mutation($i: MetricInput!) { recordMetric(input: $i) { id } }', variables: { i: input } }));
    expect((await record({ name: 'found', type: 'GAUGE', value: 1, unit: 'a\u0000b' })).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await record({ name: 'found', type: 'GAUGE', value: 1, tags: { k: '\udfff' } })).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await record({ name: 'found', type: 'GAUGE', value: 1, tags: { ['\ud800']: 'v' } })).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const latest = await send(JSON.stringify({ query: 'query($t: Tags) { latestValue(metric: "found", tags: $t) { value } }', variables: { t: false } }));
    expect(latest.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const batch = await send(JSON.stringify({ query: 'mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted failed { index code } } }', variables: { m: [{ name: 'found', type: 'GAUGE', value: 1, unit: '\u0000' }, { name: 'found.ok', type: 'GAUGE', value: 2 }] } }));
    expect(batch.body.data!.recordMetrics).toEqual({ accepted: 1, failed: [{ index: 0, code: 'BAD_USER_INPUT' }] });
  });

  test('10 MB bodies and wrong content types are refused cleanly', async () => {
    const huge = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: '{ tenant { id } }', variables: { pad: 'x'.repeat(10_000_000) } }) });
    expect(huge.status).toBe(413);
    // A huge Tags object inside an ordinary body.
    const wide = await send(JSON.stringify({ query: 'mutation($t: Tags) { recordMetric(input: { name: "wide", type: GAUGE, value: 1, tags: $t }) { id } }', variables: { t: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'])) } }));
    expect(wide.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream']) {
      const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${key}` }, body: 'query={ tenant { id } }' });
      expect([type, response.status >= 400 && response.status < 500]).toEqual([type, true]);
    }
  });
});
