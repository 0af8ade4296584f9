import { createHash } from 'node:crypto';
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { z } from 'zod';
import { builder } from '../builder.js';
import { metricLoader, queryTimeout, readTx, requireTenant, type Context } from '../context.js';
import type { Tags } from '../db/tables.js';
import { userError } from '../errors.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import { type Bucket, type ResultSeries } from '../query/aggregate.js';
import { answerQuery, pageBound, type QueryMetadata } from '../query/answer-query.js';
import { definitionTagKeys, definitionTagValues, latestDefinitionValue } from '../definitions/evaluate-definition.js';
import { findDefinitions, readerOf, type LoadedDefinition } from '../definitions/store-definitions.js';
import type { TenantTx } from '../db/tenant.js';
import { GRANULARITIES, type Granularity } from '../query/plan.js';
import { checkGroupBy } from '../query/check-names.js';
import { latestMetricValue, metricTagKeys, metricTagValues } from '../query/metric-catalog.js';
import { fillPage, type PagePosition } from '../query/fill.js';
import { bucketBudget } from '../query/budget.js';
import { admitPage } from '../plugins/page-admission.js';
import { MetricTypeEnum } from './ingestion.js';

export const GranularityEnum = builder.enumType('Granularity', {
  values: {
    MINUTE: { description: '1 minute buckets.' },
    FIVE_MINUTES: { description: '5 minute buckets.' },
    HOUR: { description: '1 hour buckets.' },
    DAY: { description: '1 day buckets (UTC days).' },
  } as const,
});

const FillEnum = builder.enumType('Fill', {
  description: 'What to return for buckets in the range that hold no points.',
  values: {
    NONE: { description: 'Leave them out.' },
    NULL: { description: 'Return them with count 0 and null values.' },
    ZERO: { description: 'Return them with count 0 and 0 values.' },
    PREVIOUS: { description: 'Repeat the values of the previous non-empty bucket (count 0); null values before the first one.' },
  } as const,
});

export const TagFilterInput = builder.inputType('TagFilterInput', {
  description: 'One condition on one tag key: set exactly one of the operators.',
  fields: (t) => ({
    key: t.string({ required: true }),
    equals: t.string(),
    notEquals: t.string({ description: 'Also matches series without the key.' }),
    in: t.stringList(),
    notIn: t.stringList({ description: 'Also matches series without the key.' }),
    exists: t.boolean({ description: 'true: the series has the key; false: it has not.' }),
  }),
});

export const AggregateQueryInput = builder.inputType('AggregateQueryInput', {
  fields: (t) => ({
    metrics: t.stringList({ required: true, description: '1-10 names of recorded metrics or metric definitions.' }),
    from: t.field({ type: 'DateTime', required: true, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive. Defaults to now.' }),
    granularity: t.field({ type: GranularityEnum, description: 'Defaults to the coarsest that gives at least 60 buckets over the range.' }),
    tags: t.field({ type: 'Tags', description: 'Only series that have all these tag values.' }),
    filters: t.field({ type: [TagFilterInput], description: 'More conditions on tags, all of which must hold.' }),
    groupBy: t.stringList({ description: 'At most 5 tag keys: one result series per distinct combination of their values.' }),
    fill: t.field({ type: FillEnum, description: 'Default NONE.' }),
    limit: t.int({ description: 'Buckets in this page, across all series: 1-10000, default 10000.' }),
    after: t.string({ description: 'The `nextCursor` of the previous page.' }),
  }),
});

import { aggregateInputSchema, tagKey } from '../query/aggregate-input.js';
import { validated } from './validated.js';
export { aggregateInputSchema, aggregateInputShape, filterSchema, MAX_LIMIT, tagKey } from '../query/aggregate-input.js';
export type { QueryMetadata } from '../query/answer-query.js';


/** Whether the selection under this field asks for any of `names` (fragments included). */
export function selects(info: GraphQLResolveInfo, names: ReadonlySet<string>): boolean {
  const visit = (set: SelectionSetNode | undefined): boolean =>
    !!set?.selections.some((node) => {
      if (node.kind === Kind.FIELD) return names.has(node.name.value) || visit(node.selectionSet);
      if (node.kind === Kind.INLINE_FRAGMENT) return visit(node.selectionSet);
      return visit(info.fragments[node.name.value]?.selectionSet);
    });
  return info.fieldNodes.some((node) => visit(node.selectionSet));
}

export const PERCENTILE_FIELDS = new Set(['p50', 'p90', 'p95', 'p99']);

interface Cursor extends PagePosition {
  q: string;
}

/** The cursor of a page's last bucket, as `nextCursor`. */
function encodeCursor(position: PagePosition, queryTag: string): string {
  return Buffer.from(JSON.stringify({ q: queryTag, s: position.s, t: position.t } satisfies Cursor)).toString('base64url');
}

/**
 * A cursor this same query returned, or BAD_USER_INPUT: anything else (forged, of another
 * query, naming a series or instant the answer does not have) never reaches the pager.
 */
function decodeCursor(cursor: string, queryTag: string, seriesCount: number, granularityMs: number): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor | null;
    if (
      parsed &&
      typeof parsed === 'object' &&
      parsed.q === queryTag &&
      Number.isSafeInteger(parsed.s) &&
      parsed.s >= 0 &&
      parsed.s < seriesCount &&
      Number.isSafeInteger(parsed.t) &&
      parsed.t % granularityMs === 0
    ) {
      return parsed;
    }
  } catch {
    // fall through
  }
  throw userError('BAD_USER_INPUT', 'query.cursor');
}

const BucketRef = builder.objectRef<Bucket>('AggregateBucket').implement({
  description:
    'One time bucket. Type semantics: COUNTER values are increments, so `sum` is the increase and `rate` the increase per second; GAUGE has `last` (the newest value) with avg/min/max; HISTOGRAM and SUMMARY values are observations. Percentiles are offered for every type, within 1 % of exact.',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (b) => b.start }),
    end: t.field({ type: 'DateTime', resolve: (b) => b.end }),
    count: t.exposeFloat('count', { description: 'Points in the bucket.' }),
    sum: t.exposeFloat('sum', { nullable: true, description: 'Sum of values; for a COUNTER, the increase over the bucket.' }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    avg: t.exposeFloat('avg', { nullable: true }),
    last: t.exposeFloat('last', { nullable: true, description: 'The newest value in the bucket. Null for a COUNTER (use latestValue for its running total).' }),
    rate: t.exposeFloat('rate', { nullable: true, description: 'COUNTER only: increase per second over the part of the bucket inside the range. Null for other types.' }),
    p50: t.exposeFloat('p50', { nullable: true, description: 'Median, within 1 % of exact (mergeable log histogram).' }),
    p90: t.exposeFloat('p90', { nullable: true }),
    p95: t.exposeFloat('p95', { nullable: true }),
    p99: t.exposeFloat('p99', { nullable: true }),
    value: t.float({
      nullable: true,
      description: 'A metric definition’s value for the bucket (sum, min, max, avg, last and the percentiles equal it; count is the points its formula read). Null for a recorded metric.',
      resolve: (b) => b.value ?? null,
    }),
  }),
});

export const AggregateSeriesRef = builder.objectRef<ResultSeries>('AggregateSeries').implement({
  description: 'The buckets of one metric for one combination of group-by tag values.',
  fields: (t) => ({
    metric: t.exposeString('metric'),
    type: t.field({ type: MetricTypeEnum, resolve: (s) => s.type }),
    unit: t.exposeString('unit', { nullable: true }),
    tags: t.field({ type: 'Tags', description: 'The group-by tag values of this series.', resolve: (s) => s.tags }),
    buckets: t.field({ type: [BucketRef], resolve: (s) => s.buckets }),
  }),
});


export const MetadataRef = builder.objectRef<QueryMetadata>('QueryMetadata').implement({
  fields: (t) => ({
    executionTimeMs: t.float({ description: 'Server time spent, in ms, to 0.01 ms.', resolve: (m) => Math.round(m.executionTimeMs * 100) / 100 }),
    fromCache: t.exposeBoolean('fromCache'),
    source: t.string({
      description: 'What answered, e.g. `stats_1h+stats_5m+raw`: continuous aggregates by level (stats_* and sketch_* for percentiles) and raw points for the edges they cannot answer exactly.',
      resolve: (m) => m.sources.join('+'),
    }),
    sources: t.stringList({ resolve: (m) => m.sources }),
    downsampled: t.exposeBoolean('downsampled', {
      description:
        'True when part of the range is older than the tenant’s raw retention: that part is answered from the aggregates kept (named in source), at their resolution.',
    }),
  }),
});

export const AggregateResultRef = builder
  .objectRef<{ granularity: Granularity; series: ResultSeries[]; nextCursor: string | null; metadata: QueryMetadata }>('AggregateResult')
  .implement({
    fields: (t) => ({
      granularity: t.field({ type: GranularityEnum, resolve: (r) => r.granularity }),
      series: t.field({ type: [AggregateSeriesRef], resolve: (r) => r.series }),
      nextCursor: t.exposeString('nextCursor', { nullable: true, description: 'Pass as `after` for the next page; null on the last page.' }),
      metadata: t.field({ type: MetadataRef, resolve: (r) => r.metadata }),
    }),
  });

const LatestValueRef = builder
  .objectRef<{ metric: string; type: ResultSeries['type']; unit: string | null; value: number; timestamp: Date }>('LatestValue')
  .implement({
    fields: (t) => ({
      metric: t.exposeString('metric'),
      type: t.field({ type: MetricTypeEnum, resolve: (v) => v.type }),
      unit: t.exposeString('unit', { nullable: true }),
      value: t.exposeFloat('value', { description: 'COUNTER: the running total of all retained increments. GAUGE: the newest value. HISTOGRAM, SUMMARY: the newest observation.' }),
      timestamp: t.field({ type: 'DateTime', description: 'Time of the newest point counted.', resolve: (v) => v.timestamp }),
    }),
  });

/** Throws NOT_FOUND for a metric this tenant has not recorded. */
async function loadMetric(ctx: Context, name: string) {
  const metric = await metricLoader(ctx).load(name);
  if (!metric) throw userError('NOT_FOUND', 'metric.notFound', { metric: name }, { metric: name });
  return metric;
}

/** For a name that is not a recorded metric: runs `work` with the definition of that name, or throws NOT_FOUND. */
function withDefinition<T>(ctx: Context, name: string, work: (trx: TenantTx, definition: LoadedDefinition) => Promise<T>): Promise<T> {
  const principal = requireTenant(ctx);
  return readTx(
    ctx,
    async (trx) => {
      const [definition] = await findDefinitions(trx, [name], readerOf(principal));
      if (!definition) throw userError('NOT_FOUND', 'metric.notFoundAnywhere', { metric: name }, { metric: name });
      return work(trx, definition);
    },
    queryTimeout(ctx),
  );
}

const nameArg = z.string().max(255);
const aggregateInput = validated(aggregateInputSchema);
const latestTags = validated(tagsSchema);

builder.queryFields((t) => ({
  metricAggregates: t.field({
    type: AggregateResultRef,
    description: 'Aggregates per time bucket, filtered by tags and grouped by tag values, from continuous aggregates where they answer exactly.',
    access: 'tenant',
    args: { input: t.arg({ type: AggregateQueryInput, required: true, validate: aggregateInput.validate }) },
    resolve: async (_root, args, ctx, info) => {
      const started = performance.now();
      const { query, limit, after } = aggregateInput.of(args.input);
      const percentiles = selects(info, PERCENTILE_FIELDS);
      const queryTag = createHash('sha256').update(JSON.stringify([query, percentiles])).digest('base64url').slice(0, 12);
      const width = GRANULARITIES[query.granularity];
      const principal = requireTenant(ctx);
      // #16: the page is admitted through the instance's answer gate before anything is read, for
      // the most it can hold (series × buckets, at most `limit`), and holds it until the response
      // is made: concurrent reads and pages hold at most the gate's capacity. The range is
      // budgeted first, so a refused range waits for nothing.
      bucketBudget(query.from, query.to, width, { maxBuckets: ctx.deps.env.QUERY_MAX_BUCKETS }, query.granularity);
      await admitPage(ctx, info, await pageBound(ctx.deps, principal, query, limit));
      const { result, fromCache } = await answerQuery(ctx.deps, principal, query, percentiles);
      // A groupBy key no answered series carries may be a typo: ask the catalog (only then).
      if (query.groupBy.some((key) => !result.series.some((s) => key in s.tags))) await readTx(ctx, (trx) => checkGroupBy(trx, query.metrics, query.groupBy));
      const cursor = after ? decodeCursor(after, queryTag, result.series.length, width) : null;
      const page = fillPage(result.series, { from: query.from, to: query.to, granularityMs: width, fill: query.fill }, limit, cursor);
      const nextCursor = page.more && page.last ? encodeCursor(page.last, queryTag) : null;
      return { granularity: result.granularity, series: page.series, nextCursor, metadata: { executionTimeMs: performance.now() - started, fromCache, sources: result.sources, downsampled: result.downsampled ?? false } };
    },
  }),
  latestValue: t.field({
    type: LatestValueRef,
    nullable: true,
    description:
      'The latest value of a metric over the series matching `tags`; null when it has no points. For a metric definition: its value over the newest minute (within 24 hours) in which its metrics have points, stamped with that minute’s start.',
    access: 'tenant',
    args: { metric: t.arg.string({ required: true, validate: { schema: metricName } }), tags: t.arg({ type: 'Tags', validate: latestTags.validate }) },
    resolve: async (_root, args, ctx) => {
      const tags: Tags = latestTags.of(args.tags) ?? {};
      if (!(await metricLoader(ctx).load(args.metric))) {
        return withDefinition(ctx, args.metric, async (trx, definition) => {
          const latest = await latestDefinitionValue(trx, definition, tags, { timescale: ctx.deps.db.timescale, maxCost: ctx.deps.env.FORMULA_MAX_COST });
          return latest && { metric: definition.name, type: 'GAUGE' as const, unit: definition.unit, ...latest };
        });
      }
      const metric = await loadMetric(ctx, args.metric);
      const latest = await readTx(ctx, (trx) => latestMetricValue(trx, metric, tags, { timescale: ctx.deps.db.timescale }));
      return latest && { metric: metric.name, type: metric.type, unit: metric.unit, ...latest };
    },
  }),
  tagKeys: t.stringList({
    description: 'The tag keys used by a metric’s series, alphabetically. For a metric definition: the keys every metric it reads has (what it can be grouped by).',
    access: 'tenant',
    args: { metric: t.arg.string({ required: true, validate: { schema: metricName } }) },
    resolve: async (_root, args, ctx) => {
      if (!(await metricLoader(ctx).load(args.metric))) return withDefinition(ctx, args.metric, definitionTagKeys);
      const metric = await loadMetric(ctx, args.metric);
      return readTx(ctx, (trx) => metricTagKeys(trx, metric.id));
    },
  }),
  tagValues: t.stringList({
    description:
      'The values of one tag key in a metric’s series, alphabetically, optionally those starting with `prefix` (at most `limit`, default 1000). For a metric definition: across the series of the metrics it reads.',
    access: 'tenant',
    args: {
      metric: t.arg.string({ required: true, validate: { schema: metricName } }),
      key: t.arg.string({ required: true, validate: { schema: tagKey } }),
      prefix: t.arg.string({ validate: { schema: nameArg } }),
      limit: t.arg.int({ validate: { schema: z.number().int().min(1).max(1000) } }),
    },
    resolve: async (_root, args, ctx) => {
      if (!(await metricLoader(ctx).load(args.metric))) {
        return withDefinition(ctx, args.metric, (trx, definition) => definitionTagValues(trx, definition, args.key, args.prefix ?? '', args.limit ?? 1000));
      }
      const metric = await loadMetric(ctx, args.metric);
      return readTx(ctx, (trx) => metricTagValues(trx, metric.id, args.key, args.prefix ?? '', args.limit ?? 1000));
    },
  }),
}));
