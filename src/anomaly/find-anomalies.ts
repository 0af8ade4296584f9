/**
 * Anomalies of a recorded metric or a metric definition over a range: one read of the range
 * and the weeks of history before it at HOUR or DAY granularity (so from the 1 h and 1 d
 * continuous aggregates, never raw points over weeks), then the seasonal baseline
 * (baseline.ts) per series. Used by metricAnomalies (src/schema/anomalies.ts) and by ANOMALY
 * alert rules (src/alerts/evaluate.ts).
 *
 * Narrow dependencies: a bucket reader (ReadBuckets) that answers as the caller, and a tenant
 * transaction for the budget.
 */
import { sql } from 'kysely';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { combine, type Aggregation } from '../alerts/state.js';
import { filterSql, resolveSeries, type AggregateQuery, type AggregateResult, type Bucket, type TagFilter } from '../query/aggregate.js';
import type { Tags } from '../db/tables.js';
import { DAY_MS, HOUR_MS, judgeSeries, WEEK_MS, type AnomalyPoint } from './baseline.js';

/**
 * Answers an aggregate query as the caller would see it (tenant, role, definitions). The
 * schema and the alert job each pass the service's one bucket reader (aggregate()).
 */
export type ReadBuckets = (query: AggregateQuery, percentiles: boolean) => Promise<AggregateResult>;

export const ANOMALY_GRANULARITIES = { HOUR: HOUR_MS, DAY: DAY_MS } as const;
export type AnomalyGranularity = keyof typeof ANOMALY_GRANULARITIES;

export interface AnomalyRequest {
  metric: string;
  tags: Tags;
  filters: TagFilter[];
  groupBy: string[];
  from: Date;
  to: Date;
  granularity: AnomalyGranularity;
  /** Null: SUM for a COUNTER, AVG otherwise; a definition's value whatever it is. */
  aggregation: Aggregation | null;
  threshold: number;
  historyWeeks: number;
  minHistoryMs: number;
}

export interface AnomalySeries {
  metric: string;
  tags: Tags;
  state: 'LEARNING' | 'READY';
  points: AnomalyPoint[];
}

const PERCENTILES = new Set<Aggregation>(['P50', 'P90', 'P95', 'P99']);

/**
 * The judged buckets of a request: `from` rounded down to a bucket, `to` rounded up, and
 * never a bucket that has not ended by `now` (a part of an hour's sum would read as a dip).
 */
export function judgedRange(request: Pick<AnomalyRequest, 'from' | 'to' | 'granularity'>, now: Date): { from: number; to: number; buckets: number } {
  const width = ANOMALY_GRANULARITIES[request.granularity];
  const from = Math.floor(request.from.getTime() / width) * width;
  const to = Math.min(Math.ceil(request.to.getTime() / width) * width, Math.floor(now.getTime() / width) * width);
  return { from, to, buckets: Math.max(0, (to - from) / width) };
}

/** Cells (series × buckets) a request reads: its series, over the history and the judged range. */
export function cellsOf(series: number, request: Pick<AnomalyRequest, 'granularity' | 'historyWeeks'>, judgedBuckets: number): number {
  return series * ((request.historyWeeks * WEEK_MS) / ANOMALY_GRANULARITIES[request.granularity] + judgedBuckets);
}

/**
 * How many series a request reads, counted on the ordinary tables before any bucket is read:
 * a recorded metric's series matching the tags and filters, or for a definition those of
 * every metric it reads (an upper bound: its own matchers may narrow them). NOT_FOUND for a
 * name that is neither.
 */
export async function seriesToRead(trx: TenantTx, request: Pick<AnomalyRequest, 'metric' | 'tags' | 'filters'>, definition: { metrics: string[]; filters: TagFilter[] } | undefined): Promise<number> {
  if (!definition) return (await resolveSeries(trx, { metrics: [request.metric], tags: request.tags, filters: request.filters })).series.length;
  let select = trx
    .selectFrom('series as s')
    .innerJoin('metrics as m', 'm.id', 's.metric_id')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('m.name', 'in', definition.metrics.length > 0 ? definition.metrics : ['']);
  if (Object.keys(request.tags).length > 0) select = select.where(sql<boolean>`s.tags @> ${JSON.stringify(request.tags)}::jsonb`);
  for (const filter of [...definition.filters, ...request.filters]) select = select.where(filterSql(filter));
  return (await select.executeTakeFirstOrThrow()).n;
}

/** Refuses a request over `maxCells` before it reads anything. */
export function checkBudget(series: number, request: AnomalyRequest, judgedBuckets: number, maxCells: number): void {
  const cells = cellsOf(series, request, judgedBuckets);
  if (cells > maxCells) {
    throw userError(
      'LIMIT_EXCEEDED',
      'anomaly.overCells', { series, buckets: cells / Math.max(series, 1), weeks: request.historyWeeks, limit: maxCells },
      { limit: maxCells },
    );
  }
}

/** The value a bucket stands for: a definition's value, else the aggregation (0 for an empty COUNTER bucket's SUM). */
function valueOf(bucket: Bucket, aggregation: Aggregation, widthSeconds: number): number | null {
  if (bucket.value !== undefined) return bucket.value;
  return combine([bucket], aggregation, widthSeconds);
}

/**
 * Reads [from − historyWeeks, to) once and judges [from, to) per series.
 *
 *   findAnomalies(read, { metric: 'http.requests', granularity: 'HOUR', from, to, historyWeeks: 4, … }, now)
 *   → { series: [{ tags: { route: '/login' }, state: 'READY', points: [{ start, value: 812, expected: 640, lower: 520, upper: 760, score: 6.4, anomaly: true }, …] }] }
 */
export async function findAnomalies(read: ReadBuckets, request: AnomalyRequest, now: Date): Promise<{ series: AnomalySeries[]; sources: string[] }> {
  const width = ANOMALY_GRANULARITIES[request.granularity];
  const range = judgedRange(request, now);
  const historyFrom = range.from - request.historyWeeks * WEEK_MS;
  const percentiles = request.aggregation !== null && PERCENTILES.has(request.aggregation);
  const result = await read(
    { metrics: [request.metric], from: new Date(historyFrom), to: new Date(range.to), granularity: request.granularity, tags: request.tags, filters: request.filters, groupBy: request.groupBy, fill: 'NULL' },
    percentiles,
  );
  const series = result.series.map((s): AnomalySeries => {
    const aggregation = request.aggregation ?? (s.type === 'COUNTER' ? 'SUM' : 'AVG');
    const values = new Map<number, number>();
    // History starts at the first bucket with points: before it an empty COUNTER bucket is
    // "no history", not a zero.
    let started = false;
    for (const bucket of s.buckets) {
      started ||= bucket.count > 0 || (bucket.value !== undefined && bucket.value !== null);
      if (!started) continue;
      const value = valueOf(bucket, aggregation, width / 1000);
      if (value !== null) values.set(bucket.start.getTime(), value);
    }
    const verdict = judgeSeries(values, range.from, range.to, { widthMs: width, historyWeeks: request.historyWeeks, threshold: request.threshold, minHistoryMs: request.minHistoryMs });
    return { metric: s.metric, tags: s.tags, ...verdict };
  });
  return { series, sources: result.sources };
}
