/**
 * The rows of the audit log, retention and alert tables (migrations/0030-0039). Their tables are
 * declared in the one Database interface, src/db/tables.ts; these names stay for the modules
 * that import them from here.
 */
export type { ActorKind, AlertEventRow, AlertEventsTable, AlertRuleRow, AlertRulesTable, AuditLogTable, AuditRow, NewAuditRow, RetentionFloorsTable, TenantRetentionTable, WebhookAttemptRow, WebhookAttemptsTable, WebhookDeliveriesTable, WebhookDeliveryRow } from '../db/tables.js';
