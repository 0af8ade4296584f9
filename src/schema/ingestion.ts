import { z } from 'zod';
import { builder, listOf } from '../builder.js';
import { readTx, requireTenant, tenantTx, WRITERS, type Context } from '../context.js';
import { METRIC_TYPES, type MetricType } from '../db/tables.js';
import { describeZodError, userError } from '../errors.js';
import { rateLimited } from '../rate-limit.js';
import { metricInputSchema, metricName, readAheadOf, readMetricInput, tagsSchema, type MetricInput } from '../ingest/metric-input.js';
import type { AuditOf, ItemOutcome, StoredPoint } from '../ingest/record-points.js';
import { audit, auditRow, contextActor } from '../audit.js';
import { listMetrics, readPoints } from '../query/metric-catalog.js';
import { zodMessage } from '../messages.js';
import { validated } from './validated.js';

export const MetricTypeEnum = builder.enumType('MetricType', {
  values: {
    COUNTER: { description: 'Each value is an increment (>= 0); aggregates give the increase and a rate.' },
    GAUGE: { description: 'Each value is the current level; aggregates give the last value, avg, min and max.' },
    HISTOGRAM: { description: 'Each value is one observation; aggregates give the distribution.' },
    SUMMARY: { description: 'Each value is one observation; aggregates give the distribution.' },
  } as const,
});

export const MetricPointRef = builder.objectRef<Omit<StoredPoint, 'seriesId'>>('MetricPoint').implement({
  description: 'One stored point.',
  fields: (t) => ({
    id: t.exposeID('id'),
    metric: t.exposeString('metric'),
    type: t.field({ type: MetricTypeEnum, resolve: (p) => p.type }),
    unit: t.exposeString('unit', { nullable: true }),
    tags: t.field({ type: 'Tags', resolve: (p) => p.tags }),
    timestamp: t.field({ type: 'DateTime', resolve: (p) => p.time }),
    value: t.exposeFloat('value'),
  }),
});

const MetricInputType = builder.inputType('MetricInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Metric name: 1-255 characters, `^[a-zA-Z][a-zA-Z0-9._-]*$`.' }),
    value: t.float({ required: true, description: 'A finite number. COUNTER: the increment (>= 0). GAUGE: the level. HISTOGRAM, SUMMARY: one observation.' }),
    type: t.field({ type: MetricTypeEnum, required: true, description: 'A metric keeps the type of its first point.' }),
    tags: t.field({ type: 'Tags', description: 'Identifies the series within the metric.' }),
    timestamp: t.field({ type: 'DateTime', description: 'Defaults to now. At most 10 minutes in the future; not before 1970.' }),
    unit: t.string({ description: 'At most 50 characters. A metric keeps the unit it was first given.' }),
    id: t.id({ description: 'Client UUID for idempotency: an item resent with the same id is stored once.' }),
  }),
});

const RecordMetricsInput = builder.inputType('RecordMetricsInput', {
  fields: (t) => ({ metrics: t.field({ type: [MetricInputType], required: true }) }),
});

const RecordMetricPayload = builder.objectRef<Extract<ItemOutcome, { ok: true }>>('RecordMetricPayload').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The point’s id: the client’s id when one was sent.' }),
    duplicate: t.exposeBoolean('duplicate', { description: 'True when a point with this client id was already stored; nothing new was stored.' }),
    point: t.field({ type: MetricPointRef, resolve: (o) => o.point }),
  }),
});

interface Failure {
  index: number;
  id: string | null;
  code: string;
  message: string;
}

const RecordFailure = builder.objectRef<Failure>('RecordFailure').implement({
  description: 'An item of a batch that was not stored, and why.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of the item in `metrics`, from 0.' }),
    id: t.exposeID('id', { nullable: true, description: 'The item’s client id, if it sent one.' }),
    code: t.exposeString('code', { description: 'BAD_USER_INPUT, LIMIT_EXCEEDED, ...' }),
    message: t.exposeString('message'),
  }),
});

const RecordMetricsPayload = builder
  .objectRef<{ accepted: number; duplicates: number; ids: string[]; failed: Failure[] }>('RecordMetricsPayload')
  .implement({
    description: 'The valid items are stored even when others fail.',
    fields: (t) => ({
      accepted: t.exposeInt('accepted', { description: 'Items stored now or already stored before (duplicates).' }),
      duplicates: t.exposeInt('duplicates', { description: 'Accepted items whose client id was already stored.' }),
      ids: t.exposeIDList('ids', { description: 'The ids of the accepted items, in input order.' }),
      failed: t.field({ type: [RecordFailure], resolve: (p) => p.failed }),
    }),
  });

/** Records valid items through the group-commit recorder; one outcome per item. Its fields' `access` admits writers only. */
async function record(ctx: Context, items: MetricInput[], auditOf: AuditOf): Promise<ItemOutcome[]> {
  const principal = requireTenant(ctx);
  if (items.length > 0) {
    const wait = await ctx.deps.limiter.take(principal.tenantId, 'points', items.length);
    if (wait !== null) throw rateLimited('points', wait);
  }
  const outcomes = await ctx.deps.recorder.record(principal.tenantId, items, auditOf);
  countOutcomes(ctx, outcomes);
  return outcomes;
}

/** metrograph_points_ingested_total and …_rejected_total{reason} for what the store decided. */
function countOutcomes(ctx: Context, outcomes: ItemOutcome[]) {
  const { pointsIngested, pointsRejected } = ctx.deps.metrics;
  let ingested = 0;
  let conflicts = 0;
  let internal = 0;
  let cardinality = 0;
  for (const outcome of outcomes) {
    if (outcome.ok) {
      if (!outcome.duplicate) ingested++;
    } else if (outcome.code === 'BAD_USER_INPUT') conflicts++;
    else if (outcome.code === 'LIMIT_EXCEEDED') cardinality++;
    else internal++;
  }
  // One increment per request, not per point: a batch holds hundreds.
  if (ingested) pointsIngested.inc(ingested);
  if (conflicts) pointsRejected.inc({ reason: 'conflict' }, conflicts);
  if (internal) pointsRejected.inc({ reason: 'internal' }, internal);
  if (cardinality) pointsRejected.inc({ reason: 'cardinality' }, cardinality);
}

const MetricPointsInput = builder.inputType('MetricPointsInput', {
  fields: (t) => ({
    metric: t.string({ required: true }),
    tags: t.field({ type: 'Tags', description: 'Only series that have all of these tags.' }),
    from: t.field({ type: 'DateTime', description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive.' }),
    limit: t.int({ description: '1-1000, default 100.' }),
    after: t.string({ description: 'The `nextCursor` of the previous page.' }),
  }),
});

const metricInput = validated(metricInputSchema);

const metricPointsInput = validated(z.object({
  metric: metricName,
  tags: tagsSchema.optional().nullable(),
  from: z.date().optional().nullable(),
  to: z.date().optional().nullable(),
  limit: z.number().int().min(1, zodMessage('field.range', { field: 'limit', min: 1, max: 1000 })).max(1000, zodMessage('field.range', { field: 'limit', min: 1, max: 1000 })).optional().nullable(),
  after: z.string().max(200).optional().nullable(),
}));

const MetricPointPage = builder.objectRef<{ points: StoredPoint[]; nextCursor: string | null }>('MetricPointPage').implement({
  fields: (t) => ({
    points: t.field({ type: [MetricPointRef], resolve: (p) => p.points }),
    nextCursor: t.exposeString('nextCursor', { nullable: true, description: 'Pass as `after` for the next (older) page; null on the last page.' }),
  }),
});

function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${time.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { time: Date; id: string } {
  const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(time ?? '');
  if (!id || !/^[0-9a-f-]{36}$/.test(id) || Number.isNaN(date.getTime())) throw userError('BAD_USER_INPUT', 'points.cursor');
  return { time: date, id };
}

interface MetricSummary {
  name: string;
  type: MetricType;
  unit: string | null;
  seriesCount: number;
}

const MetricRef = builder.objectRef<MetricSummary>('Metric').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    type: t.field({ type: MetricTypeEnum, resolve: (m) => m.type }),
    unit: t.exposeString('unit', { nullable: true }),
    seriesCount: t.exposeInt('seriesCount', { description: 'Distinct tag sets recorded for this metric.' }),
  }),
});

builder.mutationFields((t) => ({
  recordMetric: t.field({
    type: RecordMetricPayload,
    description: 'Records one point. Visible to queries as soon as this returns.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: MetricInputType, required: true, validate: metricInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const { tenantId } = requireTenant(ctx);
      const item = metricInput.of(args.input);
      // The audit row goes in the transaction that stores the point (a conflict stores nothing, so records nothing).
      const auditOf = ([stored]: ItemOutcome[]) =>
        stored?.ok
          ? auditRow(tenantId, contextActor(ctx), {
              action: 'METRIC_RECORDED',
              target: item.name,
              details: { id: stored.id, duplicate: stored.duplicate, type: item.type, tags: item.tags, timestamp: stored.point.time.toISOString(), value: item.value },
            })
          : null;
      const [outcome] = await record(ctx, [item], auditOf);
      if (!outcome!.ok) throw userError(outcome!.code, outcome!.phrase.id, outcome!.phrase.params);
      return outcome!;
    },
  }),
  recordMetrics: t.field({
    type: RecordMetricsPayload,
    description: 'Records a batch (at most MAX_BATCH_SIZE items, default 500). Every valid item is stored; each invalid one is reported in `failed`.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: RecordMetricsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { tenantId } = requireTenant(ctx);
      const max = ctx.deps.env.MAX_BATCH_SIZE;
      if (input.metrics.length > max) {
        ctx.deps.metrics.pointsRejected.inc({ reason: 'batch_too_large' }, input.metrics.length);
        throw userError('LIMIT_EXCEEDED', 'batch.tooLarge', { max, got: input.metrics.length }, { limit: max });
      }
      const failed: Failure[] = [];
      // Items read ahead of GraphQL's coercion (src/plugins/metric-input-list.ts) are all valid, in place.
      const read = readAheadOf(ctx, input.metrics);
      const valid: MetricInput[] = read ?? [];
      const positions: number[] = [];
      if (!read) input.metrics.forEach((raw, index) => {
        const item = readMetricInput(raw);
        if (item) {
          valid.push(item);
          positions.push(index);
          return;
        }
        const parsed = metricInputSchema.safeParse(raw);
        if (parsed.success) {
          valid.push(parsed.data);
          positions.push(index);
        } else {
          failed.push({ index, id: typeof raw.id === 'string' ? raw.id : null, code: 'BAD_USER_INPUT', message: describeZodError(parsed.error) });
        }
      });
      if (failed.length > 0) ctx.deps.metrics.pointsRejected.inc({ reason: 'validation' }, failed.length);
      // Written with the batch's points; a batch with no valid item records its attempt on its own.
      const batchRow = (outcomes: ItemOutcome[]) => {
        // Counted in loops, not arrays per outcome: a batch holds hundreds.
        let accepted = 0;
        let duplicates = 0;
        for (const o of outcomes) {
          if (!o.ok) continue;
          accepted++;
          if (o.duplicate) duplicates++;
        }
        const metrics = new Set<string>();
        for (const v of valid) if (metrics.size < 50) metrics.add(v.name);
        return auditRow(tenantId, contextActor(ctx), {
          action: 'METRICS_BATCH_RECORDED',
          details: { items: input.metrics.length, accepted, duplicates, failed: failed.length + outcomes.length - accepted, metrics: [...metrics] },
        });
      };
      if (valid.length === 0) await tenantTx(ctx, (trx) => audit(trx, batchRow([])));
      const outcomes = await record(ctx, valid, batchRow);
      const ids: string[] = [];
      let duplicates = 0;
      outcomes.forEach((outcome, i) => {
        const index = read ? i : positions[i]!;
        if (outcome.ok) {
          ids.push(outcome.id);
          if (outcome.duplicate) duplicates++;
        } else failed.push({ index, id: valid[i]!.id, code: outcome.code, message: outcome.message });
      });
      failed.sort((a, b) => a.index - b.index);
      return { accepted: ids.length, duplicates, ids, failed };
    },
  }),
}));

builder.queryFields((t) => ({
  metricPoints: t.field({
    type: MetricPointPage,
    description: 'Raw stored points of one metric, newest first. For debugging and tests; dashboards want metricAggregates.',
    access: 'tenant',
    args: { input: t.arg({ type: MetricPointsInput, required: true, validate: metricPointsInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const input = metricPointsInput.of(args.input);
      const limit = input.limit ?? 100;
      const after = input.after ? decodeCursor(input.after) : null;
      const rows = await readTx(ctx, (trx) => readPoints(trx, input.metric, { tags: input.tags, from: input.from, to: input.to, after, limit }));
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        points: page.map((r) => ({ id: r.id, seriesId: r.series_id, metric: r.name, type: r.type, unit: r.unit, tags: r.tags, time: r.time, value: r.value })),
        nextCursor: rows.length > limit && last ? encodeCursor(last.time, last.id) : null,
      };
    },
  }),
  metrics: t.field({
    type: [MetricRef],
    description: 'The tenant’s metric names, alphabetically, optionally those starting with `prefix`.',
    complexity: listOf(1000),
    access: 'tenant',
    args: {
      prefix: t.arg.string({ validate: { schema: z.string().max(255) } }),
      limit: t.arg.int({ description: '1-1000, default 1000.', validate: { schema: z.number().int().min(1).max(1000) } }),
    },
    resolve: (_root, args, ctx) =>
      readTx(ctx, (trx) => listMetrics(trx, { prefix: args.prefix, limit: args.limit ?? 1000 })),
  }),
}));

export { METRIC_TYPES };
