/**
 * Alert rules as the tenant manages them: create, change, delete, list, and their history
 * (events, webhook deliveries). Every function takes the caller's tenant transaction and, for
 * changes, the actor the audit row names: the change and its audit row commit together.
 * Evaluation is src/alerts/evaluate.ts.
 */
import { randomBytes } from 'node:crypto';
import { audit, auditRow, type Actor, type AuditAction } from '../audit.js';
import type { TenantPrincipal } from '../auth.js';
import type { TenantTx } from '../db/tenant.js';
import { userError } from '../errors.js';
import type { AlertEventRow, AlertRuleRow, WebhookAttemptRow, WebhookDeliveryRow } from '../db/tables.js';

/** A rule's settable fields as the API names them; absent or null leaves a column as it is. */
export interface RuleFields {
  name?: string | null;
  aggregation?: string | null;
  tags?: unknown;
  filters?: unknown;
  errorFilters?: unknown;
  comparison?: string | null;
  threshold?: number | null;
  windowSeconds?: number | null;
  forSeconds?: number | null;
  cooldownSeconds?: number | null;
  severity?: string | null;
  labels?: unknown;
  sensitivity?: string | null;
  historyWeeks?: number | null;
  minHistoryDays?: number | null;
}

/** The columns of `input`'s given fields (JSON columns as text). */
export function ruleColumns(input: RuleFields): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  const json = (value: unknown) => JSON.stringify(value);
  if (input.name != null) row.name = input.name;
  if (input.aggregation != null) row.aggregation = input.aggregation;
  if (input.tags != null) row.tags = json(input.tags);
  if (input.filters != null) row.filters = json(input.filters);
  if (input.errorFilters != null) row.error_filters = json(input.errorFilters);
  if (input.comparison != null) row.comparison = input.comparison;
  if (input.threshold != null) row.threshold = input.threshold;
  if (input.windowSeconds != null) row.window_seconds = input.windowSeconds;
  if (input.forSeconds != null) row.for_seconds = input.forSeconds;
  if (input.cooldownSeconds != null) row.cooldown_seconds = input.cooldownSeconds;
  if (input.severity != null) row.severity = input.severity;
  if (input.labels != null) row.labels = json(input.labels);
  if (input.sensitivity != null) row.sensitivity = input.sensitivity;
  if (input.historyWeeks != null) row.history_weeks = input.historyWeeks;
  if (input.minHistoryDays != null) row.min_history_days = input.minHistoryDays;
  return row;
}

/** A new webhook secret (192 bits), shown to the rule's creator once. */
export const newWebhookSecret = () => randomBytes(24).toString('base64url');

/** A second rule of the same name is a unique violation: the user's to fix. */
function refuseDuplicate(error: unknown, name: string | null | undefined): never {
  if ((error as { code?: string }).code === '23505') throw userError('BAD_USER_INPUT', 'alert.exists', { name: String(name) });
  throw error;
}

export async function readRule(trx: TenantTx, id: string): Promise<AlertRuleRow> {
  const rule = await trx.selectFrom('alert_rules').selectAll().where('id', '=', id).executeTakeFirst();
  if (!rule) throw userError('NOT_FOUND', 'alert.notFound', { id });
  return rule;
}

/** Creates a rule owned by `principal` (kept so evaluation reads as its creator). */
export async function createRule(
  trx: TenantTx,
  principal: TenantPrincipal,
  actor: Actor,
  input: RuleFields & { kind: AlertRuleRow['kind']; metric: string; webhookUrl: string | null },
  webhookSecret: string | null,
): Promise<AlertRuleRow> {
  const row = await trx
    .insertInto('alert_rules')
    .values({
      tenant_id: principal.tenantId,
      kind: input.kind,
      metric: input.metric,
      ...(ruleColumns(input) as { name: string; aggregation: string; tags: string; filters: string; error_filters: string; comparison: string; threshold: number; window_seconds: number; for_seconds: number; cooldown_seconds: number; severity: 'WARNING'; labels: string }),
      webhook_url: input.webhookUrl,
      webhook_secret: webhookSecret,
      created_by: principal.keyId ? `key:${principal.keyId}` : principal.subject ? `jwt:${principal.subject}` : null,
      created_role: principal.role,
      created_key_id: principal.keyId,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
    .catch((error) => refuseDuplicate(error, input.name));
  await audit(trx, auditRow(principal.tenantId, actor, { action: 'ALERT_RULE_CREATED', target: row.id, details: { name: row.name, kind: row.kind, metric: row.metric } }));
  return row;
}

/** Sets `set` (columns) on rule `id` and audits `action`; NOT_FOUND for a rule the tenant lacks. */
export async function changeRule(trx: TenantTx, tenantId: string, actor: Actor, id: string, action: AuditAction, set: Record<string, unknown>): Promise<AlertRuleRow> {
  const rule = await trx
    .updateTable('alert_rules')
    .set({ ...set, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
    .catch((error) => refuseDuplicate(error, set.name as string | undefined));
  if (!rule) throw userError('NOT_FOUND', 'alert.notFound', { id });
  await audit(trx, auditRow(tenantId, actor, { action, target: id, details: { name: rule.name, changed: Object.keys(set).filter((k) => k !== 'webhook_secret') } }));
  return rule;
}

/** Deletes rule `id` and its history (cascade); returns its id. */
export async function deleteRule(trx: TenantTx, tenantId: string, actor: Actor, id: string): Promise<string> {
  const row = await trx.deleteFrom('alert_rules').where('id', '=', id).returning(['id', 'name']).executeTakeFirst();
  if (!row) throw userError('NOT_FOUND', 'alert.notFound', { id });
  await audit(trx, auditRow(tenantId, actor, { action: 'ALERT_RULE_DELETED', target: id, details: { name: row.name } }));
  return row.id;
}

export function listRules(trx: TenantTx): Promise<AlertRuleRow[]> {
  return trx.selectFrom('alert_rules').selectAll().orderBy('name').execute();
}

export type AlertEventWithRule = AlertEventRow & Pick<AlertRuleRow, 'name' | 'severity' | 'labels'>;

/** State changes, newest first, optionally of one rule and before an event id. */
export function listEvents(trx: TenantTx, options: { ruleId: string | null; before: number | null; limit: number }): Promise<AlertEventWithRule[]> {
  let query = trx.selectFrom('alert_events as e').innerJoin('alert_rules as r', 'r.id', 'e.rule_id').selectAll('e').select(['r.name', 'r.severity', 'r.labels']);
  if (options.ruleId) query = query.where('e.rule_id', '=', options.ruleId);
  if (options.before) query = query.where('e.id', '<', options.before);
  return query.orderBy('e.id', 'desc').limit(options.limit).execute();
}

/** A rule's webhook deliveries, newest first, each with its attempts in order. */
export async function listDeliveries(trx: TenantTx, ruleId: string, limit: number): Promise<Array<WebhookDeliveryRow & { attemptRows: WebhookAttemptRow[] }>> {
  const deliveries = await trx.selectFrom('webhook_deliveries').selectAll().where('rule_id', '=', ruleId).orderBy('id', 'desc').limit(limit).execute();
  const attempts = deliveries.length
    ? await trx.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', deliveries.map((d) => d.id)).orderBy('attempt').execute()
    : [];
  return deliveries.map((d) => ({ ...d, attemptRows: attempts.filter((a) => a.delivery_id === d.id) }));
}
