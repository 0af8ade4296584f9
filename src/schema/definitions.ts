/**
 * Metric definitions: named formulas over recorded metrics, versioned, usable wherever a
 * metric name is (metricAggregates, latestValue, tagKeys, tagValues, metricReport).
 */
import DataLoader from 'dataloader';
import { z } from 'zod';
import { builder, listOf } from '../builder.js';
import { queryTimeout, readTx, requireTenant, tenantTx, WRITERS, type Context } from '../context.js';
import type { Tags, Visibility } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import { definitionBuckets, type DefinitionSeries } from '../definitions/evaluate-definition.js';
import { evaluateFormula, type FormulaCost } from '../definitions/evaluate-formula.js';
import { LIMITS } from '../definitions/parse-formula.js';
import { fixedBuckets } from '../query/read-buckets.js';
import {
  checkFormulaInput,
  createDefinition,
  definitionVersions,
  deleteDefinition,
  listDefinitions,
  loadDefinition,
  readerOf,
  updateDefinition,
  type LoadedDefinition,
} from '../definitions/store-definitions.js';
import { userError } from '../errors.js';
import { admitPage } from '../plugins/page-admission.js';
import { validated } from './validated.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import { bucketBudget } from '../query/budget.js';
import { audit, auditRow, contextActor } from '../audit.js';
import { STATEMENT_CELLS, type ResultSeries, type TagFilter } from '../query/aggregate.js';
import { autoGranularity, GRANULARITIES, type Granularity } from '../query/plan.js';
import { AggregateSeriesRef, filterSchema, GranularityEnum, MAX_LIMIT, tagKey, TagFilterInput } from './aggregation.js';
import { zodMessage } from '../messages.js';

export const VisibilityEnum = builder.enumType('DefinitionVisibility', {
  values: {
    PRIVATE: { description: 'Its creator (and ADMIN and MANAGER keys, who manage every definition).' },
    TENANT: { description: 'Everyone in the tenant.' },
  } as const,
});

export const TagFilterRef = builder.objectRef<TagFilter>('TagFilter').implement({
  description: 'One condition on one tag key, as given in TagFilterInput.',
  fields: (t) => ({
    key: t.exposeString('key'),
    equals: t.string({ nullable: true, resolve: (f) => ('equals' in f ? f.equals : null) }),
    notEquals: t.string({ nullable: true, resolve: (f) => ('notEquals' in f ? f.notEquals : null) }),
    in: t.stringList({ nullable: true, resolve: (f) => ('in' in f ? f.in : null) }),
    notIn: t.stringList({ nullable: true, resolve: (f) => ('notIn' in f ? f.notIn : null) }),
    exists: t.boolean({ nullable: true, resolve: (f) => ('exists' in f ? f.exists : null) }),
  }),
});

export const UsedDefinitionRef = builder.objectRef<{ name: string; version: number }>('MetricDefinitionRef').implement({
  description: 'Which definition, at which version, answered.',
  fields: (t) => ({
    name: t.exposeString('name'),
    version: t.exposeInt('version'),
  }),
});

const versionLoaders = new WeakMap<Context, DataLoader<string, LoadedDefinition[]>>();

/** Per request: the versions of every listed definition in one query, not one per definition. */
function versionsLoader(ctx: Context): DataLoader<string, LoadedDefinition[]> {
  let loader = versionLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const rows = await readTx(ctx, (trx) => definitionVersions(trx, ids, readerOf(requireTenant(ctx))));
      return ids.map((id) => rows.filter((row) => row.id === id));
    });
    versionLoaders.set(ctx, loader);
  }
  return loader;
}

/**
 * One version of a definition. It has no `versions` of its own: a type that lists itself let
 * `versions { versions { … } }` return every version at every level (n^depth objects), so the
 * history is one level deep by construction.
 */
const MetricDefinitionVersionRef = builder.objectRef<LoadedDefinition>('MetricDefinitionVersion').implement({
  description: 'One version of a metric definition, as it was saved.',
  fields: (t) => ({
    version: t.exposeInt('version'),
    formula: t.exposeString('formula'),
    description: t.exposeString('description', { nullable: true }),
    unit: t.exposeString('unit', { nullable: true }),
    filters: t.field({ type: [TagFilterRef], resolve: (d) => d.filters }),
    groupBy: t.stringList({ resolve: (d) => d.groupBy }),
    metrics: t.stringList({ description: 'The recorded metrics the formula reads.', resolve: (d) => d.metrics }),
    versionCreatedBy: t.exposeString('versionCreatedBy', { nullable: true }),
    versionCreatedAt: t.field({ type: 'DateTime', resolve: (d) => d.versionCreatedAt }),
  }),
});

const MetricDefinitionRef = builder.objectRef<LoadedDefinition>('MetricDefinition');
MetricDefinitionRef.implement({
  description:
    'A named formula over recorded metrics, e.g. `sum(http.errors{status=~"5.."}) / sum(http.requests) * 100`. Every update makes a new version; queries use the latest unless one is named. The fields from `version` on are those of this version.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    visibility: t.field({ type: VisibilityEnum, resolve: (d) => d.visibility }),
    createdBy: t.exposeString('createdBy', { nullable: true, description: '`key:<API key id>` of its creator; null when created with a JWT.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (d) => d.updatedAt }),
    latestVersion: t.exposeInt('latestVersion'),
    version: t.exposeInt('version'),
    formula: t.exposeString('formula'),
    description: t.exposeString('description', { nullable: true }),
    unit: t.exposeString('unit', { nullable: true }),
    filters: t.field({ type: [TagFilterRef], description: 'Applied to every metric the formula reads, with the query’s own filters.', resolve: (d) => d.filters }),
    groupBy: t.stringList({ description: 'Used when a query gives no groupBy.', resolve: (d) => d.groupBy }),
    metrics: t.stringList({ description: 'The recorded metrics the formula reads.', resolve: (d) => d.metrics }),
    versionCreatedBy: t.exposeString('versionCreatedBy', { nullable: true }),
    versionCreatedAt: t.field({ type: 'DateTime', resolve: (d) => d.versionCreatedAt }),
    versions: t.field({
      type: [MetricDefinitionVersionRef],
      description: 'Every version, newest first.',
      resolve: (d, _args, ctx) => versionsLoader(ctx).load(d.id),
    }),
  }),
});

builder.objectField(AggregateSeriesRef, 'definition', (t) =>
  t.field({
    type: UsedDefinitionRef,
    nullable: true,
    description: 'For a metric definition, which version answered; null for a recorded metric.',
    resolve: (s) => (s as Partial<DefinitionSeries>).definition ?? null,
  }),
);

const description = z.string().max(1000, zodMessage('field.tooLong', { field: 'description', max: 1000 }));
const unit = z.string().min(1, zodMessage('field.empty', { field: 'unit' })).max(50, zodMessage('field.tooLong', { field: 'unit', max: 50 }));
// The parser checks the length itself (with a positioned message); this only bounds what is read.
const formula = z.string().max(100_000);
const filters = z.array(filterSchema).max(20, zodMessage('field.listTooLong', { field: 'filters', max: 20 }));
const groupBy = z.array(tagKey).max(5, zodMessage('groupBy.tooMany', { max: 5 }));
const visibility = z.enum(['PRIVATE', 'TENANT']);

const createSchema = z.object({
  name: metricName,
  formula,
  description: description.nullish(),
  unit: unit.nullish(),
  filters: filters.nullish(),
  groupBy: groupBy.nullish(),
  visibility: visibility.nullish(),
});

const updateSchema = z.object({
  id: z.string().uuid(zodMessage('field.uuid', { field: 'id' })),
  formula: formula.nullish(),
  description: description.nullish(),
  unit: unit.nullish(),
  filters: filters.nullish(),
  groupBy: groupBy.nullish(),
  visibility: visibility.nullish(),
});

const CreateInput = builder.inputType('CreateMetricDefinitionInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Same rules as metric names; unique in the tenant; must not be the name of a recorded metric.' }),
    formula: t.string({ required: true, description: `At most ${LIMITS.length} characters, ${LIMITS.references} metric references.` }),
    description: t.string(),
    unit: t.string(),
    filters: t.field({ type: [TagFilterInput], description: 'Applied to every metric the formula reads.' }),
    groupBy: t.stringList({ description: 'Default groupBy: tag keys every referenced metric has.' }),
    visibility: t.field({ type: VisibilityEnum, description: 'Default TENANT.' }),
  }),
});

const UpdateInput = builder.inputType('UpdateMetricDefinitionInput', {
  description: 'Makes a new version: the fields given change, the others stay as they were. Set description or unit to null to clear it.',
  fields: (t) => ({
    id: t.id({ required: true }),
    formula: t.string(),
    description: t.string(),
    unit: t.string(),
    filters: t.field({ type: [TagFilterInput] }),
    groupBy: t.stringList(),
    visibility: t.field({ type: VisibilityEnum }),
  }),
});

const DeleteInput = builder.inputType('DeleteMetricDefinitionInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const PreviewInput = builder.inputType('PreviewMetricDefinitionInput', {
  fields: (t) => ({
    formula: t.string({ required: true }),
    from: t.field({ type: 'DateTime', required: true, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive. Defaults to now.' }),
    granularity: t.field({ type: GranularityEnum, description: 'Defaults to the coarsest that gives at least 60 buckets over the range.' }),
    groupBy: t.stringList({ description: 'Tag keys every referenced metric has.' }),
    filters: t.field({ type: [TagFilterInput] }),
    tags: t.field({ type: 'Tags' }),
  }),
});

const previewSchema = z
  .object({
    formula,
    from: z.date(),
    to: z.date().nullish(),
    granularity: z.enum(Object.keys(GRANULARITIES) as [Granularity, ...Granularity[]]).nullish(),
    groupBy: groupBy.nullish(),
    filters: filters.nullish(),
    tags: tagsSchema.nullish(),
  })
  .transform((input, ctx) => {
    const to = input.to ?? new Date();
    if (input.from >= to) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: zodMessage('from.beforeTo') });
      return z.NEVER;
    }
    return { ...input, to, granularity: input.granularity ?? autoGranularity(input.from, to) };
  });

const CostRef = builder.objectRef<FormulaCost>('FormulaCost').implement({
  description: 'What evaluating a formula reads: series × buckets, bounded by FORMULA_MAX_COST (LIMIT_EXCEEDED past it).',
  fields: (t) => ({
    series: t.exposeInt('series', { description: 'Series read, counted once per metric reference.' }),
    buckets: t.exposeInt('buckets'),
    cells: t.exposeFloat('cells', { description: 'series × buckets.' }),
    limit: t.exposeFloat('limit'),
  }),
});

interface Preview {
  granularity: Granularity;
  metrics: string[];
  series: ResultSeries[];
  cost: FormulaCost;
  sources: string[];
  executionTimeMs: number;
}

const PreviewRef = builder.objectRef<Preview>('MetricDefinitionPreview').implement({
  fields: (t) => ({
    granularity: t.field({ type: GranularityEnum, resolve: (p) => p.granularity }),
    metrics: t.stringList({ description: 'The recorded metrics the formula reads.', resolve: (p) => p.metrics }),
    series: t.field({ type: [AggregateSeriesRef], description: 'One series per group; each bucket’s `value` is the formula’s.', resolve: (p) => p.series }),
    cost: t.field({ type: CostRef, resolve: (p) => p.cost }),
    sources: t.stringList({ description: 'What answered, as in QueryMetadata.', resolve: (p) => p.sources }),
    executionTimeMs: t.float({ description: 'Server time spent, in ms, to 0.01 ms.', resolve: (m) => Math.round(m.executionTimeMs * 100) / 100 }),
  }),
});

const DefinitionPayload = builder.objectRef<{ definition: LoadedDefinition }>('MetricDefinitionPayload').implement({
  fields: (t) => ({ definition: t.field({ type: MetricDefinitionRef, resolve: (p) => p.definition }) }),
});

const DeletePayload = builder.objectRef<{ id: string; name: string }>('DeleteMetricDefinitionPayload').implement({
  fields: (t) => ({ id: t.exposeID('id'), name: t.exposeString('name') }),
});

/** The audit row of a definition's creation or new version, in the transaction that made it. */
async function auditDefinition(trx: TenantTx, ctx: Context, action: 'METRIC_DEFINITION_CREATED' | 'METRIC_DEFINITION_UPDATED', definition: LoadedDefinition) {
  const principal = requireTenant(ctx);
  await audit(
    trx,
    auditRow(principal.tenantId, contextActor(ctx), { action, target: definition.id, details: { name: definition.name, version: definition.version, formula: definition.formula, visibility: definition.visibility } }),
  );
}

/** LIMIT_EXCEEDED for a preview of more buckets than a page holds. */
const overPage = (buckets: number) => userError('LIMIT_EXCEEDED', 'query.previewOverPage', { buckets, limit: MAX_LIMIT }, { limit: MAX_LIMIT });

const nameArg = z.string().max(255);
const previewInput = validated(previewSchema);
const createInput = validated(createSchema);
const updateInput = validated(updateSchema);
const deleteInput = validated(z.object({ id: z.string().uuid(zodMessage('field.uuid', { field: 'id' })) }));

builder.queryFields((t) => ({
  metricDefinitions: t.field({
    type: [MetricDefinitionRef],
    description: 'The metric definitions you can see, by name, at their latest version.',
    complexity: listOf(1000),
    access: 'tenant',
    args: {
      prefix: t.arg.string({ validate: { schema: nameArg } }),
      limit: t.arg.int({ description: '1-1000, default 1000.', validate: { schema: z.number().int().min(1).max(1000) } }),
    },
    resolve: (_root, args, ctx) => readTx(ctx, (trx) => listDefinitions(trx, readerOf(requireTenant(ctx)), { prefix: args.prefix ?? null, limit: args.limit ?? 1000 })),
  }),
  metricDefinition: t.field({
    type: MetricDefinitionRef,
    description: 'One metric definition at `version`, or at its latest. NOT_FOUND if it does not exist or you cannot see it.',
    access: 'tenant',
    args: {
      name: t.arg.string({ required: true, validate: { schema: nameArg } }),
      version: t.arg.int({ validate: { schema: z.number().int().min(1) } }),
    },
    resolve: (_root, args, ctx) => readTx(ctx, (trx) => loadDefinition(trx, args.name, args.version ?? null, readerOf(requireTenant(ctx)))),
  }),
  previewMetricDefinition: t.field({
    type: PreviewRef,
    description: 'Evaluates a formula as metricAggregates would a definition of it, without saving anything, and shows what it costs.',
    access: 'tenant',
    args: { input: t.arg({ type: PreviewInput, required: true, validate: previewInput.validate }) },
    resolve: async (_root, args, ctx, info) => {
      const started = performance.now();
      const input = previewInput.of(args.input);
      const { db, env } = ctx.deps;
      const width = GRANULARITIES[input.granularity];
      // #16: a preview is one page, at most MAX_LIMIT buckets as metricAggregates' are (it could
      // be FORMULA_MAX_COST). The range's buckets are counted arithmetically and refused past the
      // page before the formula is read or anything is evaluated: a page of one group holds them all.
      const span = bucketBudget(input.from, input.to, width, { maxBuckets: env.QUERY_MAX_BUCKETS }, input.granularity);
      if (span > MAX_LIMIT) throw overPage(span);
      // Admitted through the answer gate before the read and outside the transaction (a wait
      // there would hold the engine's connection), for what the page can hold at most: one
      // group without groupBy, else as many as a page.
      const groupBy = [...new Set(input.groupBy ?? [])];
      await admitPage(ctx, info, groupBy.length === 0 ? span : MAX_LIMIT);
      const bucketing = fixedBuckets(input.from, input.to, width);
      const { checked, result } = await readTx(ctx, async (trx) => {
        const checked = await checkFormulaInput(trx, input.formula);
        const result = await evaluateFormula(
          trx,
          checked,
          { bucketing, tags: (input.tags ?? {}) as Tags, filters: input.filters ?? [], groupBy },
          // No statement reads more series × buckets than a page holds, and the reading stops
          // once groups × buckets with points are past a page (several groups over the range).
          { timescale: db.timescale, maxCost: env.FORMULA_MAX_COST, statementCells: STATEMENT_CELLS, maxValues: { limit: MAX_LIMIT, overValues: overPage } },
        );
        return { checked, result };
      }, queryTimeout(ctx));
      const series = result.groups.map((group) => ({
        metric: 'preview',
        type: 'GAUGE' as const,
        unit: null,
        tags: group.tags,
        buckets: definitionBuckets(group, bucketing),
      }));
      return { granularity: input.granularity, metrics: checked.metrics, series, cost: result.cost, sources: result.sources, executionTimeMs: performance.now() - started };
    },
  }),
}));

builder.mutationFields((t) => ({
  createMetricDefinition: t.field({
    type: DefinitionPayload,
    description: 'Defines a metric by a formula. DEVELOPER, MANAGER or ADMIN.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: CreateInput, required: true, validate: createInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = createInput.of(args.input);
      const definition = await tenantTx(ctx, async (trx) => {
        const created = await createDefinition(trx, readerOf(principal), {
          name: input.name,
          formula: input.formula,
          description: input.description ?? null,
          unit: input.unit ?? null,
          filters: input.filters ?? [],
          groupBy: [...new Set(input.groupBy ?? [])],
          visibility: (input.visibility ?? 'TENANT') as Visibility,
        });
        await auditDefinition(trx, ctx, 'METRIC_DEFINITION_CREATED', created);
        return created;
      });
      return { definition };
    },
  }),
  updateMetricDefinition: t.field({
    type: DefinitionPayload,
    description: 'Makes a new version of a definition. DEVELOPER for their own; MANAGER and ADMIN for any. Cached answers of the old version are not served again.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: UpdateInput, required: true, validate: updateInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = updateInput.of(args.input);
      const definition = await tenantTx(ctx, async (trx) => {
        const updated = await updateDefinition(trx, readerOf(principal), input.id, {
          ...(input.formula != null ? { formula: input.formula } : {}),
          // null clears description and unit; leaving them out keeps them.
          // (zod leaves a key that was not sent out of what it parsed.)
          ...('description' in input ? { description: input.description ?? null } : {}),
          ...('unit' in input ? { unit: input.unit ?? null } : {}),
          ...(input.filters != null ? { filters: input.filters } : {}),
          ...(input.groupBy != null ? { groupBy: [...new Set(input.groupBy)] } : {}),
          ...(input.visibility != null ? { visibility: input.visibility as Visibility } : {}),
        });
        await auditDefinition(trx, ctx, 'METRIC_DEFINITION_UPDATED', updated);
        return updated;
      });
      return { definition };
    },
  }),
  deleteMetricDefinition: t.field({
    type: DeletePayload,
    description: 'Deletes a definition and all its versions. DEVELOPER for their own; MANAGER and ADMIN for any.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: DeleteInput, required: true, validate: deleteInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const { id } = deleteInput.of(args.input);
      const deleted = await tenantTx(ctx, async (trx) => {
        const gone = await deleteDefinition(trx, readerOf(principal), id);
        await audit(trx, auditRow(principal.tenantId, contextActor(ctx), { action: 'METRIC_DEFINITION_DELETED', target: gone.id, details: { name: gone.name } }));
        return gone;
      });
      return { id: deleted.id, name: deleted.name };
    },
  }),
}));
