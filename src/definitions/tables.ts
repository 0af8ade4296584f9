import type { ColumnType, Generated, Selectable, Transaction } from 'kysely';
import type { Database } from '../db/tables.js';
import type { TenantTx } from '../db/tenant.js';
import type { TagFilter } from '../db/tables.js';

/**
 * The tables of migrations/0020 and 0021, added to the shared Database type where they are
 * used (`definitionTables(trx)`), so this area's rows are declared once, next to its code.
 */
export type DefinitionTables = {
  metric_definitions: MetricDefinitionsTable;
  metric_definition_versions: MetricDefinitionVersionsTable;
  report_rollup_periods: RollupPeriodsTable;
};

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

export type DefinitionTx = Transaction<Database & DefinitionTables>;

/** The same transaction, typed with this area's tables too. */
export function definitionTables(trx: TenantTx): DefinitionTx {
  return trx.withTables<DefinitionTables>() as DefinitionTx;
}
