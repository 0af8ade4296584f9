import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * The one description of our tables for TypeScript. Row types are derived from it
 * (`Selectable<MetricsTable>`), never written twice. Keep it in step with migrations/.
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
}

export const ROLES = ['ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER'] as const;
export type Role = (typeof ROLES)[number];

export const METRIC_TYPES = ['COUNTER', 'GAUGE', 'HISTOGRAM', 'SUMMARY'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

export type Tags = Record<string, string>;

/**
 * A tag filter as stored with a definition (metric_definition_versions.filters) and as a query
 * takes it. src/query/aggregate.ts declares the same union (TagFilter); test/layers.test.ts
 * holds the two equal until that file re-exports this one.
 */
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
