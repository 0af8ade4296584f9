/**
 * Tag-group levels (migrations/0076, src/query/group-levels.ts): which questions read whole tag
 * groups, and, on the embedded TimescaleDB, that an answer read from them is exactly the answer
 * read from the series — counts, sums, min, max, last exact, percentiles within α — including
 * series without the tag, a late point before and after the late-points job, and another
 * tenant writing the same metric name and tag values.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sql } from 'kysely';
import { analyzeChanged } from '../src/ops/statistics.js';
import { groupKeyOf, groupReading } from '../src/query/group-levels.js';
import { addCells, keptQuantiles, KEPT_QUANTILES, quantiles, type Cells } from '../src/query/sketch.js';
import { startApp, type TestApp } from './harness.js';
import { RecordMetrics } from './operations.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
const ALPHA = (2 ** (1 / 64) - 1) / (2 ** (1 / 64) + 1);

describe('which questions read whole tag groups', () => {
  const q = (groupBy: string[], tags: Record<string, string> = {}, filters: Array<Record<string, unknown>> = []) => ({ groupBy, tags, filters: filters as never });
  test.each([
    [q([]), ''],
    [q(['region']), 'region'],
    [q([], { region: 'eu' }), 'region'],
    [q(['region'], {}, [{ key: 'region', in: ['eu', 'us'] }]), 'region'],
    [q([], {}, [{ key: 'region', notEquals: 'eu' }]), 'region'],
    [q(['region'], { host: 'a' }), null],
    [q(['region'], {}, [{ key: 'host', equals: 'a' }]), null],
    [q(['region', 'host']), null],
  ])('%j → %j', (query, key) => expect(groupKeyOf(query)).toBe(key));

  test('series with the key become one stand-in per (metric, value) in its answer group; series without it stay series', () => {
    const series: Array<{ id: number; metricId: number; tags: Record<string, string> }> = [
      { id: 11, metricId: 1, tags: { region: 'eu', host: 'a' } },
      { id: 12, metricId: 1, tags: { region: 'eu', host: 'b' } },
      { id: 13, metricId: 1, tags: { region: 'us', host: 'c' } },
      { id: 14, metricId: 1, tags: { host: 'd' } },
      { id: 21, metricId: 2, tags: { region: 'eu' } },
    ];
    const read = groupReading(q(['region']), series, [0, 0, 1, 2, 3])!;
    expect(read.reading).toEqual({ key: 'region', metricIds: [1, 1, 2], values: ['eu', 'us', 'eu'], gids: [-1, -2, -3], series: [11, 12, 13, 14, 21], ungrouped: [14] });
    expect([read.ids, read.grps]).toEqual([[-1, -2, -3], [0, 1, 3]]);
    const whole = groupReading(q([]), series.slice(0, 4), [0, 0, 0, 0])!;
    expect(whole.reading).toMatchObject({ key: '', metricIds: [1], values: [''], gids: [-1], ungrouped: [] });
    expect(groupReading(q(['region'], { host: 'a' }), series, [0, 0, 0, 0, 0])).toBeNull();
  });
});

const QUERY = `query($input: AggregateQueryInput!) { metricAggregates(input: $input) {
  series { tags buckets { start count sum min max last p50 p99 } } metadata { sources } } }`;
type Bucket = { start: string; count: number; sum: number; min: number; max: number; last: number; p50: number; p99: number };
type Answer = { series: Array<{ tags: Record<string, string>; buckets: Bucket[] }>; metadata: { sources: string[] } };

/** Series of the test: minute offsets differ per series, so `last` of a group is one point. */
const SERIES: Array<{ tags: Record<string, string>; base: number; minute: number }> = [
  { tags: { region: 'eu', host: 'a' }, base: 10, minute: 5 },
  { tags: { region: 'eu', host: 'b' }, base: 20, minute: 6 },
  { tags: { region: 'us', host: 'c' }, base: 30, minute: 7 },
  { tags: { host: 'd' }, base: 40, minute: 8 },
];

describe('tag-group levels on the embedded TimescaleDB', () => {
  let app: TestApp;
  let key = '';
  let tenantId = '';
  let other = '';
  /** Midnight UTC three days back: two whole days of points behind every watermark. */
  let D0 = 0;
  const points: Array<{ tags: Record<string, string>; value: number; time: number }> = [];

  const query = async (token: string, input: Record<string, unknown>): Promise<Answer> => {
    const answer = await app.gql<{ metricAggregates: Answer }, unknown>(QUERY, { input }, token);
    expect(answer.errors).toBeUndefined();
    return answer.data!.metricAggregates;
  };
  /** The exact figures of `values` (in time order), as a bucket holds them. */
  const exact = (values: number[]) => ({ count: values.length, sum: values.reduce((a, b) => a + b, 0), min: Math.min(...values), max: Math.max(...values), last: values.at(-1) });
  const within = (value: number, values: number[], q: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    const r = q * (sorted.length - 1);
    const lo = sorted[Math.floor(r)]!;
    const hi = sorted[Math.ceil(r)]!;
    expect(Math.abs(value - (lo + (r - Math.floor(r)) * (hi - lo)))).toBeLessThanOrEqual(ALPHA * Math.max(Math.abs(lo), Math.abs(hi)) * (1 + 1e-9));
  };
  const of = (match: (p: (typeof points)[number]) => boolean, from: number, to: number) =>
    points.filter((p) => match(p) && p.time >= from && p.time < to).sort((a, b) => a.time - b.time).map((p) => p.value);

  beforeAll(async () => {
    D0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
    app = await startApp('embedded', { QUERY_CACHE_SIZE: '0' });
    ({ adminKey: key, tenantId } = await app.createTenant('groups'));
    other = (await app.createTenant('groups-other')).adminKey;
    for (let h = 0; h < 48; h++) {
      for (const s of SERIES) for (let k = 0; k < 3; k++) points.push({ tags: s.tags, value: s.base + h + k, time: D0 + h * HOUR + (s.minute + 10 * k) * MINUTE });
    }
    for (let i = 0; i < points.length; i += 500) {
      const batch = points.slice(i, i + 500).map((p) => ({ name: 'g.latency', type: 'HISTOGRAM', value: p.value, tags: p.tags, timestamp: iso(p.time) }));
      const answer = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: batch }, key);
      expect(answer.data?.recordMetrics.accepted).toBe(batch.length);
    }
    // Two series with a point at the same time: `last` is the larger, from groups or series alike.
    const tie = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: [2, 9, 4].map((value, i) => ({ name: 'g.tie', type: 'GAUGE', value, tags: { region: 'eu', host: `t${i}` }, timestamp: iso(D0 + 2 * HOUR + 50 * MINUTE) })) }, key);
    expect(tie.data?.recordMetrics.accepted).toBe(3);
    // Many distinct cells per group row, repeated values, a heavy tail and negatives: what the
    // kept quantile ranks (migrations/0091) must give exactly as merging the cells does.
    const spread = [];
    for (let h = 0; h < 3; h++) {
      for (let i = 0; i < 150; i++) {
        const value = i % 7 === 0 ? -(i + 1) : i % 5 === 0 ? 42 : Math.exp((i % 37) / 6) * (1 + h);
        spread.push({ name: 'g.spread', type: 'HISTOGRAM', value, tags: { region: i % 2 ? 'eu' : 'us', host: `s${i % 3}` }, timestamp: iso(D0 + h * HOUR + (i % 60) * MINUTE + i * 100) });
      }
    }
    const spreadAnswer = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: spread }, key);
    expect(spreadAnswer.data?.recordMetrics.accepted).toBe(spread.length);
    // The other tenant: the same metric name and tag values, one point of 5.
    const theirs = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: [{ name: 'g.latency', type: 'HISTOGRAM', value: 5, tags: { region: 'eu', host: 'a' }, timestamp: iso(D0 + HOUR + 30 * MINUTE) }] }, other);
    expect(theirs.data?.recordMetrics.accepted).toBe(1);
    await app.server.deps.aggregates.refreshAll();
    await app.takeInLatePoints();
  }, 180_000);
  afterAll(() => app?.close());

  test('by region per hour: each region from its group rows, the series without a region from its own, every figure exact', async () => {
    const answer = await query(key, { metrics: ['g.latency'], from: iso(D0), to: iso(D0 + 48 * HOUR), granularity: 'HOUR', groupBy: ['region'] });
    expect(answer.metadata.sources.sort()).toEqual(['group_sketch_1h', 'group_stats_1h', 'sketch_1h', 'stats_1h']);
    expect(answer.series.map((s) => s.tags)).toEqual([{ region: 'eu' }, { region: 'us' }, {}]);
    const groups = [(p: (typeof points)[number]) => p.tags.region === 'eu', (p: (typeof points)[number]) => p.tags.region === 'us', (p: (typeof points)[number]) => p.tags.region === undefined];
    answer.series.forEach((series, g) => {
      expect(series.buckets).toHaveLength(48);
      series.buckets.forEach((bucket, h) => {
        const values = of(groups[g]!, D0 + h * HOUR, D0 + (h + 1) * HOUR);
        expect({ count: bucket.count, sum: bucket.sum, min: bucket.min, max: bucket.max, last: bucket.last }).toEqual(exact(values));
        within(bucket.p50, values, 0.5);
        within(bucket.p99, values, 0.99);
      });
    });
    // The other tenant's point of 5 in eu's second hour is not here.
    expect(answer.series[0]!.buckets[1]!.min).toBe(11);
  });

  test('region = eu per day: the daily group rows; no tag at all: the whole metric as one group', async () => {
    const eu = await query(key, { metrics: ['g.latency'], from: iso(D0), to: iso(D0 + 2 * DAY), granularity: 'DAY', tags: { region: 'eu' } });
    expect(eu.metadata.sources.sort()).toEqual(['group_sketch_1d', 'group_stats_1d']);
    eu.series[0]!.buckets.forEach((bucket, d) => {
      const values = of((p) => p.tags.region === 'eu', D0 + d * DAY, D0 + (d + 1) * DAY);
      expect({ count: bucket.count, sum: bucket.sum, min: bucket.min, max: bucket.max, last: bucket.last }).toEqual(exact(values));
      within(bucket.p50, values, 0.5);
    });
    const all = await query(key, { metrics: ['g.latency'], from: iso(D0), to: iso(D0 + 2 * DAY), granularity: 'HOUR' });
    expect(all.metadata.sources.sort()).toEqual(['group_sketch_1h', 'group_stats_1h']);
    all.series[0]!.buckets.forEach((bucket, h) => {
      expect(bucket.count).toBe(12);
      expect(bucket.sum).toBe(exact(of(() => true, D0 + h * HOUR, D0 + (h + 1) * HOUR)).sum);
    });
  });

  test('points of different series at the same time: last is the largest, read from the group rows or from the series', async () => {
    const input = { metrics: ['g.tie'], from: iso(D0), to: iso(D0 + DAY), groupBy: ['region'] };
    const hourly = await query(key, { ...input, granularity: 'HOUR' });
    expect(hourly.metadata.sources).toContain('group_stats_1h');
    const minutes = await query(key, { ...input, granularity: 'MINUTE' });
    expect(minutes.metadata.sources).not.toContain('group_stats_1h');
    expect([hourly, minutes].map((a) => a.series[0]!.buckets.map((b) => [b.count, b.last]))).toEqual([[[3, 9]], [[3, 9]]]);
  });

  test('a question that cuts through a group (host = a, by region) reads the series, not the groups', async () => {
    const answer = await query(key, { metrics: ['g.latency'], from: iso(D0), to: iso(D0 + DAY), granularity: 'HOUR', groupBy: ['region'], tags: { host: 'a' } });
    expect(answer.metadata.sources.sort()).toEqual(['sketch_1h', 'stats_1h']);
    expect(answer.series.map((s) => s.tags)).toEqual([{ region: 'eu' }]);
    expect(answer.series[0]!.buckets[0]).toMatchObject({ count: 3, sum: 10 + 11 + 12, min: 10, max: 12 });
  });

  test('a late point is in the next answer (raw for its hour), and in the group rows once the late-points job has run', async () => {
    const at = D0 + 30 * HOUR + 40 * MINUTE;
    const late = await app.gql<{ recordMetrics: { accepted: number } }, unknown>(RecordMetrics, { metrics: [{ name: 'g.latency', type: 'HISTOGRAM', value: 1000, tags: { region: 'eu', host: 'a' }, timestamp: iso(at) }] }, key);
    expect(late.data?.recordMetrics.accepted).toBe(1);
    points.push({ tags: { region: 'eu', host: 'a' }, value: 1000, time: at });
    const input = { metrics: ['g.latency'], from: iso(D0 + 29 * HOUR), to: iso(D0 + 32 * HOUR), granularity: 'HOUR', groupBy: ['region'] };
    const expected = (h: number) => exact(of((p) => p.tags.region === 'eu', D0 + h * HOUR, D0 + (h + 1) * HOUR));
    const before = await query(key, input);
    expect(before.metadata.sources).toContain('raw');
    expect(before.series[0]!.buckets.map(({ count, sum, min, max, last }) => ({ count, sum, min, max, last }))).toEqual([29, 30, 31].map(expected));
    expect(before.series[0]!.buckets[1]).toMatchObject({ count: 7, max: 1000, last: 1000 });

    await app.takeInLatePoints();
    const after = await query(key, input);
    expect(after.metadata.sources).not.toContain('raw');
    expect(after.metadata.sources).toContain('group_stats_1h');
    expect(after.series[0]!.buckets.map(({ count, sum, min, max, last }) => ({ count, sum, min, max, last }))).toEqual([29, 30, 31].map(expected));
    const day = await query(key, { ...input, from: iso(D0 + DAY), to: iso(D0 + 2 * DAY), granularity: 'DAY' });
    expect(day.metadata.sources).toContain('group_stats_1d');
    expect(day.series[0]!.buckets[0]).toMatchObject({ count: 145, max: 1000 });
  });

  test('no autovacuum in PGlite: after a refresh every table and chunk has statistics, and a second pass finds nothing to do', async () => {
    const kysely = app.server.deps.db.kysely;
    const unanalyzed = () =>
      sql<{ n: number }>`
        select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r' and n.nspname = '_timescaledb_internal' and c.reltuples < 0
          and not exists (select from _timescaledb_catalog.hypertable h where h.schema_name = n.nspname and h.table_name = c.relname)`.execute(kysely);
    await app.server.deps.aggregates.refreshAll();
    expect((await unanalyzed()).rows[0]!.n).toBe(0);
    expect(await analyzeChanged(kysely)).toBe(0);
    // A chunk grown past twice its analyzed pages is analyzed again.
    const { rows } = await sql<{ name: string; pages: number }>`
      select format('%I.%I', n.nspname, c.relname) as name, c.relpages as pages from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = '_timescaledb_internal' and c.relkind = 'r' and c.relpages > 1 order by c.relpages desc limit 1`.execute(kysely);
    // As if it had been analyzed when empty (pg_class is what the job compares the size with).
    await sql`update pg_class set relpages = 0, reltuples = 0 where oid = ${rows[0]!.name}::regclass`.execute(kysely);
    expect(await analyzeChanged(kysely)).toBe(1);
    const after = await sql<{ pages: number; size: number }>`
      select relpages as pages, (pg_relation_size(oid) / current_setting('block_size')::int)::int as size from pg_class where oid = ${rows[0]!.name}::regclass`.execute(kysely);
    expect(after.rows[0]!.pages).toBe(after.rows[0]!.size);
  });

  test('kept quantile ranks of every group row give exactly the quantiles of its merged cells; the API answers from them', async () => {
    const kysely = app.server.deps.db.kysely;
    const rowsOf = async (level: '1h' | '1d') =>
      (
        await sql<{ metric_id: string; key: string; value: string; bucket: Date; ks: number[]; ws: number[] | null; qr: number[]; mn: number; mx: number }>`
          select k.metric_id, k.key, k.value, k.bucket, k.ks, k.ws, k.qr, s.mn, s.mx
          from ${sql.table(`group_sketch_${level}`)} k join ${sql.table(`group_stats_${level}`)} s using (tenant_id, metric_id, key, value, bucket)`.execute(kysely)
      ).rows;
    const merged = (row: { ks: number[]; ws: number[] | null; mn: number; mx: number }) => {
      const cells: Cells = new Map();
      addCells(cells, row.ks, row.ws);
      return quantiles({ cells, min: row.mn, max: row.mx }, KEPT_QUANTILES);
    };
    let wide = 0;
    for (const level of ['1h', '1d'] as const) {
      for (const row of await rowsOf(level)) {
        if (row.ks.length > 20) wide++;
        expect(keptQuantiles(row.qr, { min: row.mn, max: row.mx }, KEPT_QUANTILES), `${level} ${row.key}=${row.value} ${row.bucket.toISOString()}`).toEqual(merged(row));
      }
    }
    expect(wide).toBeGreaterThan(0);

    // By region per hour: each region is one group row per hour, answered from its kept ranks.
    const answer = await query(key, { metrics: ['g.spread'], from: iso(D0), to: iso(D0 + 3 * HOUR), granularity: 'HOUR', groupBy: ['region'] });
    expect(answer.metadata.sources.sort()).toEqual(['group_sketch_1h', 'group_stats_1h']);
    const spread = await kysely.selectFrom('metrics').select('id').where('tenant_id', '=', tenantId).where('name', '=', 'g.spread').executeTakeFirstOrThrow();
    const rows = (await rowsOf('1h')).filter((r) => r.key === 'region' && Number(r.metric_id) === Number(spread.id));
    for (const series of answer.series) {
      expect(series.buckets).toHaveLength(3);
      for (const bucket of series.buckets) {
        const row = rows.find((r) => r.value === series.tags.region && r.bucket.toISOString() === bucket.start)!;
        expect([bucket.min, bucket.max]).toEqual([row.mn, row.mx]);
        const [p50, , , p99] = merged(row);
        expect([bucket.p50, bucket.p99]).toEqual([p50, p99]);
      }
    }
  });

  test("the other tenant's groups hold its own point only", async () => {
    const answer = await query(other, { metrics: ['g.latency'], from: iso(D0), to: iso(D0 + 2 * DAY), granularity: 'HOUR', groupBy: ['region'] });
    expect(answer.metadata.sources).toContain('group_stats_1h');
    expect(answer.series.map((s) => [s.tags, s.buckets.map((b) => [b.start, b.count, b.sum])])).toEqual([[{ region: 'eu' }, [[iso(D0 + HOUR), 1, 5]]]]);
  });
});
