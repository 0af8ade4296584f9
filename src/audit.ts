/**
 * The audit log (migrations/0030_audit.sql): who did what, when and from where.
 *
 * A change and its audit row are written in the same tenant transaction (`audit(trx, …)`), so
 * one never commits without the other. Reads (METRICS_QUERIED) change nothing, so their row is
 * written right after the answer, by a Yoga plugin that sees every operation.
 */
import type { IncomingMessage } from 'node:http';
import { getArgumentValues, getVariableValues, Kind, type DocumentNode, type ExecutionResult, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Kysely } from 'kysely';
import type { Principal } from './auth.js';
import type { ActorKind, AuditRow, Database, NewAuditRow, Role } from './db/tables.js';
import { withTenant, type TenantTx } from './db/tenant.js';
import type { Logger } from './log.js';

export const AUDIT_ACTIONS = [
  'METRIC_RECORDED',
  'METRICS_BATCH_RECORDED',
  'METRICS_QUERIED',
  'METRICS_PURGED',
  'METRICS_EXPORTED',
  'EXPORT_URL_CREATED',
  'RETENTION_CHANGED',
  'API_KEY_CREATED',
  'API_KEY_REVOKED',
  'ALERT_RULE_CREATED',
  'ALERT_RULE_UPDATED',
  'ALERT_RULE_DELETED',
  'ALERT_RULE_PAUSED',
  'ALERT_RULE_RESUMED',
  'METRIC_DEFINITION_CREATED',
  'METRIC_DEFINITION_UPDATED',
  'METRIC_DEFINITION_DELETED',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who is acting and from where: everything of a row that is not about the action. */
export interface Actor {
  kind: ActorKind;
  keyId: string | null;
  subject: string | null;
  role: Role | null;
  requestId: string | null;
  ip: string | null;
  forwardedFor: string | null;
  userAgent: string | null;
}

/** Where a request came from: the peer address, any X-Forwarded-For (recorded, not trusted) and the user agent. */
export interface ClientInfo {
  ip: string | null;
  forwardedFor: string | null;
  userAgent: string | null;
}

const clip = (value: string | string[] | undefined, max: number) => (typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null);

export function clientOf(req: IncomingMessage | undefined): ClientInfo {
  return {
    ip: req?.socket?.remoteAddress ?? null,
    forwardedFor: clip(req?.headers['x-forwarded-for'], 500),
    userAgent: clip(req?.headers['user-agent'], 500),
  };
}

export function actorOf(principal: Principal | null, requestId: string | null, client: ClientInfo | undefined): Actor {
  const where = { requestId, ip: client?.ip ?? null, forwardedFor: client?.forwardedFor ?? null, userAgent: client?.userAgent ?? null };
  if (principal?.kind === 'tenant') {
    return { kind: principal.via, keyId: principal.keyId, subject: principal.subject ?? null, role: principal.role, ...where };
  }
  return { kind: principal?.kind === 'operator' ? 'operator' : 'system', keyId: null, subject: null, role: null, ...where };
}

/** Who made a request or WebSocket operation: what the audit log needs of the GraphQL context. */
export interface Caller {
  principal: Principal | null;
  requestId: string;
  client?: ClientInfo;
}

/** The caller of a request or WebSocket operation. */
export function contextActor(ctx: Caller): Actor {
  return actorOf(ctx.principal, ctx.requestId, ctx.client);
}

/** The service acting on its own (a scheduled job). */
export const SYSTEM_ACTOR: Actor = { kind: 'system', keyId: null, subject: null, role: null, requestId: null, ip: null, forwardedFor: null, userAgent: null };

export interface AuditEntry {
  action: AuditAction;
  target?: string | null;
  details?: Record<string, unknown>;
}

/** The row for `entry` by `actor` in `tenantId`. */
export function auditRow(tenantId: string, actor: Actor, entry: AuditEntry): NewAuditRow {
  return {
    tenant_id: tenantId,
    actor_kind: actor.kind,
    actor_key_id: actor.keyId,
    actor_subject: actor.subject?.slice(0, 200) ?? null,
    actor_role: actor.role,
    action: entry.action,
    target: entry.target?.slice(0, 500) ?? null,
    details: JSON.stringify(entry.details ?? {}),
    request_id: actor.requestId,
    source_ip: actor.ip,
    forwarded_for: actor.forwardedFor,
    user_agent: actor.userAgent,
  };
}

/** Appends audit rows in the caller's tenant transaction: they commit with the change they describe. */
export async function audit(trx: TenantTx, rows: NewAuditRow | NewAuditRow[]): Promise<void> {
  const list = Array.isArray(rows) ? rows : [rows];
  if (list.length === 0) return;
  // tenant_id is checked by the row-level security policy: a row for another tenant is refused.
  await trx.insertInto('audit_log').values(list).execute();
}

/**
 * The tenant's audit rows, newest first, before row id `before` (the previous page's last),
 * filtered by action, acting key, target and time [from, to); at most `limit` + 1 rows, so the
 * caller can tell whether a next page exists.
 */
export function readAuditLog(
  trx: TenantTx,
  options: { actions?: AuditAction[] | null; keyId?: string | null; target?: string | null; from?: Date | null; to?: Date | null; before: number | null; limit: number },
): Promise<AuditRow[]> {
  let query = trx.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(options.limit + 1);
  if (options.before != null) query = query.where('id', '<', options.before as never);
  if (options.actions?.length) query = query.where('action', 'in', options.actions);
  if (options.keyId) query = query.where('actor_key_id', '=', options.keyId);
  if (options.target) query = query.where('target', '=', options.target);
  if (options.from) query = query.where('at', '>=', options.from as never);
  if (options.to) query = query.where('at', '<', options.to as never);
  return query.execute();
}

/** Root query fields whose calls are audited as METRICS_QUERIED, and how big each answer is. */
const AUDITED_QUERIES: Record<string, (data: unknown) => Record<string, number>> = {
  metricAggregates: (data) => {
    const series = (data as { series?: Array<{ buckets?: unknown[] }> } | null)?.series;
    const size: Record<string, number> = {};
    if (series) Object.assign(size, { series: series.length, buckets: series.reduce((n, s) => n + (s.buckets?.length ?? 0), 0) });
    return size;
  },
  metricPoints: (data) => {
    const points = (data as { points?: unknown[] } | null)?.points;
    const size: Record<string, number> = {};
    if (points) size.points = points.length;
    return size;
  },
};

/**
 * The root fields an operation selects, also those behind fragments (named or inline, nested):
 * `{ ...F }` with `fragment F on Query { metricAggregates(…) }` queries metrics as surely as the
 * field written out does. Each fragment is followed once (a cycle is a validation error anyway).
 */
export function rootFields(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): FieldNode[] {
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.push(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fields.push(...rootFields(document, selection.selectionSet, seen));
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment) fields.push(...rootFields(document, fragment.selectionSet, seen));
    }
  }
  return fields;
}

/**
 * Writes a METRICS_QUERIED row for each audited root field of a query: its arguments as
 * coerced (the query), the size of the answer and whether it failed. A failure to write the
 * row is logged and never fails the query that was already answered.
 */
export function useQueryAudit(kysely: Kysely<Database>, log: Logger): Plugin<Caller> {
  return {
    onExecute({ args }) {
      const document = args.document as DocumentNode;
      const operation = document.definitions.find(
        (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!args.operationName || d.name?.value === args.operationName),
      );
      if (operation?.operation !== 'query') return;
      const fields = rootFields(document, operation.selectionSet).filter((s) => s.name.value in AUDITED_QUERIES);
      if (fields.length === 0) return;
      const ctx = args.contextValue;
      const principal = ctx.principal;
      if (principal?.kind !== 'tenant') return;
      return {
        async onExecuteDone({ result }) {
          if (Symbol.asyncIterator in result) return;
          const { data, errors } = result as ExecutionResult<Record<string, unknown>>;
          const queryType = args.schema.getQueryType()!;
          const actor = contextActor(ctx);
          // Variables as the resolvers saw them (DateTime strings parsed, defaults applied).
          const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
          const rows = fields.map((node) => {
            const name = node.name.value;
            const key = node.alias?.value ?? name;
            let input: Record<string, unknown> = {};
            try {
              if (variables.coerced) input = getArgumentValues(queryType.getFields()[name]!, node, variables.coerced);
            } catch {
              // Arguments that did not coerce: the query failed before running; its error is recorded below.
            }
            const failed = errors?.find((e) => e.path?.[0] === key);
            return auditRow(principal.tenantId, actor, {
              action: 'METRICS_QUERIED',
              target: name,
              details: {
                query: input,
                result: failed ? { error: failed.extensions?.code ?? 'INTERNAL' } : { ...AUDITED_QUERIES[name]!(data?.[key]), bytes: JSON.stringify(data?.[key] ?? null).length },
              },
            });
          });
          await withTenant(kysely, principal.tenantId, (trx) => audit(trx, rows)).catch((error) =>
            log.error({ requestId: ctx.requestId, err: (error as Error).message }, 'audit: could not record a query'),
          );
        },
      };
    },
  };
}
