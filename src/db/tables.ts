import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * The one description of our tables for TypeScript. Row types are derived from it
 * (`Selectable<MetricsTable>`), never written twice. Keep it in step with migrations/.
 * Not typed yet: the aggregate views (tenant_stats_*, tenant_sketch_*, the rollup views),
 * job_runs, tenant_limits, cumulative_state and late_ranges, read and written as raw `sql`
 * by their modules (several of them in files other work is changing now; see issue #14).
 */
export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  metrics: MetricsTable;
  series: SeriesTable;
  point_ids: PointIdsTable;
  /** The application role's only way to the points hypertable: filtered by the transaction's tenant. */
  tenant_points: PointsTable;
  service_state: ServiceStateTable;
  metrograph_migrations: MigrationsTable;
  // Metric definitions and report rollups (migrations/0020, 0021).
  metric_definitions: MetricDefinitionsTable;
  metric_definition_versions: MetricDefinitionVersionsTable;
  report_rollup_periods: RollupPeriodsTable;
  // Audit log, retention, alert rules (migrations/0030-0039).
  audit_log: AuditLogTable;
  tenant_retention: TenantRetentionTable;
  retention_floors: RetentionFloorsTable;
  alert_rules: AlertRulesTable;
  alert_events: AlertEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export const ROLES = ['ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER'] as const;
export type Role = (typeof ROLES)[number];

export const METRIC_TYPES = ['COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

export type Tags = Record<string, string>;

/** A tag filter as stored with a definition (metric_definition_versions.filters) and as a query takes it. */
export type TagFilter =
  | { key: string; equals: string }
  | { key: string; notEquals: string }
  | { key: string; in: string[] }
  | { key: string; notIn: string[] }
  | { key: string; exists: boolean };

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface TenantsTable {
  id: string;
  name: string;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: Generated<string>;
  tenant_id: string;
  name: string;
  role: Role;
  /** The first characters of the key, shown in listings so people can tell keys apart. */
  prefix: string;
  /** sha256 of the whole key, hex. The key itself is never stored. */
  key_hash: string;
  created_at: CreatedAt;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

export interface MetricsTable {
  id: Generated<number>;
  tenant_id: string;
  name: string;
  type: MetricType;
  unit: string | null;
  created_at: CreatedAt;
}

export interface SeriesTable {
  id: Generated<number>;
  tenant_id: string;
  metric_id: number;
  tags: ColumnType<Tags, string, string>;
  created_at: CreatedAt;
}

export interface PointIdsTable {
  tenant_id: string;
  id: string;
  created_at: CreatedAt;
}

export interface PointsTable {
  tenant_id: string;
  series_id: number;
  time: ColumnType<Date, Date | string, never>;
  value: number;
  id: string;
  /** How many observations the row stands for; null = 1 (migrations/0050_distribution_points.sql). */
  weight: number | null;
  /** Exact sum − Σ value × weight over a distribution point's rows; null = 0. */
  sum_adjust: number | null;
  /** A distribution point's exact min and max; null = value. */
  min_value: number | null;
  max_value: number | null;
}

export interface ServiceStateTable {
  key: string;
  value: unknown;
}

export interface MigrationsTable {
  name: string;
  applied_at: CreatedAt;
  skipped: boolean;
}

export type Metric = Selectable<MetricsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;

// Metric definitions and report rollups (migrations/0020, 0021).

export type Visibility = 'PRIVATE' | 'TENANT';

export interface MetricDefinitionsTable {
  id: Generated<string>;
  tenant_id: string;
  name: string;
  visibility: Visibility;
  /** `key:<api key id>`, or null for a creator without a kept identity (a JWT). */
  created_by: string | null;
  version: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface MetricDefinitionVersionsTable {
  tenant_id: string;
  definition_id: string;
  version: number;
  formula: string;
  description: string | null;
  unit: string | null;
  filters: ColumnType<TagFilter[], string, never>;
  group_by: ColumnType<string[], string, never>;
  metrics: string[];
  created_by: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export type RollupPeriod = 'DAY' | 'WEEK' | 'MONTH';

export interface RollupPeriodsTable {
  tenant_id: string;
  period: RollupPeriod;
  start: Date;
  end: Date;
  rolled_at: ColumnType<Date, Date | undefined, Date>;
}

export type DefinitionRow = Selectable<MetricDefinitionsTable>;
export type DefinitionVersionRow = Selectable<MetricDefinitionVersionsTable>;

// Audit log, retention, alert rules (migrations/0030-0039).

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
