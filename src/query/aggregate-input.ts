/**
 * What an aggregate query accepts (metricAggregates, liveAggregates, exports), as zod schemas:
 * validated input becomes an AggregateQuery (src/query/aggregate.ts).
 */
import { z } from 'zod';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import type { AggregateQuery } from './aggregate.js';
import { autoGranularity, GRANULARITIES, type Granularity } from './plan.js';
import { zodMessage } from '../messages.js';

export const tagKey = z.string().min(1).max(50);
const tagValue = z.string().max(100);
export const filterSchema = z
  .object({
    key: tagKey,
    equals: tagValue.nullish(),
    notEquals: tagValue.nullish(),
    in: z.array(tagValue).min(1).max(100).nullish(),
    notIn: z.array(tagValue).min(1).max(100).nullish(),
    exists: z.boolean().nullish(),
  })
  .transform((f, ctx) => {
    const set = (['equals', 'notEquals', 'in', 'notIn', 'exists'] as const).filter((op) => f[op] !== undefined && f[op] !== null);
    if (set.length !== 1) {
      ctx.addIssue({ code: 'custom', message: zodMessage('filter.exactlyOne', { key: f.key }) });
      return z.NEVER;
    }
    const op = set[0]!;
    return { key: f.key, [op]: f[op] } as AggregateQuery['filters'][number];
  });

export const MAX_LIMIT = 10_000;

export const aggregateInputShape = z.object({
    metrics: z.array(metricName).min(1, zodMessage('metrics.empty')).max(10, zodMessage('metrics.tooMany', { max: 10 })),
    from: z.date(),
    to: z.date().nullish(),
    granularity: z.enum(Object.keys(GRANULARITIES) as [Granularity, ...Granularity[]]).nullish(),
    tags: tagsSchema.nullish(),
    filters: z.array(filterSchema).max(20, zodMessage('field.listTooLong', { field: 'filters', max: 20 })).nullish(),
    groupBy: z.array(tagKey).max(5, zodMessage('groupBy.tooMany', { max: 5 })).nullish(),
    fill: z.enum(['NONE', 'NULL', 'ZERO', 'PREVIOUS']).nullish(),
    limit: z.number().int().min(1, zodMessage('field.range', { field: 'limit', min: 1, max: MAX_LIMIT })).max(MAX_LIMIT, zodMessage('field.range', { field: 'limit', min: 1, max: MAX_LIMIT })).nullish(),
    after: z.string().max(500).nullish(),
  });

export const aggregateInputSchema = aggregateInputShape.transform((input, ctx) => {
    const to = input.to ?? new Date();
    if (input.from >= to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: zodMessage('from.beforeTo') });
      return z.NEVER;
    }
    const query: AggregateQuery = {
      metrics: [...new Set(input.metrics)],
      from: input.from,
      to,
      granularity: input.granularity ?? autoGranularity(input.from, to),
      tags: input.tags ?? {},
      filters: input.filters ?? [],
      groupBy: [...new Set(input.groupBy ?? [])],
      fill: input.fill ?? 'NONE',
    };
    // openEnded: no `to` was given, so a live query's range grows with time.
    return { query, limit: input.limit ?? MAX_LIMIT, after: input.after ?? null, openEnded: input.to == null };
  });

