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
