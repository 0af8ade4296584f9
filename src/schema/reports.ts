/**
 * Reports per calendar period with growth, the rollup backfill that keeps them fast, and the
 * log of job runs.
 */
import { z } from 'zod';
import { builder, listOf } from '../builder.js';
import { ADMINS, metricLoader, queryTimeout, readTx, requireTenant, tenantTx } from '../context.js';
import { isTimeZone } from '../definitions/calendar.js';
import { definitionReport, metricReport, type Report, type ReportRow } from '../definitions/build-report.js';
import { createReportRollups } from '../definitions/roll-up-reports.js';
import { findDefinitions, readerOf } from '../definitions/store-definitions.js';
import { userError } from '../errors.js';
import { validated } from './validated.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import { DAY } from '../query/plan.js';
import { tagKey } from './aggregation.js';
import { UsedDefinitionRef } from './definitions.js';
import { listTenantJobRuns, readJobRun, type JobRunRow } from '../jobs/job-runs.js';
import { MetricTypeEnum } from './ingestion.js';
import { zodMessage } from '../messages.js';

const PeriodEnum = builder.enumType('ReportPeriod', {
  values: {
    DAY: { description: 'Calendar days.' },
    WEEK: { description: 'Weeks from Monday 00:00.' },
    MONTH: { description: 'Calendar months.' },
  } as const,
});

const ReportInput = builder.inputType('MetricReportInput', {
  fields: (t) => ({
    metric: t.string({ required: true, description: 'A recorded metric or a metric definition.' }),
    period: t.field({ type: PeriodEnum, required: true }),
    from: t.field({ type: 'DateTime', required: true, description: 'The report starts with the period holding this instant.' }),
    to: t.field({ type: 'DateTime', description: 'The report ends with the period holding the instant just before this one. Defaults to now.' }),
    groupBy: t.stringList({ description: 'At most 5 tag keys: one list of periods per distinct combination of their values.' }),
    tags: t.field({ type: 'Tags', description: 'Only series that have all these tag values.' }),
    timeZone: t.string({ description: 'IANA time zone of the periods’ boundaries, e.g. `Europe/Warsaw`. Default UTC.' }),
  }),
});

const reportSchema = z
  .object({
    metric: metricName,
    period: z.enum(['DAY', 'WEEK', 'MONTH']),
    from: z.date(),
    to: z.date().nullish(),
    groupBy: z.array(tagKey).max(5, zodMessage('groupBy.tooMany', { max: 5 })).nullish(),
    tags: tagsSchema.nullish(),
    timeZone: z
      .string()
      .max(64)
      .refine(isTimeZone, zodMessage('timeZone.invalid'))
      .nullish(),
  })
  .transform((input, ctx) => {
    const to = input.to ?? new Date();
    if (input.from >= to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: zodMessage('from.beforeTo') });
      return z.NEVER;
    }
    // "Etc/UTC", "utc" and friends are UTC: they may use the rollups.
    const zone = input.timeZone ? new Intl.DateTimeFormat('en-US', { timeZone: input.timeZone }).resolvedOptions().timeZone : 'UTC';
    return { ...input, to, groupBy: [...new Set(input.groupBy ?? [])], tags: input.tags ?? {}, timeZone: zone === 'Etc/UTC' ? 'UTC' : zone };
  });

const RowRef = builder.objectRef<ReportRow>('ReportRow').implement({
  description: 'One period of one group.',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (r) => r.start }),
    end: t.field({ type: 'DateTime', resolve: (r) => r.end }),
    count: t.exposeFloat('count', { description: 'Points in the period; for a definition, the sub-periods (hours of a day, days of a week or month) with a value.' }),
    sum: t.exposeFloat('sum', { nullable: true }),
    avg: t.exposeFloat('avg', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    p95: t.exposeFloat('p95', { nullable: true, description: 'Within 1 % of exact for a recorded metric (mergeable sketch); exact over the sub-period values for a definition.' }),
    value: t.exposeFloat('value', {
      nullable: true,
      description: 'What growth compares: the increase (sum) of a COUNTER, the average of other types, and for a definition its formula over the whole period (a ratio of the period’s sums, not an average of daily ratios).',
    }),
    growth: t.exposeFloat('growth', { nullable: true, description: '% change of `value` against the previous period; null when either is null or the previous is 0.' }),
  }),
});

const GroupRef = builder.objectRef<Report['groups'][number]>('ReportGroup').implement({
  fields: (t) => ({
    tags: t.field({ type: 'Tags', description: 'The group-by tag values of this group.', resolve: (g) => g.tags }),
    rows: t.field({ type: [RowRef], description: 'Every period of the report, oldest first (count 0 where there were no points).', resolve: (g) => g.rows }),
  }),
});

const ReportRef = builder.objectRef<Report & { executionTimeMs: number }>('MetricReport').implement({
  fields: (t) => ({
    metric: t.exposeString('metric'),
    type: t.field({ type: MetricTypeEnum, nullable: true, description: 'Null for a definition.', resolve: (r) => r.type }),
    definition: t.field({ type: UsedDefinitionRef, nullable: true, resolve: (r) => r.definition }),
    unit: t.exposeString('unit', { nullable: true }),
    period: t.field({ type: PeriodEnum, resolve: (r) => r.period }),
    timeZone: t.exposeString('timeZone'),
    groups: t.field({ type: [GroupRef], resolve: (r) => r.groups }),
    sources: t.stringList({ description: 'What answered: `rollup_week`, `rollup_month`, `stats_1d`, `sketch_1h`, `raw`, …', resolve: (r) => r.sources }),
    executionTimeMs: t.float({ description: 'Server time spent, in ms, to 0.01 ms.', resolve: (m) => Math.round(m.executionTimeMs * 100) / 100 }),
  }),
});

const JobStatusEnum = builder.enumType('JobStatus', { values: ['RUNNING', 'COMPLETED', 'FAILED'] as const });

const JobRunRef = builder.objectRef<JobRunRow>('JobRun').implement({
  description: 'One run of a scheduled or requested job.',
  fields: (t) => ({
    id: t.exposeID('id'),
    job: t.exposeString('job', { description: '`reports.rollup` (scheduled, every tenant), `reports.backfill` (requested by your tenant), …' }),
    tick: t.field({ type: 'DateTime', description: 'The scheduled instant it ran for (the request’s, for a requested job).', resolve: (r) => r.tick }),
    tenantScoped: t.boolean({ description: 'True for work your tenant asked for; false for a service-wide run.', resolve: (r) => r.tenant_id !== null }),
    rangeFrom: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.range_from }),
    rangeTo: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.range_to }),
    status: t.field({ type: JobStatusEnum, resolve: (r) => r.status }),
    rows: t.exposeFloat('rows', { nullable: true, description: 'Rows written.' }),
    startedAt: t.field({ type: 'DateTime', resolve: (r) => r.started_at }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.finished_at }),
    durationMs: t.float({ nullable: true, resolve: (r) => r.duration_ms }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

const BackfillInput = builder.inputType('BackfillReportRollupsInput', {
  fields: (t) => ({
    from: t.field({ type: 'DateTime', required: true }),
    to: t.field({ type: 'DateTime', required: true }),
  }),
});

/** The longest range one backfill takes: longer ones are split by the caller, so no request holds a transaction for hours. */
const MAX_BACKFILL_DAYS = 400;

const backfillInput = validated(
  z.object({ from: z.date(), to: z.date() }).superRefine((input, ctx) => {
    if (input.from >= input.to) ctx.addIssue({ code: 'custom', path: ['from'], message: zodMessage('from.beforeTo') });
    if (input.to.getTime() - input.from.getTime() > MAX_BACKFILL_DAYS * DAY) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: zodMessage('report.backfillTooLong', { max: MAX_BACKFILL_DAYS }) });
    }
  }),
);
const reportInput = validated(reportSchema);

builder.queryFields((t) => ({
  metricReport: t.field({
    type: ReportRef,
    description:
      'Per calendar period (UTC unless timeZone is given), count, sum, avg, min, max and p95 of a metric or definition, with growth % against the previous period. Weeks and months come from rollups kept by a scheduled job where they exist.',
    access: 'tenant',
    args: { input: t.arg({ type: ReportInput, required: true, validate: reportInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const started = performance.now();
      const principal = requireTenant(ctx);
      const input = reportInput.of(args.input);
      const { db, env } = ctx.deps;
      const options = { timescale: db.timescale, maxCost: env.FORMULA_MAX_COST, limits: { maxCells: env.QUERY_MAX_CELLS } };
      const recorded = await metricLoader(ctx).load(input.metric);
      const report = await readTx(ctx, async (trx) => {
        if (recorded) return metricReport(trx, input, options);
        const [definition] = await findDefinitions(trx, [input.metric], readerOf(principal));
        if (!definition) throw userError('NOT_FOUND', 'metric.notFoundAnywhere', { metric: input.metric }, { metric: input.metric });
        return definitionReport(trx, definition, input, options);
      }, queryTimeout(ctx));
      return { ...report, executionTimeMs: performance.now() - started };
    },
  }),
  jobRuns: t.field({
    type: [JobRunRef],
    description: 'Recent runs of scheduled jobs and of jobs your tenant requested, newest first. ADMIN only.',
    complexity: listOf(100),
    access: { roles: ADMINS },
    args: {
      job: t.arg.string({ validate: { schema: z.string().max(100) } }),
      limit: t.arg.int({ description: '1-500, default 100.', validate: { schema: z.number().int().min(1).max(500) } }),
    },
    resolve: (_root, args, ctx) =>
      tenantTx(ctx, (trx) => listTenantJobRuns(trx, { job: args.job ?? null, limit: args.limit ?? 100 })),
  }),
}));

builder.mutationFields((t) => ({
  backfillReportRollups: t.field({
    type: JobRunRef,
    description: `Rolls up the report periods of [from, to) again for your tenant (after importing older points, say), at most ${MAX_BACKFILL_DAYS} days at once. ADMIN only. Logged in jobRuns.`,
    access: { roles: ADMINS },
    args: { input: t.arg({ type: BackfillInput, required: true, validate: backfillInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = backfillInput.of(args.input);
      const { db, scheduler, env } = ctx.deps;
      const rollups = createReportRollups(db.kysely, scheduler, { timescale: db.timescale, lookbackDays: env.REPORT_ROLLUP_LOOKBACK_DAYS });
      const run = await rollups.backfill(principal.tenantId, input.from, input.to);
      if (!run) throw userError('BAD_USER_INPUT', 'report.backfillRace');
      return (await tenantTx(ctx, (trx) => readJobRun(trx, run.id)))!;
    },
  }),
}));
