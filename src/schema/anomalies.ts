/**
 * metricAnomalies: declarations only; the work is in src/anomaly/.
 */
import { z } from 'zod';
import { builder } from '../builder.js';
import { answerQuery } from '../query/answer-query.js';
import { readTx, requireTenant, type Context } from '../context.js';
import { findDefinitions, readerOf } from '../definitions/store-definitions.js';
import { userError } from '../errors.js';
import { validated } from './validated.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import { AGGREGATIONS } from '../alerts/state.js';
import { DAY_MS, SENSITIVITIES, type AnomalyPoint } from '../anomaly/baseline.js';
import { ANOMALY_GRANULARITIES, checkBudget, findAnomalies, judgedRange, seriesToRead, type AnomalySeries, type ReadBuckets } from '../anomaly/find-anomalies.js';
import { filterSchema, GranularityEnum, tagKey, TagFilterInput } from './aggregation.js';
import { AggregationEnum, SensitivityEnum } from './alerts.js';
import { zodMessage } from '../messages.js';

/** metricAnomalies reads through the query service, as metricAggregates does (cache, definitions, statement timeout). */
const readerFor =
  (ctx: Context): ReadBuckets =>
  async (query, percentiles) =>
    (await answerQuery(ctx.deps, requireTenant(ctx), query, percentiles)).result;

const AnomalyQueryInput = builder.inputType('AnomalyQueryInput', {
  fields: (t) => ({
    metric: t.string({ required: true, description: 'A recorded metric or a metric definition.' }),
    from: t.field({ type: 'DateTime', required: true, description: 'Inclusive; rounded down to a bucket.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive; rounded up to a bucket. Defaults to now. Buckets that have not ended yet are left out.' }),
    granularity: t.field({ type: GranularityEnum, description: 'HOUR (default) or DAY: the levels history is kept at.' }),
    tags: t.field({ type: 'Tags', description: 'Only series that have all these tag values.' }),
    filters: t.field({ type: [TagFilterInput] }),
    groupBy: t.stringList({ description: 'At most 5 tag keys: one judged series per combination of their values.' }),
    aggregation: t.field({ type: AggregationEnum, description: 'The value of a bucket. Default SUM for a COUNTER, AVG otherwise; a definition has its own value.' }),
    sensitivity: t.field({ type: SensitivityEnum, description: 'Default MEDIUM.' }),
    historyWeeks: t.int({ description: '1-8 weeks of history before `from`, default 4.' }),
    minHistoryDays: t.int({ description: '1-56, default 7: a series with less history is LEARNING.' }),
  }),
});

const MAX_JUDGED_BUCKETS = 1_000;

const anomalyInput = z
  .object({
    metric: metricName,
    from: z.date(),
    to: z.date().nullish(),
    granularity: z.enum(['MINUTE', 'FIVE_MINUTES', 'HOUR', 'DAY']).nullish(),
    tags: tagsSchema.nullish(),
    filters: z.array(filterSchema).max(20, zodMessage('field.listTooLong', { field: 'filters', max: 20 })).nullish(),
    groupBy: z.array(tagKey).max(5, zodMessage('groupBy.tooMany', { max: 5 })).nullish(),
    aggregation: z.enum(AGGREGATIONS).nullish(),
    sensitivity: z.enum(Object.keys(SENSITIVITIES) as [keyof typeof SENSITIVITIES, ...Array<keyof typeof SENSITIVITIES>]).nullish(),
    historyWeeks: z.number().int().min(1, zodMessage('field.range', { field: 'historyWeeks', min: 1, max: 8 })).max(8, zodMessage('field.range', { field: 'historyWeeks', min: 1, max: 8 })).nullish(),
    minHistoryDays: z.number().int().min(1, zodMessage('field.range', { field: 'minHistoryDays', min: 1, max: 56 })).max(56, zodMessage('field.range', { field: 'minHistoryDays', min: 1, max: 56 })).nullish(),
  })
  .transform((input, ctx) => {
    const granularity = input.granularity ?? 'HOUR';
    if (granularity !== 'HOUR' && granularity !== 'DAY') {
      ctx.addIssue({ code: 'custom', path: ['granularity'], message: zodMessage('anomaly.granularity', { granularity: granularity }) });
      return z.NEVER;
    }
    const to = input.to ?? new Date();
    if (input.from >= to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: zodMessage('from.beforeTo') });
      return z.NEVER;
    }
    const sensitivity = input.sensitivity ?? 'MEDIUM';
    return {
      metric: input.metric,
      tags: input.tags ?? {},
      filters: input.filters ?? [],
      groupBy: [...new Set(input.groupBy ?? [])],
      from: input.from,
      to,
      granularity,
      aggregation: input.aggregation ?? null,
      threshold: SENSITIVITIES[sensitivity],
      historyWeeks: input.historyWeeks ?? 4,
      minHistoryMs: (input.minHistoryDays ?? 7) * DAY_MS,
    };
  });

const StateEnum = builder.enumType('AnomalySeriesState', {
  values: {
    LEARNING: { description: 'Less history than minHistoryDays: values only, nothing is judged.' },
    READY: { description: 'Judged against its baseline.' },
  },
});

const AnomalyPointRef = builder.objectRef<AnomalyPoint & { width: number }>('AnomalyPoint').implement({
  description: 'One bucket judged against the value expected from the same hour of the week (or day) in earlier weeks.',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (p) => new Date(p.start) }),
    end: t.field({ type: 'DateTime', resolve: (p) => new Date(p.start + p.width) }),
    value: t.exposeFloat('value', { nullable: true, description: 'The observed value; null when the bucket has no points.' }),
    expected: t.exposeFloat('expected', { nullable: true, description: 'The baseline; null while LEARNING or without history for this bucket.' }),
    lower: t.exposeFloat('lower', { nullable: true, description: 'expected − threshold × scale.' }),
    upper: t.exposeFloat('upper', { nullable: true, description: 'expected + threshold × scale.' }),
    score: t.exposeFloat('score', { nullable: true, description: '(value − expected) / scale, in robust standard deviations; negative below expected.' }),
    anomaly: t.exposeBoolean('anomaly', { description: '|score| above the sensitivity’s threshold.' }),
  }),
});

const AnomalySeriesRef = builder.objectRef<AnomalySeries & { width: number }>('AnomalySeries').implement({
  fields: (t) => ({
    metric: t.exposeString('metric'),
    tags: t.field({ type: 'Tags', description: 'The group-by tag values of this series.', resolve: (s) => s.tags }),
    state: t.field({ type: StateEnum, resolve: (s) => s.state }),
    points: t.field({ type: [AnomalyPointRef], resolve: (s) => s.points.map((p) => ({ ...p, width: s.width })) }),
  }),
});

const AnomalyResultRef = builder
  .objectRef<{ threshold: number; historyFrom: Date; series: Array<AnomalySeries & { width: number }>; sources: string[]; executionTimeMs: number }>('AnomalyResult')
  .implement({
    fields: (t) => ({
      threshold: t.exposeFloat('threshold', { description: 'The |score| above which a bucket is an anomaly (from sensitivity).' }),
      historyFrom: t.field({ type: 'DateTime', description: 'Where the history read starts.', resolve: (r) => r.historyFrom }),
      series: t.field({ type: [AnomalySeriesRef], resolve: (r) => r.series }),
      source: t.string({ description: 'What answered, as in metricAggregates (e.g. stats_1h).', resolve: (r) => r.sources.join('+') }),
      executionTimeMs: t.exposeFloat('executionTimeMs'),
    }),
  });

const anomalyRequest = validated(anomalyInput);

builder.queryFields((t) => ({
  metricAnomalies: t.field({
    type: AnomalyResultRef,
    description:
      'Each bucket of a metric or definition against its seasonal baseline: the median of the same hour of the week over the last historyWeeks weeks (trend-adjusted), with a robust band. Read from the 1 hour and 1 day aggregates.',
    access: 'tenant',
    args: { input: t.arg({ type: AnomalyQueryInput, required: true, validate: anomalyRequest.validate }) },
    resolve: async (_root, args, ctx) => {
      const started = performance.now();
      const principal = requireTenant(ctx);
      const request = anomalyRequest.of(args.input);
      const now = new Date();
      const range = judgedRange(request, now);
      const width = ANOMALY_GRANULARITIES[request.granularity];
      if (range.buckets < 1) {
        throw userError('BAD_USER_INPUT', 'anomaly.noWholeBucket', { unit: request.granularity === 'HOUR' ? 'hour' : 'day' });
      }
      if (range.buckets > MAX_JUDGED_BUCKETS) throw userError('BAD_USER_INPUT', 'anomaly.tooManyBuckets', { buckets: range.buckets, max: MAX_JUDGED_BUCKETS });
      await readTx(ctx, async (trx) => {
        const [definition] = await findDefinitions(trx, [request.metric], readerOf(principal));
        checkBudget(await seriesToRead(trx, request, definition), request, range.buckets, ctx.deps.env.ANOMALY_MAX_CELLS);
      });
      const { series, sources } = await findAnomalies(readerFor(ctx), request, now);
      return {
        threshold: request.threshold,
        historyFrom: new Date(range.from - request.historyWeeks * 7 * DAY_MS),
        series: series.map((s) => ({ ...s, width })),
        sources,
        executionTimeMs: performance.now() - started,
      };
    },
  }),
}));
