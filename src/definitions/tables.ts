/**
 * The rows of metric definitions and report rollups (migrations/0020, 0021). Their tables are
 * declared in the one Database interface, src/db/tables.ts; these names stay for the modules
 * that import them from here (src/query/read-buckets.ts among them).
 */
export type { DefinitionRow, DefinitionVersionRow, MetricDefinitionVersionsTable, MetricDefinitionsTable, RollupPeriod, RollupPeriodsTable, Visibility } from '../db/tables.js';
