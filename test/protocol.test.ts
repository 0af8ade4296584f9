/**
 * GraphQL over HTTP compliance: graphql-http's server audits against the real server (every
 * MUST and every SHOULD passes), the status codes of application/graphql-response+json, and
 * the abuse limits (graphql-armor, with the 2025 bypass payloads), introspection switch and
 * body size limit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serverAudits } from 'graphql-http';
import { startApp, type TestApp } from './harness.js';

let app: TestApp;
let key: string;
beforeAll(async () => {
  app = await startApp('embedded', { MAX_BODY_BYTES: '200000' });
  key = (await app.createTenant()).adminKey;
});
afterAll(() => app.close());

const withKey = (input: RequestInfo | URL, init?: RequestInit) =>
  fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: `Bearer ${key}` } });

describe('graphql-http server audits', () => {
  const audits = serverAudits({ url: () => `${app.url}/graphql`, fetchFn: withKey });
  test.each(audits.map((audit) => [audit.name, audit] as const))('%s', async (_name, audit) => {
    const result = await audit.fn();
    expect(result.status === 'ok' ? 'ok' : `${result.status}: ${result.reason}`).toBe('ok');
  });
});

const RESPONSE_JSON = 'application/graphql-response+json';
async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: RESPONSE_JSON, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }, text };
}

describe('status codes', () => {
  test('parse, validation and variable errors are 400; auth is 401 and 403; mutations over GET are refused', async () => {
    const auth = { authorization: `Bearer ${key}` };
    expect((await post({ query: '{ tenant { id ' }, auth)).status).toBe(400);
    expect((await post({ query: '{ noSuchField }' }, auth)).status).toBe(400);
    expect((await post({ query: 'query($n: Int!) { metrics(limit: $n) { name } }', variables: { n: 'many' } }, auth)).status).toBe(400);
    const unauthenticated = await post({ query: '{ tenant { id } }' }, { authorization: 'Bearer mg_wrong' });
    expect([unauthenticated.status, unauthenticated.body.errors?.[0]?.extensions?.code]).toEqual([401, 'UNAUTHENTICATED']);
    const viewer = await app.createKey(key, 'VIEWER');
    const forbidden = await post({ query: 'mutation { recordMetric(input: { name: "x", type: GAUGE, value: 1 }) { id } }' }, { authorization: `Bearer ${viewer.key}` });
    expect([forbidden.status, forbidden.body.errors?.[0]?.extensions?.code]).toEqual([403, 'FORBIDDEN']);
    const get = await fetch(`${app.url}/graphql?query=${encodeURIComponent('mutation { recordMetric(input: { name: "x", type: GAUGE, value: 1 }) { id } }')}`, { headers: { accept: RESPONSE_JSON, ...auth } });
    expect(get.status).toBe(405);
  });
});

test('an unexpected error is masked: INTERNAL with a request id, and none of its text', async () => {
  // The metric exists, so the query is admitted (its series are counted first) and reaches the cache.
  const recorded = await post({ query: 'mutation { recordMetric(input: { name: "masked", type: GAUGE, value: 1 }) { id } }' }, { authorization: `Bearer ${key}` });
  expect(recorded.body.errors).toBeUndefined();
  const cache = app.server.deps.queryCache;
  const original = cache.lookup;
  cache.lookup = async () => {
    throw new Error('relation "secret_table" does not exist: select * from secret_table');
  };
  try {
    const response = await post({ query: 'query($i: AggregateQueryInput!) { metricAggregates(input: $i) { granularity } }', variables: { i: { metrics: ['masked'], from: '2026-01-01T00:00:00Z' } } }, { authorization: `Bearer ${key}` });
    const error = response.body.errors![0]!;
    expect(error.extensions!.code).toBe('INTERNAL');
    expect(error.message).toMatch(/\(request id [0-9a-f-]{36}\)$/);
    expect(response.text).not.toMatch(/secret_table|select|at .*\.[jt]s:\d+/);
  } finally {
    cache.lookup = original;
  }
});

describe('operation limits (graphql-armor), over HTTP and WebSocket', () => {
  /**
   * A selection of `levels` nested `ofType` under `__type(name: "Query")`: __Type is the one
   * type that lists itself (MetricDefinition.versions no longer does), and armor counts it.
   */
  const nested = (levels: number, inner = 'name') => `${'ofType { '.repeat(levels)}${inner}${' }'.repeat(levels)}`;
  const root = '__type(name: "Query")';
  const expectLimited = async (query: string, code = 'LIMIT_EXCEEDED', url = app.url, token = key) => {
    const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: RESPONSE_JSON, authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    const body = (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
    expect([response.status, body.errors?.[0]?.extensions?.code]).toEqual([400, code]);
    return body.errors![0]!.message;
  };

  test('depth: a deep selection is refused, and a legitimate one passes', async () => {
    expect((await post({ query: `{ ${root} { ${nested(3)} } }` }, { authorization: `Bearer ${key}` })).body.errors).toBeUndefined();
    await expectLimited(`{ ${root} { ${nested(20)} } }`);
  });

  test('GHSA-hmfr-rx46-4jx2: a fragment first met shallow, then reused deep, does not escape the depth limit', async () => {
    await expectLimited(`query { a: ${root} { ...V } b: ${root} { ${nested(8, '...V')} } } fragment V on __Type { ${nested(8)} }`);
  });

  test('GHSA-224p-v68g-5g8f and GHSA-733v-p3h5-qpq7: naming an operation or fragment __schema does not skip the limits', async () => {
    await expectLimited(`query __schema { ${root} { ${nested(20)} } }`);
    await expectLimited(`query { ...__schema } fragment __schema on Query { ${root} { ${nested(20)} } }`);
  });

  test('aliases, directives and tokens', async () => {
    await expectLimited(`{ ${Array.from({ length: 16 }, (_, i) => `a${i}: tenant { id }`).join(' ')} }`);
    await expectLimited(`{ tenant ${'@include(if: true) '.repeat(51)} { id } }`);
    await expectLimited(`{ tenant { ${'id '.repeat(5_001)} } }`);
  });

  test('the same limits apply over WebSocket', async () => {
    const { createClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const client = createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
    try {
      const aliases = Array.from({ length: 16 }, (_, i) => `d${i}: dropped`).join(' ');
      const errors = await new Promise<Array<{ extensions?: { code?: string } }>>((resolve) => {
        client.subscribe({ query: `subscription { metricRecorded(filter: { metrics: ["x"] }) { ${aliases} } }` }, { next: () => {}, error: (e) => resolve(e as never), complete: () => resolve([]) });
      });
      expect(errors[0]?.extensions?.code).toBe('LIMIT_EXCEEDED');
    } finally {
      await client.dispose();
    }
  });

  describe('in production, with introspection off and a low cost limit', () => {
    let prod: TestApp;
    let prodKey: string;
    beforeAll(async () => {
      prod = await startApp('embedded', { NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'false', GRAPHQL_MAX_COST: '150' });
      prodKey = (await prod.createTenant()).adminKey;
    });
    afterAll(() => prod.close());

    test('introspection is FORBIDDEN, __typename still answers', async () => {
      await expectLimited('{ __schema { types { name } } }', 'FORBIDDEN', prod.url, prodKey);
      const typename = await fetch(`${prod.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${prodKey}` }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(await typename.json()).toEqual({ data: { __typename: 'Query' } });
    });

    test('field suggestions are not given', async () => {
      const response = await fetch(`${prod.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${prodKey}` }, body: JSON.stringify({ query: '{ tenat { id } }' }) });
      const text = await response.text();
      expect(text).toContain('tenat');
      expect(text).not.toMatch(/Did you mean/);
    });

    test('cost: over the limit is refused, also when dressed as introspection (GHSA-733v-p3h5-qpq7)', async () => {
      const costly = `${root} { ${nested(10, 'name kind description')} }`;
      await expectLimited(`{ ${costly} }`, 'LIMIT_EXCEEDED', prod.url, prodKey);
      await expectLimited(`query __schema { ${costly} }`, 'LIMIT_EXCEEDED', prod.url, prodKey);
      await expectLimited(`query { ...__schema } fragment __schema on Query { ${costly} }`, 'LIMIT_EXCEEDED', prod.url, prodKey);
    });
  });

  test('a body over MAX_BODY_BYTES is refused with 413', async () => {
    const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: '{ tenant { id } }', variables: { pad: 'x'.repeat(250_000) } }) });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('LIMIT_EXCEEDED');
  });
});
