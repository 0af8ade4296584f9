import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Database, Role } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';

/**
 * The tables of migrations/0030-0039 (audit log, retention, alert rules), added to the shared
 * Database type where they are used (`opsTables(trx)`), so their rows are declared once, next
 * to the code that uses them.
 */
export type OpsTables = {
  audit_log: AuditLogTable;
  tenant_retention: TenantRetentionTable;
  retention_floors: RetentionFloorsTable;
  alert_rules: AlertRulesTable;
  alert_events: AlertEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
};

export type OpsTx = Transaction<Database & OpsTables>;

/** The same tenant transaction, typed with these tables too. */
export function opsTables(trx: TenantTx): OpsTx {
  return trx as unknown as OpsTx;
}

/** The owner's connection, typed with these tables: for jobs that act for the whole service. */
export function opsDb(kysely: Kysely<Database>): Kysely<Database & OpsTables> {
  return kysely as unknown as Kysely<Database & OpsTables>;
}

export type ActorKind = 'api_key' | 'jwt' | 'operator' | 'system';

export interface AuditLogTable {
  id: Generated<number>;
  tenant_id: string;
  at: ColumnType<Date, never, never>;
  actor_kind: ActorKind;
  actor_key_id: string | null;
  actor_subject: string | null;
  actor_role: Role | null;
  action: string;
  target: string | null;
  details: ColumnType<Record<string, unknown>, string, never>;
  request_id: string | null;
  source_ip: string | null;
  forwarded_for: string | null;
  user_agent: string | null;
}

export type AuditRow = Selectable<AuditLogTable>;
export type NewAuditRow = Insertable<AuditLogTable>;

/** Days per source; null: the service's default (src/ops/retention.ts). */
export interface TenantRetentionTable {
  tenant_id: string;
  raw_days: number | null;
  minute_days: number | null;
  five_minute_days: number | null;
  hour_days: number | null;
  day_days: number | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface RetentionFloorsTable {
  source: 'raw' | '1m' | '1h';
  sealed_before: Date;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

type Json<T> = ColumnType<T, string, string>;

export interface AlertRulesTable {
  id: Generated<string>;
  tenant_id: string;
  name: string;
  kind: 'THRESHOLD' | 'ERROR_RATE' | 'ABSENCE' | 'ANOMALY';
  metric: string;
  aggregation: string;
  tags: Json<Record<string, string>>;
  filters: Json<unknown[]>;
  error_filters: Json<unknown[]>;
  comparison: string;
  threshold: number;
  window_seconds: number;
  for_seconds: number;
  cooldown_seconds: number;
  severity: 'INFO' | 'WARNING' | 'CRITICAL';
  labels: Json<Record<string, string>>;
  webhook_url: string | null;
  webhook_secret: string | null;
  /** ANOMALY rules (migration 0075): LOW, MEDIUM, HIGH; weeks of history read; days of history before judging. */
  sensitivity: ColumnType<'LOW' | 'MEDIUM' | 'HIGH', 'LOW' | 'MEDIUM' | 'HIGH' | undefined, 'LOW' | 'MEDIUM' | 'HIGH'>;
  history_weeks: ColumnType<number, number | undefined, number>;
  min_history_days: ColumnType<number, number | undefined, number>;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
  created_by: string | null;
  created_role: Role;
  created_key_id: string | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  state: ColumnType<'OK' | 'PENDING' | 'FIRING' | 'RESOLVED', never, 'OK' | 'PENDING' | 'FIRING' | 'RESOLVED'>;
  pending_since: ColumnType<Date | null, never, Date | null>;
  last_fired_at: ColumnType<Date | null, never, Date | null>;
  last_value: ColumnType<number | null, never, number | null>;
  last_evaluated_at: ColumnType<Date | null, never, Date | null>;
}
export type AlertRuleRow = Selectable<AlertRulesTable>;

export interface AlertEventsTable {
  id: Generated<number>;
  tenant_id: string;
  rule_id: string;
  at: Date;
  from_state: string;
  to_state: string;
  value: number | null;
  threshold: number;
  details: Json<Record<string, unknown>>;
}
export type AlertEventRow = Selectable<AlertEventsTable>;

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  tenant_id: string;
  event_id: number;
  rule_id: string;
  url: string;
  status: ColumnType<'PENDING' | 'DELIVERED' | 'FAILED', 'PENDING' | undefined, 'PENDING' | 'DELIVERED' | 'FAILED'>;
  attempts: ColumnType<number, never, number>;
  next_attempt_at: ColumnType<Date, Date | undefined, Date>;
  last_status_code: ColumnType<number | null, never, number | null>;
  last_error: ColumnType<string | null, never, string | null>;
  delivered_at: ColumnType<Date | null, never, Date | null>;
  created_at: ColumnType<Date, never, never>;
}
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;

export interface WebhookAttemptsTable {
  id: Generated<number>;
  tenant_id: string;
  delivery_id: number;
  attempt: number;
  at: ColumnType<Date, never, never>;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
