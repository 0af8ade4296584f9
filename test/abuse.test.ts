/**
 * The fault classes of the red-team review (issue 16), each over HTTP and over WebSocket with
 * its exact error code: request budgets checked before anything grows with the range, list
 * fields costed by their size, fills made per page, forged cursors and odd inputs refused as
 * the caller's fault, and no request that ends the process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startApp, type GraphQLResponse, type TestApp } from './harness.js';
import { STATEMENT_CELLS } from '../src/query/aggregate.js';

let app: TestApp;
let admin: string;
let viewer: string;
const MINUTE = 60_000;
/** Two hours ago, on a whole hour: inside raw retention, outside the live window. */
let base = NaN;
// Read when the tests start, not when the module loads.
beforeAll(() => {
  base = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE - 2 * 60 * MINUTE;
});
const at = (minutes: number) => new Date(base + minutes * MINUTE).toISOString();

beforeAll(async () => {
  app = await startApp('embedded', { QUERY_MAX_BUCKETS: '20000', QUERY_CACHE_SIZE: '0' });
  admin = (await app.createTenant()).adminKey;
  viewer = (await app.createKey(admin, 'VIEWER')).key;
  const recorded = await ask(
    `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted failed { code } } }`,
    {
      m: [
        { name: 'abuse.g', type: 'GAUGE', value: 5, timestamp: at(1.5), tags: { host: 'a' } },
        { name: 'abuse.g', type: 'GAUGE', value: 7, timestamp: at(4.2), tags: { host: 'a' } },
      ],
    },
    admin,
  );
  expect(recorded.errors).toBeUndefined();
  const defined = await ask(`mutation { createMetricDefinition(input: { name: "abuse.def", formula: "avg(abuse.g) * 2" }) { definition { id } } }`, {}, admin);
  expect(defined.errors).toBeUndefined();
}, 600_000);
afterAll(() => app?.close());

/** A GraphQL request over HTTP with an untyped answer (these documents are not in codegen). */
const ask = (query: string, variables: Record<string, unknown>, token: string) => app.gql<any, any>(query, variables, token);
const codeOf = (response: GraphQLResponse<unknown>) => response.errors?.[0]?.extensions?.code;

function ws(token: string): Client {
  return createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
}

/** The first message of an operation over WebSocket (a query, mutation or subscription), or its error list. */
async function overWs(token: string, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResponse<any>> {
  const client = ws(token);
  try {
    return await new Promise((resolve) => {
      const dispose = client.subscribe(
        { query, variables },
        {
          next: (message) => {
            dispose();
            resolve(message as GraphQLResponse<unknown>);
          },
          error: (error) => resolve({ errors: Array.isArray(error) ? error : [{ message: String((error as Error)?.message ?? error), extensions: { code: `close ${(error as { code?: number }).code}` } }] }),
          complete: () => resolve({}),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const AGG = `query($i: AggregateQueryInput!) { metricAggregates(input: $i) { nextCursor series { metric tags buckets { start count avg value } } } }`;
const LIVE = `subscription($i: AggregateQueryInput!) { liveAggregates(input: $i) { initial series { buckets { start count } } } }`;
const WHOLE_ERA = { from: '0001-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z' };

describe('request budgets: the range is counted before anything grows with it', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['year 1 to 9999 at MINUTE, a tag filter that matches nothing', { metrics: ['abuse.g'], ...WHOLE_ERA, granularity: 'MINUTE', tags: { host: 'nobody' } }],
    ['the same naming a metric definition', { metrics: ['abuse.def'], ...WHOLE_ERA, granularity: 'MINUTE' }],
    ['year 1 to 9999 at the automatic granularity (DAY)', { metrics: ['abuse.g'], ...WHOLE_ERA }],
    // A fixed range (the count is arithmetic): this table is built when the file is collected.
    ['one bucket over QUERY_MAX_BUCKETS, fill ZERO', { metrics: ['abuse.g'], from: '2026-01-01T00:00:00.000Z', to: new Date(Date.parse('2026-01-01T00:00:00Z') + 20_001 * MINUTE).toISOString(), granularity: 'MINUTE', fill: 'ZERO' }],
  ];
  test.each(cases)('metricAggregates, %s: LIMIT_EXCEEDED over HTTP and WebSocket, naming the limit', async (_name, input) => {
    const http = await ask(AGG, { i: input }, viewer);
    expect(codeOf(http)).toBe('LIMIT_EXCEEDED');
    expect(http.errors![0]!.extensions!.limit).toBe(20_000);
    expect(codeOf(await overWs(viewer, AGG, { i: input }))).toBe('LIMIT_EXCEEDED');
    expect(codeOf(await overWs(viewer, LIVE, { i: input }))).toBe('LIMIT_EXCEEDED');
  });

  test('previewMetricDefinition over year 1 to 9999 is refused before its buckets are listed (HTTP and WebSocket)', async () => {
    const query = `query($i: PreviewMetricDefinitionInput!) { previewMetricDefinition(input: $i) { cost { buckets } } }`;
    const input = { formula: 'avg(abuse.g)', ...WHOLE_ERA, granularity: 'MINUTE' };
    expect(codeOf(await ask(query, { i: input }, viewer))).toBe('LIMIT_EXCEEDED');
    expect(codeOf(await overWs(viewer, query, { i: input }))).toBe('LIMIT_EXCEEDED');
  });

  test('liveAggregates with a fill over more buckets than its limit is refused before it is evaluated', async () => {
    const input = { metrics: ['abuse.g'], from: at(0), to: at(200), granularity: 'MINUTE', fill: 'ZERO', limit: 100 };
    expect(codeOf(await overWs(viewer, LIVE, { i: input }))).toBe('LIMIT_EXCEEDED');
  });

  test('an export over QUERY_MAX_BUCKETS is a 400 LIMIT_EXCEEDED before any window is read', async () => {
    const response = await fetch(`${app.url}/export?query=${encodeURIComponent(JSON.stringify({ metrics: ['abuse.g'], ...WHOLE_ERA, granularity: 'MINUTE' }))}`, { headers: { authorization: `Bearer ${viewer}` } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as GraphQLResponse<unknown>).errors![0]!.extensions!.code).toBe('LIMIT_EXCEEDED');
  });

  test('the process is alive after all of them', async () => {
    expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
  });
});

describe('fill modes are made per page: exact buckets at the largest range allowed', () => {
  // 20 000 MINUTE buckets (QUERY_MAX_BUCKETS) with points in two of them.
  const input = (fill: string, extra: Record<string, unknown> = {}) => ({ metrics: ['abuse.g'], from: at(0), to: at(20_000), granularity: 'MINUTE', fill, limit: 4, ...extra });
  const starts = (r: GraphQLResponse<any>) => r.data.metricAggregates.series[0].buckets.map((b: { start: string; count: number; avg: number | null }) => [b.start, b.count, b.avg]);

  test('ZERO: the first page, then the next one from its cursor', async () => {
    const first = await ask(AGG, { i: input('ZERO') }, viewer);
    expect(first.errors).toBeUndefined();
    expect(starts(first)).toEqual([
      [at(0), 0, 0],
      [at(1), 1, 5],
      [at(2), 0, 0],
      [at(3), 0, 0],
    ]);
    const second = await ask(AGG, { i: input('ZERO', { after: first.data!.metricAggregates.nextCursor }) }, viewer);
    expect(starts(second)).toEqual([
      [at(4), 1, 7],
      [at(5), 0, 0],
      [at(6), 0, 0],
      [at(7), 0, 0],
    ]);
  });

  test('PREVIOUS repeats the newest earlier bucket with points, also across a page boundary', async () => {
    const first = await ask(AGG, { i: input('PREVIOUS', { limit: 3 }) }, viewer);
    expect(starts(first)).toEqual([
      [at(0), 0, null],
      [at(1), 1, 5],
      [at(2), 0, 5],
    ]);
    const second = await ask(AGG, { i: input('PREVIOUS', { limit: 3, after: first.data!.metricAggregates.nextCursor }) }, viewer);
    expect(starts(second)).toEqual([
      [at(3), 0, 5],
      [at(4), 1, 7],
      [at(5), 0, 7],
    ]);
  });

  test('a definition with fill ZERO has value 0 in its empty buckets', async () => {
    const page = await ask(AGG, { i: { ...input('ZERO'), metrics: ['abuse.def'] } }, viewer);
    expect(page.data!.metricAggregates.series[0].buckets.map((b: { value: number | null }) => b.value)).toEqual([0, 10, 0, 0]);
  });

  test('the last page of 10 000 buckets ends with a null cursor', async () => {
    const page = await ask(`query($i: AggregateQueryInput!) { metricAggregates(input: $i) { nextCursor series { buckets { start } } } }`, { i: input('NULL', { limit: 10_000, from: at(10_000) }) }, viewer);
    expect(page.data!.metricAggregates.series[0].buckets).toHaveLength(10_000);
    expect(page.data!.metricAggregates.nextCursor).toBeNull();
  });
});

describe('a wide answer is read in statements of at most STATEMENT_CELLS series × buckets, with the same exact buckets', () => {
  // 2 series × 20 000 MINUTE buckets ending 2 hours from base (no future points): windows of
  // STATEMENT_CELLS / 2 buckets (1 250 with 2 500; 5 000 when it was 10 000), so offsets 5 000 and
  // 10 000 are window boundaries either way; points on both sides of two of them.
  const F = -19_880;
  test('points at the window boundaries come back once each, in their buckets', async () => {
    // The offsets below stay window boundaries only while they are multiples of a window.
    expect([5_000 % (STATEMENT_CELLS / 2), 10_000 % (STATEMENT_CELLS / 2)]).toEqual([0, 0]);
    const points = [
      [F + 4_999, 'a', 1],
      [F + 5_000, 'a', 3],
      [F + 5_000.5, 'a', 5],
      [F + 9_999.9, 'b', 7],
      [F + 10_000, 'b', 9],
    ] as const;
    const recorded = await ask(
      `mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`,
      { m: points.map(([minute, host, value]) => ({ name: 'abuse.w', type: 'GAUGE', value, timestamp: at(minute), tags: { host } })) },
      admin,
    );
    expect(recorded.data.recordMetrics.accepted).toBe(5);
    const answer = await ask(AGG, { i: { metrics: ['abuse.w'], from: at(F), to: at(F + 20_000), granularity: 'MINUTE', groupBy: ['host'] } }, viewer);
    expect(answer.errors).toBeUndefined();
    expect(answer.data.metricAggregates.series.map((s: any) => [s.tags, s.buckets.map((b: any) => [b.start, b.count, b.avg])])).toEqual([
      [{ host: 'a' }, [[at(F + 4_999), 1, 1], [at(F + 5_000), 2, 4]]],
      [{ host: 'b' }, [[at(F + 9_999), 1, 7], [at(F + 10_000), 1, 9]]],
    ]);
  });
});

describe('operation cost multiplies list fields by their size bounds (Pothos complexity), over HTTP and WebSocket', () => {
  const wide = 'version formula description unit groupBy metrics versionCreatedBy versionCreatedAt filters { key }';
  test('versions no longer list themselves: versions { versions } is a validation error', async () => {
    const response = await app.post({ query: `{ metricDefinitions { versions { versions { version } } } }` }, viewer);
    expect(response.status).toBe(400);
    expect(response.body.errors![0]!.message).toMatch(/MetricDefinitionVersion.*versions|versions.*MetricDefinitionVersion/);
  });

  test('every version of up to 1 000 definitions with every field is over the limit; with limit 10 it passes', async () => {
    const costly = `{ metricDefinitions { name versions { ${wide} } } }`;
    const http = await app.post({ query: costly }, viewer);
    expect([http.status, codeOf(http.body)]).toEqual([400, 'LIMIT_EXCEEDED']);
    expect(http.body.errors![0]!.message).toMatch(/complexity/);
    expect(codeOf(await overWs(viewer, costly))).toBe('LIMIT_EXCEEDED');
    const bounded = await app.post({ query: `{ metricDefinitions(limit: 10) { name versions { ${wide} } } }` }, viewer);
    expect(bounded.body.errors).toBeUndefined();
    expect(bounded.body.data).toEqual({ metricDefinitions: [{ name: 'abuse.def', versions: [expect.objectContaining({ version: 1, formula: 'avg(abuse.g) * 2' })] }] });
  });

  test('the bound comes from the variables of the request', async () => {
    const query = `query($n: Int) { metricDefinitions(limit: $n) { name versions { ${wide} } } }`;
    expect(codeOf((await app.post({ query, variables: { n: 1000 } }, viewer)).body)).toBe('LIMIT_EXCEEDED');
    expect((await app.post({ query, variables: { n: 10 } }, viewer)).body.errors).toBeUndefined();
    expect(codeOf(await overWs(viewer, query, { n: 1000 }))).toBe('LIMIT_EXCEEDED');
    // Verdicts are kept per document and variables: each value keeps its own, in any order.
    expect((await app.post({ query, variables: { n: 10 } }, viewer)).body.errors).toBeUndefined();
    expect(codeOf((await app.post({ query, variables: { n: 1000 } }, viewer)).body)).toBe('LIMIT_EXCEEDED');
    expect(codeOf((await app.post({ query, variables: {} }, viewer)).body)).toBe('LIMIT_EXCEEDED'); // no limit: up to 1 000
  });
});

describe('odd input is the caller’s fault: BAD_USER_INPUT, never INTERNAL', () => {
  const forged = (cursor: unknown) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
  test.each([
    ['a negative series index', { q: 'x', s: -1, t: 0 }],
    ['a series past the answer', { q: 'x', s: 99, t: 0 }],
    ['a fractional instant', { q: 'x', s: 0, t: 0.5 }],
    ['null', null],
    ['a number', 42],
  ])('a forged cursor (%s)', async (_name, cursor) => {
    // The query tag is computable by anyone; the cursor is checked against the answer too.
    const input = { metrics: ['abuse.g'], from: at(0), to: at(10), granularity: 'MINUTE', after: forged(cursor) };
    expect(codeOf(await ask(AGG, { i: input }, viewer))).toBe('BAD_USER_INPUT');
    expect(codeOf(await overWs(viewer, AGG, { i: input }))).toBe('BAD_USER_INPUT');
  });

  test('year 0000', async () => {
    const input = { metrics: ['abuse.g'], from: '0000-06-01T00:00:00Z', to: at(10) };
    expect(codeOf(await ask(AGG, { i: input }, viewer))).toBe('BAD_USER_INPUT');
    expect(codeOf(await overWs(viewer, AGG, { i: input }))).toBe('BAD_USER_INPUT');
  });

  test('Tags nested 10 000 levels deep, as a literal (LIMIT_EXCEEDED before the parser) and as a variable', async () => {
    const literal = `{ latestValue(metric: "abuse.g", tags: ${'{ a: '.repeat(10_000)}"x"${' }'.repeat(10_000)}) { value } }`;
    const big = await app.post({ query: literal }, viewer);
    expect([big.status, codeOf(big.body)]).toEqual([400, 'LIMIT_EXCEEDED']);
    expect(big.body.errors![0]!.message).toMatch(/^The document nests \d+ levels of brackets; at most \d+ are accepted\.$/);
    expect(codeOf(await overWs(viewer, literal))).toBe('LIMIT_EXCEEDED');
    // Built as text: JSON.stringify itself would overflow on it.
    const nested = `${'{"a":'.repeat(10_000)}"x"${'}'.repeat(10_000)}`;
    const query = 'query($t: Tags) { latestValue(metric: \\"abuse.g\\", tags: $t) { value } }';
    const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer}` }, body: `{"query":"${query}","variables":{"t":${nested}}}` });
    expect(codeOf((await response.json()) as GraphQLResponse<unknown>)).toBe('BAD_USER_INPUT');
  });
});

describe('export links, export charges and aborted exports', () => {
  const input = () => ({ metrics: ['abuse.g'], from: at(0), to: at(10), granularity: 'MINUTE' });
  test('a signed link runs only its own query, by GET: a POST with another body to it is refused (405)', async () => {
    const link = (await ask(`query($i: AggregateQueryInput!) { exportUrl(input: $i, format: CSV, locale: EN) { url } }`, { i: input() }, viewer)).data.exportUrl.url as string;
    expect((await fetch(new URL(link, app.url))).status).toBe(200);
    const other = { input: { metrics: ['abuse.g'], ...WHOLE_ERA, granularity: 'DAY' }, format: 'json' };
    const post = await fetch(new URL(link, app.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(other) });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
    expect(((await post.json()) as GraphQLResponse<unknown>).errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  test('an export the client aborts writes its audit row (aborted, with the rows sent) and frees its writer', async () => {
    // Five series filled over 19 999 minutes: 99 995 JSON rows (about 25 MB), never read. Far
    // more than loopback's socket buffers and fetch's queue take, so the export cannot finish
    // before the abort (5 MB once did, quickly enough): the server's writes wait for a drain
    // that the abort replaces with a close.
    const hosts = ['a', 'b', 'c', 'd', 'e'].map((host) => ({ name: 'abuse.wide', type: 'GAUGE', value: 1, timestamp: at(1), tags: { host } }));
    expect((await ask(`mutation($m: [MetricInput!]!) { recordMetrics(input: { metrics: $m }) { accepted } }`, { m: hosts }, admin)).data.recordMetrics.accepted).toBe(5);
    const controller = new AbortController();
    const big = { metrics: ['abuse.wide'], from: at(0), to: at(19_999), granularity: 'MINUTE', fill: 'ZERO' };
    await fetch(`${app.url}/export?format=json&query=${encodeURIComponent(JSON.stringify(big))}`, { headers: { authorization: `Bearer ${admin}` }, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 500));
    controller.abort();
    let row: any;
    for (let i = 0; i < 600 && !row; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const log = await ask(`{ auditLog(filter: { actions: [METRICS_EXPORTED] }) { entries { details } } }`, {}, admin);
      row = log.data.auditLog.entries.map((e: { details: string }) => JSON.parse(e.details)).find((d: { aborted?: boolean }) => d.aborted);
    }
    expect(row).toMatchObject({ aborted: true, metrics: ['abuse.wide'] });
    expect(row.rows).toBeLessThan(99_995);
  });
});

describe('audit gaps', () => {
  const actions = async (action: string) =>
    (await ask(`query($a: [AuditAction!]) { auditLog(filter: { actions: $a }, limit: 1000) { entries { target details } } }`, { a: [action] }, admin)).data.auditLog.entries as Array<{ target: string; details: string }>;
  test('metricAggregates behind a named fragment and an inline fragment writes METRICS_QUERIED (HTTP and WebSocket)', async () => {
    const before = (await actions('METRICS_QUERIED')).length;
    const i = { metrics: ['abuse.g'], from: at(0), to: at(10), granularity: 'MINUTE' };
    expect((await ask(`query($i: AggregateQueryInput!) { ...F } fragment F on Query { metricAggregates(input: $i) { nextCursor } }`, { i }, viewer)).errors).toBeUndefined();
    expect((await ask(`query($i: AggregateQueryInput!) { ... on Query { metricAggregates(input: $i) { nextCursor } } }`, { i }, viewer)).errors).toBeUndefined();
    expect((await overWs(viewer, `query($i: AggregateQueryInput!) { ... on Query { ...F } } fragment F on Query { metricAggregates(input: $i) { nextCursor } }`, { i })).errors).toBeUndefined();
    const after = await actions('METRICS_QUERIED');
    expect(after.length - before).toBe(3);
    expect(after.slice(0, 3).map((e) => e.target)).toEqual(['metricAggregates', 'metricAggregates', 'metricAggregates']);
  });

  test('definition create, update and delete each write their row', async () => {
    const created = await ask(`mutation { createMetricDefinition(input: { name: "abuse.audited", formula: "sum(abuse.g)" }) { definition { id } } }`, {}, admin);
    const id = created.data.createMetricDefinition.definition.id;
    await ask(`mutation($id: ID!) { updateMetricDefinition(input: { id: $id, formula: "max(abuse.g)" }) { definition { version } } }`, { id }, admin);
    await ask(`mutation($id: ID!) { deleteMetricDefinition(input: { id: $id }) { id } }`, { id }, admin);
    const rows = [...(await actions('METRIC_DEFINITION_CREATED')), ...(await actions('METRIC_DEFINITION_UPDATED')), ...(await actions('METRIC_DEFINITION_DELETED'))].filter((e) => e.target === id);
    expect(rows.map((e) => JSON.parse(e.details))).toEqual([
      { name: 'abuse.audited', version: 1, formula: 'sum(abuse.g)', visibility: 'TENANT' },
      { name: 'abuse.audited', version: 2, formula: 'max(abuse.g)', visibility: 'TENANT' },
      { name: 'abuse.audited' },
    ]);
  });

  test('the schema owner cannot TRUNCATE audit_log', async () => {
    const { sql } = await import('kysely');
    await expect(sql`truncate audit_log`.execute(app.server.deps.db.kysely)).rejects.toThrow(/append-only/);
  });
});

describe('low: roles, regex anchoring, pages, chunked bodies', () => {
  test('retention is ADMIN only (FORBIDDEN for a VIEWER over HTTP and WebSocket)', async () => {
    expect(codeOf(await ask('{ retention { rawDays } }', {}, viewer))).toBe('FORBIDDEN');
    expect(codeOf(await overWs(viewer, '{ retention { rawDays } }'))).toBe('FORBIDDEN');
    expect((await ask('{ retention { rawDays } }', {}, admin)).errors).toBeUndefined();
  });

  test('a regex matcher that would close the anchoring group is refused, not run unanchored', async () => {
    const response = await ask(`mutation { createMetricDefinition(input: { name: "abuse.escape", formula: "sum(abuse.g{host=~\\"zzz)|(.*\\"})" }) { definition { id } } }`, {}, admin);
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.message).toMatch(/does not compile/);
  });

  test('/, /dashboard and /graphql carry a Content-Security-Policy and X-Frame-Options', async () => {
    for (const path of ['/', '/dashboard', '/graphql']) {
      const response = await fetch(`${app.url}${path}`, { headers: { accept: 'text/html' } });
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    }
  });

  test('a chunked body over MAX_BODY_BYTES is refused with 413', async () => {
    const limit = app.server.deps.env.MAX_BODY_BYTES;
    const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > limit * 2) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer}` }, body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as GraphQLResponse<unknown>).errors![0]!.extensions!.code).toBe('LIMIT_EXCEEDED');
  });
});
