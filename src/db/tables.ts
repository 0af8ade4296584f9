import type { ColumnType, Generated, Insertable, Selectable, SelectType } from 'kysely';

/**
 * The one description of our tables and views for TypeScript. Row types are derived from it
 * (`Selectable<MetricsTable>`), never written twice. Keep it in step with migrations/.
 *
 * Views the application role reads (`tenant_*`: filtered by the transaction's tenant) and the
 * continuous aggregates behind them are read-only here (`View<…>`: every column's insert and
 * update type is never, so an update of them does not compile). Statements that pick a level at run time still write SQL
 * (src/query/read-buckets.ts), but name it as `AggregateView` so the name is checked against
 * this interface, and take their rows' types from it.
 */
export interface Database extends AggregateViews {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  metrics: MetricsTable;
  series: SeriesTable;
  point_ids: PointIdsTable;
  /** The points hypertable: the owner's only (retention, purge); requests use the two views below. */
  points: PointsTable;
  /** The application role's way to read the points hypertable: filtered by the transaction's tenant. */
  tenant_points: View<PointsTable>;
  /**
   * Its only way to write points (insert only): the check option refuses a row of another
   * tenant or on a series not the tenant's (migrations/0092_point_writes_view.sql).
   */
  tenant_point_writes: PointsTable;
  service_state: ServiceStateTable;
  metrograph_migrations: MigrationsTable;
  // Scheduled and requested jobs (migrations/0010).
  job_runs: JobRunsTable;
  // Metric definitions and report rollups (migrations/0020, 0021).
  metric_definitions: MetricDefinitionsTable;
  metric_definition_versions: MetricDefinitionVersionsTable;
  report_rollup_periods: RollupPeriodsTable;
  report_rollup_stats: RollupStatsTable;
  report_rollup_sketch: RollupSketchTable;
  // Audit log, retention, alert rules (migrations/0030-0039).
  audit_log: AuditLogTable;
  tenant_retention: TenantRetentionTable;
  retention_floors: RetentionFloorsTable;
  alert_rules: AlertRulesTable;
  alert_events: AlertEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  // Cardinality budgets, aggregates to fill, late-point ranges, cumulative state (0045-0060).
  tenant_limits: TenantLimitsTable;
  aggregate_backfill: AggregateBackfillTable;
  aggregate_invalidations: AggregateInvalidationsTable;
  cumulative_state: CumulativeStateTable;
  /** Each series' tag groups (migrations/0076): the owner's only; written by a trigger. */
  series_groups: SeriesGroupsTable;
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
/** A jsonb column: written as its JSON text. */
type Json<T> = ColumnType<T, string, string>;

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

// Scheduled and requested jobs (migrations/0010).

export type JobStatus = 'RUNNING' | 'COMPLETED' | 'FAILED';

/** One run of a job; the unique (job, tick, tenant) row is the lock that makes a tick run once. */
export interface JobRunsTable {
  id: Generated<number>;
  job: string;
  tick: Date;
  /** null for a job over every tenant; a tenant's id for work it asked for (a backfill). */
  tenant_id: string | null;
  range_from: Date | null;
  range_to: Date | null;
  status: JobStatus;
  rows: number | null;
  started_at: CreatedAt;
  finished_at: Date | null;
  duration_ms: number | null;
  error: string | null;
  instance: string | null;
}

// Report rollups (migrations/0021): per series and period, the statistics and sketch cells.

export interface RollupStatsTable {
  tenant_id: string;
  series_id: number;
  period: RollupPeriod;
  start: Date;
  n: number;
  s: number;
  mn: number;
  mx: number;
  lt: Date;
  lv: number;
}

export interface RollupSketchTable {
  tenant_id: string;
  series_id: number;
  period: RollupPeriod;
  start: Date;
  /** A sketch cell's key (migrations/0051) and how many values it holds. */
  k: number;
  n: number;
}

// Cardinality budgets, aggregates to fill, late-point ranges, cumulative state (0045-0060).

/** A tenant's overrides of the service's cardinality budgets; null keeps the default. Written by the owner only. */
export interface TenantLimitsTable {
  tenant_id: string;
  max_series: number | null;
  max_series_per_metric: number | null;
  max_tag_values: number | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** Continuous aggregates still to fill from the points stored before they existed, in refresh order (0052). */
export interface AggregateBackfillTable {
  position: number;
  view_name: string;
}

/** A late-point range: per tenant, metric and UTC hour, the oldest and newest late point not yet recomputed (0058). */
export interface AggregateInvalidationsTable {
  tenant_id: string;
  metric_id: number;
  bucket: Date;
  lo: Date;
  hi: Date;
  /** Counts the writes that widened the row; the job deletes it only if no write came meanwhile. */
  generation: Generated<number>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** The last cumulative value of a series that arrives cumulative (src/ingest/cumulative.ts), so increments can be stored. */
export interface CumulativeStateTable {
  tenant_id: string;
  /** A hash of the metric name and tags (not a series id: refused series keep a state too). */
  series_key: string;
  time: Date;
  state: Json<unknown>;
}

/** One row per series and tag key, plus key '' for the whole metric (migrations/0076). */
export interface SeriesGroupsTable {
  series_id: number;
  key: string;
  tenant_id: string;
  metric_id: number;
  value: string;
}

// Aggregate levels (migrations/0052, 0076), TimescaleDB only.

/** A view: selectable, never inserted into or updated. */
type View<T> = { [K in keyof T]: ColumnType<SelectType<T[K]>, never, never> };

/** The widths of the series levels and of the tag-group levels (src/query/plan.ts LEVELS, GROUP_LEVELS). */
export type SeriesLevel = '1m' | '5m' | '1h' | '1d';
export type GroupLevel = '1h' | '1d';

/** A series level's statistics per bucket: count, sum, min, max, and the time and value of the newest point. */
export interface LevelStats {
  series_id: number;
  bucket: Date;
  n: number;
  s: number;
  mn: number;
  mx: number;
  lt: Date;
  lv: number;
}

/** A series level's sketch per bucket: cell keys and their counts (ws null: every count is 1). */
export interface LevelSketch {
  series_id: number;
  bucket: Date;
  ks: number[];
  ws: number[] | null;
}

/** A tag group (metric, key, value) in place of a series. */
export type GroupStats = Omit<LevelStats, 'series_id'> & { metric_id: number; key: string; value: string };
/**
 * A tag group's sketch per bucket; qr keeps its total count and, per quantile of
 * KEPT_QUANTILES (src/query/sketch.ts), the cell keys at its lower and upper rank (migrations/0091).
 */
export type GroupSketch = Omit<LevelSketch, 'series_id'> & { metric_id: number; key: string; value: string; qr: number[] };

type Owned<T> = T & { tenant_id: string };

/**
 * Every level by name. `tenant_*`: the application role's views, filtered by the transaction's
 * tenant; without the prefix: the continuous aggregates themselves, the owner's only.
 */
export type AggregateViews = { [L in SeriesLevel as `tenant_stats_${L}`]: View<LevelStats> } & { [L in SeriesLevel as `tenant_sketch_${L}`]: View<LevelSketch> } & {
  [L in GroupLevel as `tenant_group_stats_${L}`]: View<GroupStats>;
} & { [L in GroupLevel as `tenant_group_sketch_${L}`]: View<GroupSketch> } & { [L in SeriesLevel as `stats_${L}`]: View<Owned<LevelStats>> } & {
  [L in SeriesLevel as `sketch_${L}`]: View<Owned<LevelSketch>>;
} & { [L in GroupLevel as `group_stats_${L}`]: View<Owned<GroupStats>> } & { [L in GroupLevel as `group_sketch_${L}`]: View<Owned<GroupSketch>> };

/** The name of a tenant's view of an aggregate level, e.g. `tenant_stats_1h`, `tenant_group_sketch_1d`. */
export type AggregateView = `tenant_${'stats' | 'sketch'}_${SeriesLevel}` | `tenant_group_${'stats' | 'sketch'}_${GroupLevel}`;
