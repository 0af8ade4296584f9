/**
 * Alert rules: managed by writers, read by every role of the tenant, evaluated by a scheduled
 * job (src/alerts/evaluate.ts). History in `alertEvents`, live in the `alertEvents`
 * subscription, webhook deliveries and their attempts in `webhookDeliveries`.
 */
import { z } from 'zod';
import { contextActor, type AuditAction } from '../audit.js';
import { builder, listOf } from '../builder.js';
import { metricLoader, requireTenant, tenantTx, WRITERS, type Context } from '../context.js';
import { findDefinitions, readerOf } from '../definitions/store-definitions.js';
import { userError } from '../errors.js';
import { metricName, tagsSchema } from '../ingest/metric-input.js';
import type { AlertRuleRow, WebhookAttemptRow, WebhookDeliveryRow } from '../db/tables.js';
import { changeRule, createRule, deleteRule, listDeliveries, listEvents, listRules, newWebhookSecret, readRule, ruleColumns, type AlertEventWithRule } from '../alerts/rules.js';
import type { AlertEventMessage } from '../alerts/bus.js';
import { AGGREGATIONS, ALERT_STATES, COMPARISONS } from '../alerts/state.js';
import { SENSITIVITIES, type Sensitivity } from '../anomaly/baseline.js';
import { createFeed, dropOldest } from '../realtime/feed.js';
import { filterSchema, TagFilterInput } from './aggregation.js';
import { TagFilterRef } from './definitions.js';
import { zodMessage } from '../messages.js';
import { validated } from './validated.js';

const KINDS = ['THRESHOLD', 'ERROR_RATE', 'ABSENCE', 'ANOMALY'] as const;
const SEVERITIES = ['INFO', 'WARNING', 'CRITICAL'] as const;

const KindEnum = builder.enumType('AlertRuleKind', {
  values: {
    THRESHOLD: { description: 'The aggregation of the metric over the window, compared with the threshold.' },
    ERROR_RATE: { description: '100 × aggregation over the series matching `errorFilters` ÷ aggregation over all matching series (a percentage), compared with the threshold.' },
    ABSENCE: { description: 'Holds when the metric has no points matching the filters in the window; comparison and threshold are not used.' },
    ANOMALY: {
      description:
        'Holds when the newest whole hour’s aggregation is outside its seasonal band (see metricAnomalies), at the rule’s sensitivity; window, comparison and threshold are not used. Does not hold while the metric has less than minHistoryDays of history.',
    },
  },
});
export const AggregationEnum = builder.enumType('AlertAggregation', { values: AGGREGATIONS });
export const SensitivityEnum = builder.enumType('AnomalySensitivity', {
  description: 'How far outside its baseline a bucket must be to be an anomaly, in robust standard deviations of the baseline’s error.',
  values: Object.fromEntries(Object.entries(SENSITIVITIES).map(([name, threshold]) => [name, { description: `|score| > ${threshold}` }])) as Record<Sensitivity, { description: string }>,
});
const ComparisonEnum = builder.enumType('AlertComparison', {
  values: Object.fromEntries(Object.entries(COMPARISONS).map(([name, symbol]) => [name, { description: `value ${symbol} threshold` }])) as Record<keyof typeof COMPARISONS, { description: string }>,
});
const SeverityEnum = builder.enumType('AlertSeverity', { values: SEVERITIES });
const StateEnum = builder.enumType('AlertState', { values: ALERT_STATES });

/** A URL a webhook may call: HTTPS anywhere, HTTP only to this host. */
const webhookUrl = z
  .string()
  .max(2000, zodMessage('field.tooLong', { field: 'webhookUrl', max: 2000 }))
  .refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    if (url.username || url.password) return false;
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
  }, zodMessage('alert.webhookUrl'));

const ruleFields = {
  name: z.string().trim().min(1, zodMessage('field.empty', { field: 'name' })).max(200, zodMessage('field.tooLong', { field: 'name', max: 200 })),
  kind: z.enum(KINDS),
  metric: metricName,
  aggregation: z.enum(AGGREGATIONS),
  tags: tagsSchema,
  filters: z.array(filterSchema).max(20, zodMessage('field.listTooLong', { field: 'filters', max: 20 })),
  errorFilters: z.array(filterSchema).max(20, zodMessage('field.listTooLong', { field: 'errorFilters', max: 20 })),
  comparison: z.enum(Object.keys(COMPARISONS) as [keyof typeof COMPARISONS, ...Array<keyof typeof COMPARISONS>]),
  threshold: z.number().finite(zodMessage('field.notFinite', { field: 'threshold' })),
  windowSeconds: z.number().int().min(60, zodMessage('field.range', { field: 'windowSeconds', min: 60, max: 86400 })).max(86_400, zodMessage('field.range', { field: 'windowSeconds', min: 60, max: 86400 })),
  forSeconds: z.number().int().min(0, zodMessage('field.range', { field: 'forSeconds', min: 0, max: 86400 })).max(86_400, zodMessage('field.range', { field: 'forSeconds', min: 0, max: 86400 })),
  cooldownSeconds: z.number().int().min(0, zodMessage('field.range', { field: 'cooldownSeconds', min: 0, max: 604800 })).max(604_800, zodMessage('field.range', { field: 'cooldownSeconds', min: 0, max: 604800 })),
  severity: z.enum(SEVERITIES),
  labels: tagsSchema,
  webhookUrl: webhookUrl.nullable(),
  sensitivity: z.enum(Object.keys(SENSITIVITIES) as [Sensitivity, ...Sensitivity[]]),
  historyWeeks: z.number().int().min(1, zodMessage('field.range', { field: 'historyWeeks', min: 1, max: 8 })).max(8, zodMessage('field.range', { field: 'historyWeeks', min: 1, max: 8 })),
  minHistoryDays: z.number().int().min(1, zodMessage('field.range', { field: 'minHistoryDays', min: 1, max: 56 })).max(56, zodMessage('field.range', { field: 'minHistoryDays', min: 1, max: 56 })),
};

const createSchema = z
  .object({
    name: ruleFields.name,
    kind: ruleFields.kind.nullish().transform((v) => v ?? 'THRESHOLD'),
    metric: ruleFields.metric,
    aggregation: ruleFields.aggregation.nullish().transform((v) => v ?? 'AVG'),
    tags: ruleFields.tags.nullish().transform((v) => v ?? {}),
    filters: ruleFields.filters.nullish().transform((v) => v ?? []),
    errorFilters: ruleFields.errorFilters.nullish().transform((v) => v ?? []),
    comparison: ruleFields.comparison.nullish().transform((v) => v ?? 'GT'),
    threshold: ruleFields.threshold.nullish().transform((v) => v ?? 0),
    windowSeconds: ruleFields.windowSeconds.nullish().transform((v) => v ?? 300),
    forSeconds: ruleFields.forSeconds.nullish().transform((v) => v ?? 0),
    cooldownSeconds: ruleFields.cooldownSeconds.nullish().transform((v) => v ?? 0),
    severity: ruleFields.severity.nullish().transform((v) => v ?? 'WARNING'),
    labels: ruleFields.labels.nullish().transform((v) => v ?? {}),
    webhookUrl: ruleFields.webhookUrl.optional().transform((v) => v ?? null),
    sensitivity: ruleFields.sensitivity.nullish(),
    historyWeeks: ruleFields.historyWeeks.nullish(),
    minHistoryDays: ruleFields.minHistoryDays.nullish(),
  })
  .superRefine((rule, ctx) => {
    if (rule.kind === 'ERROR_RATE' && rule.errorFilters.length === 0) ctx.addIssue({ code: 'custom', path: ['errorFilters'], message: zodMessage('alert.errorRateNeedsFilters') });
  });

const updateSchema = z.object({
  id: z.string().uuid(zodMessage('field.uuid', { field: 'id' })),
  name: ruleFields.name.nullish(),
  aggregation: ruleFields.aggregation.nullish(),
  tags: ruleFields.tags.nullish(),
  filters: ruleFields.filters.nullish(),
  errorFilters: ruleFields.errorFilters.nullish(),
  comparison: ruleFields.comparison.nullish(),
  threshold: ruleFields.threshold.nullish(),
  windowSeconds: ruleFields.windowSeconds.nullish(),
  forSeconds: ruleFields.forSeconds.nullish(),
  cooldownSeconds: ruleFields.cooldownSeconds.nullish(),
  severity: ruleFields.severity.nullish(),
  labels: ruleFields.labels.nullish(),
  webhookUrl: ruleFields.webhookUrl.optional(),
  sensitivity: ruleFields.sensitivity.nullish(),
  historyWeeks: ruleFields.historyWeeks.nullish(),
  minHistoryDays: ruleFields.minHistoryDays.nullish(),
});

const idSchema = z.string().uuid(zodMessage('field.uuid', { field: 'id' }));
const createInput = validated(createSchema);
const updateInput = validated(updateSchema);
const ruleId = validated(idSchema);
const eventCursor = validated(z.coerce.number().int().positive(zodMessage('alert.eventCursor')));
const limitUpTo = (max: number) => validated(z.number().int().min(1, zodMessage('field.range', { field: 'limit', min: 1, max })).max(max, zodMessage('field.range', { field: 'limit', min: 1, max })));
const eventsLimit = limitUpTo(500);
const deliveriesLimit = limitUpTo(200);

const AlertRuleRef = builder.objectRef<AlertRuleRow>('AlertRule').implement({
  description: 'A condition on a metric or metric definition, evaluated every ALERT_EVALUATION_CRON tick.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    kind: t.field({ type: KindEnum, resolve: (r) => r.kind }),
    metric: t.exposeString('metric', { description: 'A recorded metric or a metric definition.' }),
    aggregation: t.field({ type: AggregationEnum, resolve: (r) => r.aggregation as (typeof AGGREGATIONS)[number] }),
    tags: t.field({ type: 'Tags', resolve: (r) => r.tags }),
    filters: t.field({ type: [TagFilterRef], resolve: (r) => r.filters as never }),
    errorFilters: t.field({ type: [TagFilterRef], resolve: (r) => r.error_filters as never }),
    comparison: t.field({ type: ComparisonEnum, resolve: (r) => r.comparison as keyof typeof COMPARISONS }),
    threshold: t.exposeFloat('threshold'),
    windowSeconds: t.exposeInt('window_seconds'),
    forSeconds: t.exposeInt('for_seconds', { description: 'How long the condition must hold before the rule fires (PENDING meanwhile).' }),
    cooldownSeconds: t.exposeInt('cooldown_seconds', { description: 'After firing, how long before it may fire again.' }),
    severity: t.field({ type: SeverityEnum, resolve: (r) => r.severity }),
    labels: t.field({ type: 'Tags', resolve: (r) => r.labels }),
    webhookUrl: t.exposeString('webhook_url', { nullable: true }),
    sensitivity: t.field({ type: SensitivityEnum, description: 'ANOMALY rules.', resolve: (r) => r.sensitivity }),
    historyWeeks: t.exposeInt('history_weeks', { description: 'ANOMALY rules: weeks of history read.' }),
    minHistoryDays: t.exposeInt('min_history_days', { description: 'ANOMALY rules: days of history before the rule can hold.' }),
    paused: t.exposeBoolean('paused'),
    state: t.field({ type: StateEnum, resolve: (r) => r.state }),
    lastValue: t.exposeFloat('last_value', { nullable: true }),
    lastEvaluatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.last_evaluated_at }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updated_at }),
  }),
});

const AlertEventRef = builder.objectRef<AlertEventMessage>('AlertEvent').implement({
  description: 'A rule changing state.',
  fields: (t) => ({
    id: t.exposeID('id'),
    ruleId: t.exposeID('ruleId'),
    ruleName: t.exposeString('ruleName'),
    severity: t.field({ type: SeverityEnum, resolve: (e) => e.severity as (typeof SEVERITIES)[number] }),
    labels: t.field({ type: 'Tags', resolve: (e) => e.labels }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
    from: t.field({ type: StateEnum, resolve: (e) => e.from as (typeof ALERT_STATES)[number] }),
    to: t.field({ type: StateEnum, resolve: (e) => e.to as (typeof ALERT_STATES)[number] }),
    value: t.exposeFloat('value', { nullable: true }),
    threshold: t.exposeFloat('threshold'),
  }),
});

const WebhookAttemptRef = builder.objectRef<WebhookAttemptRow>('WebhookAttempt').implement({
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    at: t.field({ type: 'DateTime', resolve: (a) => a.at }),
    statusCode: t.exposeInt('status_code', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    durationMs: t.exposeFloat('duration_ms'),
  }),
});

const WebhookDeliveryRef = builder.objectRef<WebhookDeliveryRow & { attemptRows: WebhookAttemptRow[] }>('WebhookDelivery').implement({
  description: 'One event sent (or being sent) to a rule’s webhook: retried with exponential backoff up to WEBHOOK_MAX_ATTEMPTS.',
  fields: (t) => ({
    id: t.exposeID('id'),
    eventId: t.exposeID('event_id'),
    ruleId: t.exposeID('rule_id'),
    url: t.exposeString('url'),
    status: t.exposeString('status', { description: 'PENDING, DELIVERED or FAILED.' }),
    attempts: t.field({ type: [WebhookAttemptRef], resolve: (d) => d.attemptRows }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => (d.status === 'PENDING' ? d.next_attempt_at : null) }),
    deliveredAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.delivered_at }),
  }),
});

const CreatedAlertRuleRef = builder.objectRef<{ rule: AlertRuleRow; webhookSecret: string | null }>('CreatedAlertRule').implement({
  fields: (t) => ({
    rule: t.field({ type: AlertRuleRef, resolve: (r) => r.rule }),
    webhookSecret: t.exposeString('webhookSecret', {
      nullable: true,
      description: 'The HMAC-SHA256 key of this rule’s webhook signatures, shown only now: X-Metrograph-Signature is `sha256=` + hex HMAC of `<X-Metrograph-Timestamp>.<body>`.',
    }),
  }),
});

const ruleInputFields = (t: Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0], required: boolean) => ({
  name: t.string({ required }),
  aggregation: t.field({ type: AggregationEnum, description: 'Default AVG.' }),
  tags: t.field({ type: 'Tags', description: 'Only series with these tags.' }),
  filters: t.field({ type: [TagFilterInput] }),
  errorFilters: t.field({ type: [TagFilterInput], description: 'ERROR_RATE: what picks the errors among the series the filters pick.' }),
  comparison: t.field({ type: ComparisonEnum, description: 'Default GT.' }),
  threshold: t.float({ description: 'Default 0.' }),
  windowSeconds: t.int({ description: '60-86400, default 300: the value is the aggregation over the last windowSeconds.' }),
  forSeconds: t.int({ description: '0-86400, default 0.' }),
  cooldownSeconds: t.int({ description: '0-604800, default 0.' }),
  severity: t.field({ type: SeverityEnum, description: 'Default WARNING.' }),
  labels: t.field({ type: 'Tags', description: 'Free key/value pairs sent with its events.' }),
  webhookUrl: t.string({ description: 'https://…, or http:// to localhost; events that fire or resolve are POSTed to it, signed. null removes it.' }),
  sensitivity: t.field({ type: SensitivityEnum, description: 'ANOMALY: default MEDIUM.' }),
  historyWeeks: t.int({ description: 'ANOMALY: 1-8 weeks of history, default 4.' }),
  minHistoryDays: t.int({ description: 'ANOMALY: 1-56, default 7; with less history the rule does not hold.' }),
});

const CreateAlertRuleInput = builder.inputType('CreateAlertRuleInput', {
  fields: (t) => ({
    ...ruleInputFields(t, true),
    kind: t.field({ type: KindEnum, description: 'Default THRESHOLD.' }),
    metric: t.string({ required: true }),
  }),
});

const UpdateAlertRuleInput = builder.inputType('UpdateAlertRuleInput', {
  description: 'Fields left out keep their values.',
  fields: (t) => ({ id: t.id({ required: true }), ...ruleInputFields(t, false) }),
});

const AlertEventsFilter = builder.inputType('AlertEventsFilter', {
  fields: (t) => ({
    ruleIds: t.idList({ description: 'Only these rules.' }),
    severities: t.field({ type: [SeverityEnum], description: 'Only these severities.' }),
  }),
});

/** The metric a rule names must exist in the tenant, as a recorded metric or a definition the caller sees. */
async function checkMetric(ctx: Context, name: string) {
  if (await metricLoader(ctx).load(name)) return;
  const principal = requireTenant(ctx);
  const definitions = await tenantTx(ctx, (trx) => findDefinitions(trx, [name], readerOf(principal)));
  if (definitions.length === 0) throw userError('BAD_USER_INPUT', 'metric.notFoundNorDefinition', { metric: name });
}

/** A rule's change, applied and audited in one transaction of the caller's tenant (a writer: the fields' `access`). */
function changeRuleAs(ctx: Context, id: string, action: AuditAction, set: Record<string, unknown>): Promise<AlertRuleRow> {
  const principal = requireTenant(ctx);
  return tenantTx(ctx, (trx) => changeRule(trx, principal.tenantId, contextActor(ctx), id, action, set));
}

builder.mutationFields((t) => ({
  createAlertRule: t.field({
    type: CreatedAlertRuleRef,
    description: 'A new rule (ADMIN, MANAGER, DEVELOPER), evaluated from the next tick. Its webhook secret is shown only here.',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: CreateAlertRuleInput, required: true, validate: createInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = createInput.of(args.input);
      await checkMetric(ctx, input.metric);
      const webhookSecret = input.webhookUrl ? newWebhookSecret() : null;
      const rule = await tenantTx(ctx, (trx) => createRule(trx, principal, contextActor(ctx), input, webhookSecret));
      return { rule, webhookSecret };
    },
  }),
  updateAlertRule: t.field({
    type: AlertRuleRef,
    description: 'Changes a rule (ADMIN, MANAGER, DEVELOPER). A new webhookUrl keeps the rule’s secret; the first one creates it (see createAlertRule).',
    access: { roles: WRITERS },
    args: { input: t.arg({ type: UpdateAlertRuleInput, required: true, validate: updateInput.validate }) },
    resolve: async (_root, args, ctx) => {
      const input = updateInput.of(args.input);
      const set = ruleColumns(input);
      if (input.webhookUrl !== undefined) {
        set.webhook_url = input.webhookUrl;
        const current = await tenantTx(ctx, (trx) => readRule(trx, input.id));
        set.webhook_secret = input.webhookUrl === null ? null : (current.webhook_secret ?? newWebhookSecret());
      }
      return changeRuleAs(ctx, input.id, 'ALERT_RULE_UPDATED', set);
    },
  }),
  pauseAlertRule: t.field({
    type: AlertRuleRef,
    description: 'Stops evaluating a rule until resumed.',
    access: { roles: WRITERS },
    args: { id: t.arg.id({ required: true, validate: ruleId.validate }) },
    resolve: (_root, args, ctx) => changeRuleAs(ctx, ruleId.of(args.id), 'ALERT_RULE_PAUSED', { paused: true }),
  }),
  resumeAlertRule: t.field({
    type: AlertRuleRef,
    access: { roles: WRITERS },
    args: { id: t.arg.id({ required: true, validate: ruleId.validate }) },
    resolve: (_root, args, ctx) => changeRuleAs(ctx, ruleId.of(args.id), 'ALERT_RULE_RESUMED', { paused: false }),
  }),
  deleteAlertRule: t.field({
    type: 'ID',
    description: 'Deletes a rule and its history; returns its id.',
    access: { roles: WRITERS },
    args: { id: t.arg.id({ required: true, validate: ruleId.validate }) },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const id = ruleId.of(args.id);
      return tenantTx(ctx, (trx) => deleteRule(trx, principal.tenantId, contextActor(ctx), id));
    },
  }),
}));

const eventOf = (row: AlertEventWithRule): AlertEventMessage => ({
  id: String(row.id),
  tenantId: row.tenant_id,
  ruleId: row.rule_id,
  ruleName: row.name,
  severity: row.severity,
  labels: row.labels,
  at: row.at.toISOString(),
  from: row.from_state,
  to: row.to_state,
  value: row.value,
  threshold: row.threshold,
});

builder.queryFields((t) => ({
  alertRules: t.field({
    type: [AlertRuleRef],
    description: 'Every alert rule of the tenant, by name.',
    access: 'tenant',
    resolve: (_root, _args, ctx) => tenantTx(ctx, listRules),
  }),
  alertEvents: t.field({
    type: [AlertEventRef],
    description: 'State changes, newest first; `before` (an event id) pages back.',
    complexity: listOf(100),
    access: 'tenant',
    args: {
      ruleId: t.arg.id({ validate: ruleId.validate }),
      before: t.arg.id({ validate: eventCursor.validate }),
      limit: t.arg.int({ description: '1-500, default 100.', validate: eventsLimit.validate }),
    },
    resolve: async (_root, args, ctx) => {
      const filter = { ruleId: ruleId.of(args.ruleId) ?? null, before: eventCursor.of(args.before) ?? null, limit: eventsLimit.of(args.limit) ?? 100 };
      const rows = await tenantTx(ctx, (trx) => listEvents(trx, filter));
      return rows.map(eventOf);
    },
  }),
  webhookDeliveries: t.field({
    type: [WebhookDeliveryRef],
    description: 'The delivery log of a rule’s webhook, newest first, with every attempt.',
    complexity: listOf(50),
    access: 'tenant',
    args: { ruleId: t.arg.id({ required: true, validate: ruleId.validate }), limit: t.arg.int({ description: '1-200, default 50.', validate: deliveriesLimit.validate }) },
    resolve: async (_root, args, ctx) => {
      const id = ruleId.of(args.ruleId);
      const limit = deliveriesLimit.of(args.limit) ?? 50;
      return tenantTx(ctx, (trx) => listDeliveries(trx, id, limit));
    },
  }),
}));

builder.subscriptionFields((t) => ({
  alertEvents: t.field({
    type: AlertEventRef,
    description: 'State changes of this tenant’s rules as they happen (OK → PENDING → FIRING → RESOLVED), from whichever instance evaluated them.',
    access: 'tenant',
    args: { filter: t.arg({ type: AlertEventsFilter }) },
    subscribe: (_root, args, ctx) => {
      const { tenantId } = requireTenant(ctx);
      const ruleIds = args.filter?.ruleIds?.length ? new Set(args.filter.ruleIds.map(String)) : null;
      const severities = args.filter?.severities?.length ? new Set<string>(args.filter.severities) : null;
      const feed = createFeed(dropOldest<AlertEventMessage>(ctx.deps.env.LIVE_BUFFER_POINTS), () => stop());
      const stop = ctx.deps.alertBus.subscribe(
        tenantId,
        (events) => {
          for (const event of events) if ((!ruleIds || ruleIds.has(event.ruleId)) && (!severities || severities.has(event.severity))) feed.push(event);
        },
        null,
      );
      return feed;
    },
    resolve: ({ item }) => item,
  }),
}));
