/**
 * Exports: the exact CSV of a known query in both locales, JSON, errors with their status and
 * code, signed links, the audit row, and a million rows streamed in bounded memory.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { graphql } from './gql/index.js';
import { RecordMetrics } from './operations.js';
import { ENGINES, startApp, type TestApp } from './harness.js';
import { formatNumber } from '../src/export.js';
import { rssBytes, startServer, stopServer } from '../bench/servers.js';

const ExportUrl = graphql(`
  query ExportLink($input: AggregateQueryInput!, $format: ExportFormat, $locale: ExportLocale) {
    exportUrl(input: $input, format: $format, locale: $locale) { url expiresAt }
  }
`);
const ExportAudit = graphql(`
  query ExportAudit { auditLog(filter: { actions: [METRICS_EXPORTED, EXPORT_URL_CREATED] }) { entries { action details } } }
`);

test('numbers as each locale writes them', () => {
  expect(formatNumber(1234.56, 'en')).toBe('1234.56');
  expect(formatNumber(1234.56, 'pl')).toBe('1 234,56');
  expect(formatNumber(-1234567.5, 'pl')).toBe('-1 234 567,5');
  expect(formatNumber(999, 'pl')).toBe('999');
  expect(formatNumber(0.25, 'pl')).toBe('0,25');
  expect(formatNumber(1e21, 'pl')).toBe('1e+21');
  expect(formatNumber(null, 'pl')).toBe('');
});

describe.each(ENGINES)('exports on %s', (engine) => {
  let app: TestApp;
  let tenant: { tenantId: string; adminKey: string };
  // Two days back, on an hour: inside every retention, so minutes are answered at minutes.
  const T0 = Math.floor((Date.now() - 2 * 86_400_000) / 3_600_000) * 3_600_000;
  const iso = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
  const input = { metrics: ['orders.value'], from: iso(0), to: iso(120), granularity: 'MINUTE', groupBy: ['shop'] };

  const get = (query: string, token?: string) => fetch(`${app.url}/export?${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    app = await startApp(engine);
    tenant = await app.createTenant();
    const points = [
      { value: 1234.56, shop: 'north', at: iso(10) },
      { value: 100, shop: 'north', at: iso(20) },
      { value: 2000000.5, shop: 'south', at: iso(90) },
    ];
    const result = await app.gql(RecordMetrics, { metrics: points.map((p) => ({ name: 'orders.value', type: 'GAUGE' as const, value: p.value, tags: { shop: p.shop }, timestamp: p.at })) }, tenant.adminKey);
    expect(result.data!.recordMetrics.failed).toEqual([]);
  });
  afterAll(() => app.close());

  test('CSV in en and pl is exact', async () => {
    const en = await get(`query=${encodeURIComponent(JSON.stringify(input))}&format=csv&locale=en`, tenant.adminKey);
    expect(en.status).toBe(200);
    expect(en.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(await en.text()).toBe(
      [
        'metric,tags,start,end,count,sum,min,max,avg,last,rate,p50,p90,p95,p99,value',
        `orders.value,"{""shop"":""north""}",${iso(0)},${iso(60)},2,1334.56,100,1234.56,667.28,100,,` + (await percentiles('north')),
        `orders.value,"{""shop"":""south""}",${iso(60)},${iso(120)},1,2000000.5,2000000.5,2000000.5,2000000.5,2000000.5,,2000000.5,2000000.5,2000000.5,2000000.5,`,
        '',
      ].join('\n'),
    );
    const pl = await (await get(`query=${encodeURIComponent(JSON.stringify(input))}&format=csv&locale=pl`, tenant.adminKey)).text();
    expect(pl.split('\n').slice(0, 1)).toEqual(['metric;tags;start;end;count;sum;min;max;avg;last;rate;p50;p90;p95;p99;value']);
    expect(pl.split('\n')[2]).toBe(`orders.value;"{""shop"":""south""}";${iso(60)};${iso(120)};1;2 000 000,5;2 000 000,5;2 000 000,5;2 000 000,5;2 000 000,5;;2 000 000,5;2 000 000,5;2 000 000,5;2 000 000,5;`);
    expect(pl.split('\n')[1]!.startsWith(`orders.value;"{""shop"":""north""}";${iso(0)};${iso(60)};2;1 334,56;100;1 234,56;667,28;100;;`)).toBe(true);
  });

  /** The north bucket's percentiles as metricAggregates gives them, formatted as in CSV. */
  async function percentiles(shop: string): Promise<string> {
    const result = await app.post<{ metricAggregates: { series: Array<{ tags: { shop: string }; buckets: Array<Record<string, number>> }> } }>(
      { query: 'query($i: AggregateQueryInput!) { metricAggregates(input: $i) { series { tags buckets { p50 p90 p95 p99 } } } }', variables: { i: input } },
      tenant.adminKey,
    );
    const bucket = result.body.data!.metricAggregates.series.find((s) => s.tags.shop === shop)!.buckets[0]!;
    return `${bucket.p50},${bucket.p90},${bucket.p95},${bucket.p99},`;
  }

  test('JSON by POST, with the same input as metricAggregates', async () => {
    const response = await fetch(`${app.url}/export`, { method: 'POST', headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ input, format: 'json' }) });
    expect(response.status).toBe(200);
    const rows = (await response.json()) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.tags, r.start, r.count, r.sum, r.last])).toEqual([
      [{ shop: 'north' }, iso(0), 2, 1334.56, 100],
      [{ shop: 'south' }, iso(60), 1, 2000000.5, 2000000.5],
    ]);
  });

  test('errors have their status and code', async () => {
    const q = encodeURIComponent(JSON.stringify(input));
    const cases: Array<[Promise<Response>, number, string]> = [
      [get(`query=${q}`), 401, 'UNAUTHENTICATED'],
      [get(`query=${q}`, 'mg_wrong'), 401, 'UNAUTHENTICATED'],
      [get(`query=not-json`, tenant.adminKey), 400, 'BAD_USER_INPUT'],
      [get(`query=${encodeURIComponent(JSON.stringify({ ...input, metrics: [] }))}`, tenant.adminKey), 400, 'BAD_USER_INPUT'],
      [get(`query=${q}&format=xml`, tenant.adminKey), 400, 'BAD_USER_INPUT'],
      [get(`query=${encodeURIComponent(JSON.stringify({ ...input, fill: 'PREVIOUS' }))}`, tenant.adminKey), 400, 'BAD_USER_INPUT'],
      [get(`query=${q}&locale=de`, tenant.adminKey), 400, 'BAD_USER_INPUT'],
      [get(`query=${encodeURIComponent(JSON.stringify({ ...input, metrics: ['no.such'] }))}`, tenant.adminKey), 404, 'NOT_FOUND'],
      [fetch(`${app.url}/export`, { method: 'PUT', headers: { authorization: `Bearer ${tenant.adminKey}` } }), 405, 'BAD_USER_INPUT'],
    ];
    for (const [pending, status, code] of cases) {
      const response = await pending;
      expect([response.status, ((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code]).toEqual([status, code]);
    }
  });

  test('rows are counted as series × buckets before any work: past EXPORT_MAX_ROWS the export is refused, naming the limit', async () => {
    // 2 series (shops) × 60 000 minutes = 120 000 rows, over the default 100 000, whatever the fill.
    const wide = { ...input, from: new Date(T0 - 60_000 * 60_000).toISOString(), to: iso(0) };
    for (const fill of ['NONE', 'ZERO']) {
      const refused = await get(`query=${encodeURIComponent(JSON.stringify({ ...wide, fill }))}`, tenant.adminKey);
      const body = (await refused.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
      expect([refused.status, body.errors[0]!.extensions]).toEqual([400, { code: 'LIMIT_EXCEEDED', limit: 100_000, rows: 120_000 }]);
      expect(body.errors[0]!.message).toBe('This export could write 2 series × 60000 buckets of MINUTE = 120000 rows, over the limit of 100000 (EXPORT_MAX_ROWS). Narrow the range, coarsen the granularity or filter by tags.');
    }
    // Within the budget (one shop, 5 000 minutes): with fill ZERO every minute is written once, in order, across its windows.
    const from = new Date(T0 - 5_000 * 60_000).toISOString();
    const north = await get(`query=${encodeURIComponent(JSON.stringify({ ...wide, from, fill: 'ZERO', tags: { shop: 'north' } }))}`, tenant.adminKey);
    expect(north.status).toBe(200);
    const rows = (await north.text()).trimEnd().split('\n').slice(1);
    expect(rows).toHaveLength(5_000);
    const starts = rows.map((row) => Date.parse(row.split(',')[2]!));
    expect(starts.every((start, i) => start === Date.parse(from) + i * 60_000)).toBe(true);
  });

  test('a signed link works without a header, not once tampered with, and both are audited', async () => {
    const link = (await app.send(ExportUrl, { input, format: 'CSV', locale: 'PL' }, tenant.adminKey)).data!.exportUrl;
    expect(new Date(link.expiresAt).getTime() - Date.now()).toBeGreaterThan(250_000);
    expect(link.url.startsWith(`${app.url}/export?`)).toBe(true);
    const response = await fetch(link.url);
    expect(response.status).toBe(200);
    expect((await response.text()).split('\n')[0]).toBe('metric;tags;start;end;count;sum;min;max;avg;last;rate;p50;p90;p95;p99;value');
    const tampered = link.url.replace(/metrics%22%3A%5B%22orders.value/, 'metrics%22%3A%5B%22orders.other');
    expect(tampered).not.toBe(link.url);
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(`${link.url.replace(/tenant=[^&]+/, `tenant=${(await app.createTenant()).tenantId}`)}`)).status).toBe(403);
    const entries = (await app.gql(ExportAudit, {}, tenant.adminKey)).data!.auditLog.entries;
    expect(entries.map((e) => e.action)).toContain('EXPORT_URL_CREATED');
    const details = entries.find((e) => e.action === 'METRICS_EXPORTED')!.details;
    expect(typeof details === 'string' ? JSON.parse(details) : details).toMatchObject({ metrics: ['orders.value'], rows: 2 });
  });

  test.runIf(engine === 'postgres')('a million rows stream in bounded memory', async () => {
    // A second instance on this database, in its own process, with a heap capped below what
    // the export would take if it were held whole (1 000 000 rows: ~90 MB of CSV, several
    // hundred MB as objects): it completes only if the rows are streamed.
    // QUERY_MAX_BUCKETS (default 100 000) bounds an export's range and EXPORT_MAX_ROWS (100 000) its
    // rows; an operator who wants bigger exports raises both.
    const server = await startServer({ DATABASE_URL: app.databaseUrl!, LOG_LEVEL: 'warn', ALERT_EVALUATION_CRON: 'off', QUERY_MAX_BUCKETS: '1000000', EXPORT_MAX_ROWS: '1000000' }, ['--max-old-space-size=160']);
    try {
      // 1 000 000 one-minute buckets (fill ZERO) of one series: ~1.9 years.
      const from = new Date(T0 - 1_000_000 * 60_000).toISOString();
      const big = { metrics: ['orders.value'], from, to: iso(0), granularity: 'MINUTE', fill: 'ZERO', tags: { shop: 'north' } };
      const url = `${server.url}/export?query=${encodeURIComponent(JSON.stringify(big))}`;
      await (await fetch(`${server.url}/export?query=${encodeURIComponent(JSON.stringify(input))}`, { headers: { authorization: `Bearer ${tenant.adminKey}` } })).text();
      const before = rssBytes(server.child.pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.child.pid))), 20);
      const response = await fetch(url, { headers: { authorization: `Bearer ${tenant.adminKey}` } });
      expect(response.status).toBe(200);
      let lines = 0;
      let bytes = 0;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      }
      clearInterval(sampler);
      expect(lines).toBe(1_000_001); // the header and a row a minute
      expect(bytes).toBeGreaterThan(80_000_000);
      expect(server.child.exitCode).toBeNull();
      // Resident memory grew by the heap's slack (garbage awaiting collection), not by the export.
      expect(peak - before).toBeLessThan(192 * 1024 * 1024);
    } finally {
      await stopServer(server.child);
    }
  }, 240_000);
});
