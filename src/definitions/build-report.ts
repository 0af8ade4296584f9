/**
 * metricReport: per calendar period (day, week from Monday, month; in UTC or a time zone) the
 * count, sum, avg, min, max and p95 of a recorded metric, or the value of a definition, with
 * growth against the previous period.
 *
 * Sources, per period: report rollups where the period is rolled up (UTC periods only: they
 * are keyed by UTC periods), else the continuous aggregates at the coarsest level that fits
 * the period's edges (1d for UTC days, 1h in most zones), else raw points.
 */
import { sql } from 'kysely';
import type { MetricType, Tags } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import { DAY, planSegments } from '../query/plan.js';
import { avoidLatePointsInBuckets } from '../query/invalidations.js';
import { periodBounds, subBounds, type CalendarPeriod } from './calendar.js';
import type { CheckedFormula } from './check-formula.js';
import { checkStored } from './evaluate-definition.js';
import { evaluateFormula, type FormulaGroup } from './evaluate-formula.js';
import { boundedBuckets, describe, mergeSegments, quantileSql, statsSql, type Selection, type Source } from '../query/read-buckets.js';
import { rolledPeriods } from './roll-up-reports.js';
import type { LoadedDefinition } from './store-definitions.js';

/** The most periods one report covers (about 2.7 years of days). */
export const MAX_REPORT_PERIODS = 1_000;

export interface ReportInput {
  metric: string;
  period: CalendarPeriod;
  from: Date;
  to: Date;
  groupBy: string[];
  tags: Tags;
  timeZone: string;
}

export interface ReportRow {
  start: Date;
  end: Date;
  /** Points (recorded metric) or sub-periods with a value (definition). */
  count: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  p95: number | null;
  /** What growth compares: the increase for a COUNTER, the average for other types, the formula for a definition. */
  value: number | null;
  /** % change of `value` against the previous period; null when either is null or the previous is 0. */
  growth: number | null;
}

export interface Report {
  metric: string;
  type: MetricType | null;
  definition: { name: string; version: number } | null;
  unit: string | null;
  period: CalendarPeriod;
  timeZone: string;
  groups: Array<{ tags: Tags; rows: ReportRow[] }>;
  sources: string[];
}

export interface ReportOptions {
  timescale: boolean;
  maxCost: number;
  limits: { maxCells: number };
}

export function growth(previous: number | null | undefined, current: number | null): number | null {
  if (previous === null || previous === undefined || current === null || previous === 0) return null;
  return ((current - previous) / Math.abs(previous)) * 100;
}

/** The report's periods: whole periods covering [from, to) and the one before them. */
function bounds(input: ReportInput): number[] {
  try {
    return periodBounds(input.period, input.from.getTime(), input.to.getTime(), input.timeZone, { withPrevious: true, maxPeriods: MAX_REPORT_PERIODS });
  } catch (error) {
    if (error instanceof RangeError) {
      throw userError('LIMIT_EXCEEDED', 'report.tooManyPeriods', { max: MAX_REPORT_PERIODS }, { limit: MAX_REPORT_PERIODS });
    }
    throw error;
  }
}

/**
 * Sources for the buckets between `bounds`: a period recorded in report_rollup_periods is read
 * from its rollup; every other one is planned as metricAggregates plans a range.
 */
export async function reportSources(trx: TenantTx, period: CalendarPeriod, bounds: number[], timeZone: string, timescale: boolean): Promise<Source[]> {
  let rolled = new Set<number>();
  if (timeZone === 'UTC' && rolledPeriods(timescale).includes(period)) {
    const rows = await trx
      .selectFrom('report_rollup_periods')
      .select('start')
      .where('period', '=', period)
      .where('start', '>=', new Date(bounds[0]!))
      .where('start', '<', new Date(bounds.at(-1)!))
      .execute();
    rolled = new Set(rows.map((r) => new Date(r.start).getTime()));
  }
  const sources: Source[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const from = new Date(bounds[i]!);
    const to = new Date(bounds[i + 1]!);
    if (rolled.has(from.getTime())) sources.push({ source: 'rollup', period, from, to });
    else sources.push(...planSegments(from, to, DAY, timescale));
  }
  return mergeSegments(sources);
}

/** percentile_cont over values in memory (a definition's sub-period values). */
function percentileCont(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  const low = sorted[Math.floor(rank)]!;
  return low + (rank - Math.floor(rank)) * (sorted[Math.ceil(rank)]! - low);
}

function withGrowth(rows: Omit<ReportRow, 'growth'>[]): ReportRow[] {
  // rows[0] is the period before the report's first: it only serves the first growth.
  return rows.slice(1).map((row, i) => ({ ...row, growth: growth(rows[i]!.value, row.value) }));
}

interface ReportStatsRow {
  grp: number;
  b: number;
  n: number;
  s: number | null;
  mn: number | null;
  mx: number | null;
  p95: number | null;
}

/** A recorded metric's report: stats and p95 per group and period in one statement. */
export async function metricReport(trx: TenantTx, input: ReportInput, options: ReportOptions): Promise<Report> {
  const metric = await trx.selectFrom('metrics').select(['id', 'name', 'type', 'unit']).where('name', '=', input.metric).executeTakeFirst();
  if (!metric) throw userError('NOT_FOUND', 'metric.notFound', { metric: input.metric }, { metric: input.metric });
  const periodBoundsMs = bounds(input);
  const bucketing = boundedBuckets(periodBoundsMs);
  let series = trx.selectFrom('series as s').select(['s.id', 's.tags']).where('s.metric_id', '=', metric.id);
  if (Object.keys(input.tags).length > 0) series = series.where(sql<boolean>`s.tags @> ${JSON.stringify(input.tags)}::jsonb`);
  const rows = (await series.execute()) as Array<{ id: number; tags: Tags }>;
  const cells = rows.length * bucketing.starts.length;
  if (cells > options.limits.maxCells) {
    throw userError('LIMIT_EXCEEDED', 'report.overCells', { series: rows.length, periods: bucketing.starts.length, limit: options.limits.maxCells }, {
      limit: options.limits.maxCells,
    });
  }

  const groups: Array<{ key: string; tags: Tags }> = [];
  const groupIndex = new Map<string, number>();
  const selection: Selection = { ids: [], grps: [] };
  for (const row of rows) {
    const tags: Tags = {};
    for (const key of input.groupBy) if (row.tags[key] !== undefined) tags[key] = row.tags[key];
    const key = JSON.stringify(input.groupBy.map((k) => tags[k] ?? null));
    let index = groupIndex.get(key);
    if (index === undefined) {
      index = groups.length;
      groupIndex.set(key, index);
      groups.push({ key, tags });
    }
    selection.ids.push(row.id);
    selection.grps.push(index);
  }

  // [late points, #12b] Ranges with late points not yet in the aggregates or rollups are read from raw points.
  const sources: Source[] = await avoidLatePointsInBuckets(trx, await reportSources(trx, input.period, periodBoundsMs, input.timeZone, options.timescale), selection.ids, bucketing, options.timescale);
  const found = new Map<string, ReportStatsRow>();
  if (selection.ids.length > 0 && sources.length > 0) {
    // The CTE names are fixed; quantileSql joins its percentile to the same stats rows.
    const { rows: stats } = await sql<ReportStatsRow>`
      with st as (${statsSql(sources, bucketing, selection)}),
           q as (${quantileSql(sources, bucketing, selection, 0.95, sql`st`)})
      select st.grp, st.b, st.n, st.s, st.mn, st.mx, q.v as p95
      from st left join q on q.grp = st.grp and q.b = st.b`.execute(trx);
    for (const row of stats) found.set(`${row.grp}:${bucketing.index(row.b)}`, row);
  }

  const counter = metric.type === 'COUNTER';
  return {
    metric: metric.name,
    type: metric.type,
    definition: null,
    unit: metric.unit,
    period: input.period,
    timeZone: input.timeZone,
    groups: groups
      .map((g, index) => ({ ...g, index }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((g) => ({
        tags: g.tags,
        rows: withGrowth(
          bucketing.starts.map((start, i) => {
            const row = found.get(`${g.index}:${i}`);
            const n = row ? Number(row.n) : 0;
            const sum = row && n > 0 ? Number(row.s) : null;
            const avg = sum !== null ? sum / n : null;
            return {
              start: new Date(start),
              end: new Date(bucketing.ends[i]!),
              count: n,
              sum,
              avg,
              min: row?.mn ?? null,
              max: row?.mx ?? null,
              p95: row?.p95 ?? null,
              value: counter ? sum : avg,
            };
          }),
        ),
      })),
    sources: describe(sources, ['stats', 'sketch']),
  };
}

/**
 * A definition's report: `value` is the formula over the whole period (a ratio of the
 * period's sums, not an average of daily ratios); count, sum, avg, min, max and p95 summarise
 * its values per hour (DAY periods) or per local day (WEEK, MONTH).
 */
export async function definitionReport(trx: TenantTx, definition: LoadedDefinition, input: ReportInput, options: ReportOptions): Promise<Report> {
  const formula: CheckedFormula = await checkStored(trx, definition);
  const periodBoundsMs = bounds(input);
  const groupBy = input.groupBy.length > 0 ? input.groupBy : definition.groupBy;
  const query = { tags: input.tags, filters: definition.filters, groupBy };

  const periods = boundedBuckets(periodBoundsMs);
  const periodSources = await reportSources(trx, input.period, periodBoundsMs, input.timeZone, options.timescale);
  const whole = await evaluateFormula(trx, formula, { ...query, bucketing: periods }, { ...options, sources: () => periodSources });

  // Local days inside weeks and months read the daily rollups where they exist; hours are planned like any range.
  const subBoundsMs = subBounds(input.period, periodBoundsMs, input.timeZone);
  const parts = boundedBuckets(subBoundsMs);
  const partSources = input.period === 'DAY' ? parts.plan(options.timescale) : await reportSources(trx, 'DAY', subBoundsMs, input.timeZone, options.timescale);
  const split = await evaluateFormula(trx, formula, { ...query, bucketing: parts }, { ...options, sources: () => partSources });

  // Groups by their tags, from both evaluations (a group may have values in only one).
  const key = (tags: Tags) => JSON.stringify(groupBy.map((k) => tags[k] ?? null));
  const byKey = new Map<string, { tags: Tags; whole?: FormulaGroup; split?: FormulaGroup }>();
  for (const g of whole.groups) byKey.set(key(g.tags), { tags: g.tags, whole: g });
  for (const g of split.groups) byKey.set(key(g.tags), { ...(byKey.get(key(g.tags)) ?? { tags: g.tags }), split: g });

  // Sub-periods nest in periods: the period of each, by one walk over both.
  const periodOf: number[] = [];
  for (let i = 0, p = 0; i < parts.starts.length; i++) {
    while (p + 1 < periods.starts.length && periods.starts[p + 1]! <= parts.starts[i]!) p++;
    periodOf.push(p);
  }
  return {
    metric: definition.name,
    type: null,
    definition: { name: definition.name, version: definition.version },
    unit: definition.unit,
    period: input.period,
    timeZone: input.timeZone,
    groups: [...byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, g]) => {
        const values = periods.starts.map(() => [] as number[]);
        for (const v of g.split?.values ?? []) if (v.value !== null) values[periodOf[v.index]!]!.push(v.value);
        const wholeValue = new Map((g.whole?.values ?? []).map((v) => [v.index, v.value]));
        return {
          tags: g.tags,
          rows: withGrowth(
            periods.starts.map((start, i) => {
              const vs = values[i]!;
              const sum = vs.length > 0 ? vs.reduce((a, b) => a + b, 0) : null;
              return {
                start: new Date(start),
                end: new Date(periods.ends[i]!),
                count: vs.length,
                sum,
                avg: sum !== null ? sum / vs.length : null,
                min: vs.length > 0 ? Math.min(...vs) : null,
                max: vs.length > 0 ? Math.max(...vs) : null,
                p95: percentileCont(vs, 0.95),
                value: wholeValue.get(i) ?? null,
              };
            }),
          ),
        };
      }),
    sources: [...new Set([...whole.sources, ...split.sources])],
  };
}
