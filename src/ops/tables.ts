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
