/**
 * Live subscriptions (graphql-ws on /graphql): committed points as they land, and aggregate
 * results kept current. Both end when the client completes or disconnects, and leave nothing
 * behind (src/realtime/feed.ts). Connection limits and credential re-checks are in server.ts.
 */
import { z } from 'zod';
import { builder } from '../builder.js';
import { requireTenant, tenantTx, type Context } from '../context.js';
import { readerOf } from '../definitions/store-definitions.js';
import { checkGroupBy, refuseMisspeltMetrics, requireKnownMetrics } from '../query/check-names.js';
import type { Tags } from '../db/tables.js';
import { userError } from '../errors.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import type { LivePoint } from '../realtime/bus.js';
import type { LiveUpdate } from '../realtime/live-aggregates.js';
import { recordedFeeds } from '../realtime/recorded.js';
import { AggregateQueryInput, AggregateSeriesRef, aggregateInputSchema, GranularityEnum, MetadataRef, PERCENTILE_FIELDS, selects } from './aggregation.js';
import { MetricPointRef } from './ingestion.js';
import type { AggregateQuery } from '../query/aggregate.js';
import { bucketBudget, fillsEveryBucket } from '../query/budget.js';
import { GRANULARITIES } from '../query/plan.js';
import { zodMessage } from '../messages.js';
import { validated } from './validated.js';
import { admitFirstMessage } from '../plugins/page-admission.js';
import { pageBound } from '../query/answer-query.js';

const MetricRecordedFilter = builder.inputType('MetricRecordedFilter', {
  fields: (t) => ({
    metrics: t.stringList({ required: true, description: '1-5 metric names.' }),
    tags: t.field({ type: 'Tags', description: 'Only points whose tags include all of these.' }),
  }),
});

const recordedFilter = validated(
  z.object({
    metrics: z.array(metricName).min(1, zodMessage('metrics.empty')).max(5, zodMessage('metrics.tooMany', { max: 5 })),
    tags: tagsSchema.nullish(),
  }),
);
const liveInput = validated(aggregateInputSchema);

interface RecordedEvent {
  point: LivePoint;
  dropped: number;
}

const MetricRecordedEventRef = builder.objectRef<RecordedEvent>('MetricRecordedEvent').implement({
  description: 'One committed point.',
  fields: (t) => ({
    point: t.field({ type: MetricPointRef, resolve: (e) => e.point }),
    dropped: t.exposeInt('dropped', {
      description: 'Points this subscription dropped just before this one because the client read too slowly (its buffer holds LIVE_BUFFER_POINTS).',
    }),
  }),
});

const LiveAggregatesUpdateRef = builder.objectRef<LiveUpdate>('LiveAggregatesUpdate').implement({
  description: 'A liveAggregates message.',
  fields: (t) => ({
    initial: t.exposeBoolean('initial', { description: 'True on the first message, whose series are the whole current result; later messages hold only what changed.' }),
    granularity: t.field({ type: GranularityEnum, resolve: (u) => u.granularity }),
    series: t.field({
      type: [AggregateSeriesRef],
      description: 'On updates, only the series and buckets that changed: a bucket (metric, tags, start) replaces the copy the client holds.',
      resolve: (u) => u.series,
    }),
    metadata: t.field({ type: MetadataRef, resolve: (u) => u.metadata }),
  }),
});

function tenantOf(ctx: Context): string {
  return requireTenant(ctx).tenantId;
}

builder.subscriptionFields((t) => ({
  metricRecorded: t.field({
    type: MetricRecordedEventRef,
    description: 'Every point of these metrics committed from now on, in this tenant, on any instance. A client that reads too slowly loses the oldest waiting points, counted in `dropped`.',
    access: 'tenant',
    args: { filter: t.arg({ type: MetricRecordedFilter, required: true, validate: recordedFilter.validate }) },
    subscribe: async (_root, args, ctx) => {
      const tenantId = tenantOf(ctx);
      const filter = recordedFilter.of(args.filter);
      await tenantTx(ctx, (trx) => refuseMisspeltMetrics(trx, filter.metrics, readerOf(requireTenant(ctx))));
      const tags: Tags = filter.tags ?? {};
      return recordedFeeds(ctx.deps.bus).subscribe(tenantId, filter.metrics, tags, ctx.deps.env.LIVE_BUFFER_POINTS);
    },
    resolve: ({ item, dropped }): RecordedEvent => ({ point: item, dropped }),
  }),
  liveAggregates: t.field({
    type: LiveAggregatesUpdateRef,
    description:
      'The result of metricAggregates(input), then the buckets that change as points land, at most once a second. Without `to` the range grows with time. `limit` bounds the buckets of the whole result; `after` is not taken.',
    access: 'tenant',
    args: { input: t.arg({ type: AggregateQueryInput, required: true, validate: liveInput.validate }) },
    subscribe: async (_root, args, ctx, info) => {
      const { query, limit, after, openEnded } = liveInput.of(args.input);
      if (after) throw userError('BAD_USER_INPUT', 'live.noPaging');
      const percentiles = selects(info, PERCENTILE_FIELDS);
      liveBudget(query, limit, ctx.deps.env.QUERY_MAX_BUCKETS);
      // Told now, not by silence: a misspelt metric or groupBy key.
      await tenantTx(ctx, async (trx) => {
        await requireKnownMetrics(trx, query.metrics, readerOf(requireTenant(ctx)));
        await checkGroupBy(trx, query.metrics, query.groupBy);
      });
      // #16: the first message is the whole answer, read and built like a page: it goes through
      // the answer gate for at most `limit` buckets, held only until it has been sent.
      const buckets = await pageBound(ctx.deps, requireTenant(ctx), query, limit);
      return admitFirstMessage(ctx, buckets, () => ctx.deps.live.subscribe(ctx.principal, { query, openEnded, percentiles, limit }));
    },
    resolve: (update) => update,
  }),
}));

/**
 * #16: a live query is budgeted before its first evaluation: the range at its granularity, and
 * with a fill mode (every series then carries every bucket, and the first message is the whole
 * answer) at most `limit` buckets, so no empty bucket is made that would be refused afterwards.
 */
function liveBudget(query: AggregateQuery, limit: number, maxBuckets: number): void {
  const buckets = bucketBudget(query.from, query.to, GRANULARITIES[query.granularity], { maxBuckets }, query.granularity);
  if (fillsEveryBucket(query.fill) && buckets > limit) {
    throw userError('LIMIT_EXCEEDED', 'live.fillOverLimit', { fill: query.fill, buckets, limit }, { limit });
  }
}
