/**
 * Cardinality: what a tenant's series budget goes to (`usage`), and the operator's
 * per-tenant budgets (`setTenantLimits`). Enforcement is in src/ingest/cardinality.ts; the reads and writes in src/ops/usage.ts.
 */
import { z } from 'zod';
import { builder } from '../builder.js';
import { tenantTx, type Context } from '../context.js';
import type { Budgets } from '../ingest/cardinality.js';
import { readUsage, setTenantLimits, type TagKeyUsage, type Usage } from '../ops/usage.js';
import { zodMessage } from '../messages.js';
import { validated } from './validated.js';

const defaultsOf = (ctx: Context): Budgets => ({ maxSeries: ctx.deps.env.MAX_SERIES, maxSeriesPerMetric: ctx.deps.env.MAX_SERIES_PER_METRIC, maxTagValues: ctx.deps.env.MAX_TAG_VALUES });

const BudgetsRef = builder.objectRef<Budgets>('CardinalityBudgets').implement({
  fields: (t) => ({
    maxSeries: t.exposeInt('maxSeries'),
    maxSeriesPerMetric: t.exposeInt('maxSeriesPerMetric'),
    maxTagValues: t.exposeInt('maxTagValues', { description: 'Distinct values one tag key may take on one metric.' }),
  }),
});

const TagKeyUsageRef = builder.objectRef<TagKeyUsage>('TagKeyUsage').implement({
  fields: (t) => ({ metric: t.exposeString('metric'), key: t.exposeString('key'), values: t.exposeInt('values', { description: 'Distinct values of this key on this metric.' }) }),
});
const MetricUsageRef = builder.objectRef<{ metric: string; series: number }>('MetricUsage').implement({
  fields: (t) => ({ metric: t.exposeString('metric'), series: t.exposeInt('series') }),
});

const UsageRef = builder.objectRef<Usage>('Usage').implement({
  description: 'What the tenant’s cardinality budgets go to.',
  fields: (t) => ({
    series: t.exposeInt('series', { description: 'Series in all.' }),
    budgets: t.field({ type: BudgetsRef, resolve: (u) => u.budgets }),
    metrics: t.field({ type: [MetricUsageRef], description: 'Series per metric, most first.', resolve: (u) => u.metrics }),
    topTagKeys: t.field({ type: [TagKeyUsageRef], description: 'Tag keys with the most distinct values (per metric), most first.', resolve: (u) => u.topTagKeys }),
  }),
});

const usageLimit = validated(z.number().int().min(1, zodMessage('field.range', { field: 'limit', min: 1, max: 100 })).max(100, zodMessage('field.range', { field: 'limit', min: 1, max: 100 })));

builder.queryFields((t) => ({
  usage: t.field({
    type: UsageRef,
    access: 'tenant',
    args: { limit: t.arg.int({ description: 'Rows of metrics and of tag keys, 1-100, default 20.', validate: usageLimit.validate }) },
    resolve: async (_root, args, ctx) => {
      const limit = usageLimit.of(args.limit) ?? 20;
      return tenantTx(ctx, (trx) => readUsage(trx, defaultsOf(ctx), limit));
    },
  }),
}));

const SetTenantLimitsInput = builder.inputType('SetTenantLimitsInput', {
  fields: (t) => ({
    tenantId: t.id({ required: true }),
    maxSeries: t.int({ description: 'null: the service default (MAX_SERIES).' }),
    maxSeriesPerMetric: t.int({ description: 'null: the service default (MAX_SERIES_PER_METRIC).' }),
    maxTagValues: t.int({ description: 'null: the service default (MAX_TAG_VALUES).' }),
  }),
});
const positive = z.number().int().min(1, zodMessage('budgets.atLeast', { min: 1 })).max(100_000_000, zodMessage('budgets.atMost', { max: 100_000_000 })).nullish();
const setLimitsInput = validated(z.object({ tenantId: z.string().uuid(zodMessage('field.uuid', { field: 'tenantId' })), maxSeries: positive, maxSeriesPerMetric: positive, maxTagValues: positive }));

builder.mutationFields((t) => ({
  setTenantLimits: t.field({
    type: BudgetsRef,
    description: 'Sets a tenant’s cardinality budgets (the operator token only); returns the budgets now in force.',
    access: { operator: 'set tenant limits' },
    args: { input: t.arg({ type: SetTenantLimitsInput, required: true, validate: setLimitsInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const input = setLimitsInput.of(args.input);
      return setTenantLimits(ctx.deps.db.kysely, defaultsOf(ctx), input);
    },
  }),
}));
