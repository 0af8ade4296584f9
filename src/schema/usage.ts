/**
 * Cardinality: what a tenant's series budget goes to (`usage`), and the operator's
 * per-tenant budgets (`setTenantLimits`). Enforcement is in src/ingest/cardinality.ts.
 */
import { sql } from 'kysely';
import { z } from 'zod';
import { builder } from '../builder.js';
import { requireOperator, requireTenant, tenantTx, type Context } from '../context.js';
import { withTenant } from '../db/tenant.js';
import { parseInput, userError } from '../errors.js';
import { budgetsOf, type Budgets } from '../ingest/cardinality.js';

const defaultsOf = (ctx: Context): Budgets => ({ maxSeries: ctx.deps.env.MAX_SERIES, maxSeriesPerMetric: ctx.deps.env.MAX_SERIES_PER_METRIC, maxTagValues: ctx.deps.env.MAX_TAG_VALUES });

const BudgetsRef = builder.objectRef<Budgets>('CardinalityBudgets').implement({
  fields: (t) => ({
    maxSeries: t.exposeInt('maxSeries'),
    maxSeriesPerMetric: t.exposeInt('maxSeriesPerMetric'),
    maxTagValues: t.exposeInt('maxTagValues', { description: 'Distinct values one tag key may take on one metric.' }),
  }),
});

interface TagKeyUsage {
  metric: string;
  key: string;
  values: number;
}
const TagKeyUsageRef = builder.objectRef<TagKeyUsage>('TagKeyUsage').implement({
  fields: (t) => ({ metric: t.exposeString('metric'), key: t.exposeString('key'), values: t.exposeInt('values', { description: 'Distinct values of this key on this metric.' }) }),
});
const MetricUsageRef = builder.objectRef<{ metric: string; series: number }>('MetricUsage').implement({
  fields: (t) => ({ metric: t.exposeString('metric'), series: t.exposeInt('series') }),
});

interface Usage {
  series: number;
  budgets: Budgets;
  metrics: Array<{ metric: string; series: number }>;
  topTagKeys: TagKeyUsage[];
}
const UsageRef = builder.objectRef<Usage>('Usage').implement({
  description: 'What the tenant’s cardinality budgets go to.',
  fields: (t) => ({
    series: t.exposeInt('series', { description: 'Series in all.' }),
    budgets: t.field({ type: BudgetsRef, resolve: (u) => u.budgets }),
    metrics: t.field({ type: [MetricUsageRef], description: 'Series per metric, most first.', resolve: (u) => u.metrics }),
    topTagKeys: t.field({ type: [TagKeyUsageRef], description: 'Tag keys with the most distinct values (per metric), most first.', resolve: (u) => u.topTagKeys }),
  }),
});

builder.queryFields((t) => ({
  usage: t.field({
    type: UsageRef,
    args: { limit: t.arg.int({ description: 'Rows of metrics and of tag keys, 1-100, default 20.' }) },
    resolve: async (_root, args, ctx) => {
      requireTenant(ctx);
      const limit = parseInput(z.number().int().min(1, 'limit must be 1-100').max(100, 'limit must be 1-100'), args.limit ?? 20);
      return tenantTx(ctx, async (trx) => {
        const budgets = await budgetsOf(trx, defaultsOf(ctx));
        const total = await sql<{ n: number }>`select count(*)::int as n from series`.execute(trx);
        const metrics = await sql<{ metric: string; series: number }>`
          select m.name as metric, count(*)::int as series from series s join metrics m on m.id = s.metric_id
          group by m.name order by series desc, m.name limit ${limit}`.execute(trx);
        const keys = await sql<TagKeyUsage>`
          select m.name as metric, t.key, count(distinct t.value)::int as values
          from series s join metrics m on m.id = s.metric_id, jsonb_each_text(s.tags) t
          group by m.name, t.key order by values desc, m.name, t.key limit ${limit}`.execute(trx);
        return { series: total.rows[0]!.n, budgets, metrics: metrics.rows, topTagKeys: keys.rows };
      });
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
const positive = z.number().int().min(1, 'budgets must be at least 1').max(100_000_000, 'budgets must be at most 100000000').nullish();
const setLimitsSchema = z.object({ tenantId: z.string().uuid('tenantId must be a UUID'), maxSeries: positive, maxSeriesPerMetric: positive, maxTagValues: positive });

builder.mutationFields((t) => ({
  setTenantLimits: t.field({
    type: BudgetsRef,
    description: 'Sets a tenant’s cardinality budgets (the operator token only); returns the budgets now in force.',
    args: { input: t.arg({ type: SetTenantLimitsInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      requireOperator(ctx, 'set tenant limits');
      const input = parseInput(setLimitsSchema, args.input);
      const db = ctx.deps.db.kysely;
      const tenant = await sql<{ id: string }>`select id from tenants where id = ${input.tenantId}`.execute(db);
      if (tenant.rows.length === 0) throw userError('NOT_FOUND', `tenant ${input.tenantId} does not exist`);
      await sql`
        insert into tenant_limits (tenant_id, max_series, max_series_per_metric, max_tag_values, updated_at)
        values (${input.tenantId}, ${input.maxSeries ?? null}, ${input.maxSeriesPerMetric ?? null}, ${input.maxTagValues ?? null}, now())
        on conflict (tenant_id) do update set max_series = excluded.max_series, max_series_per_metric = excluded.max_series_per_metric,
          max_tag_values = excluded.max_tag_values, updated_at = now()`.execute(db);
      return withTenant(db, input.tenantId, (trx) => budgetsOf(trx, defaultsOf(ctx)));
    },
  }),
}));
