import { z } from 'zod';
import { builder, listOf } from '../builder.js';
import { ADMINS, tenantTx } from '../context.js';
import { AUDIT_ACTIONS, readAuditLog, type AuditAction } from '../audit.js';
import { userError } from '../errors.js';
import { validated } from './validated.js';
import type { AuditRow } from '../db/tables.js';
import { RoleEnum } from './tenancy.js';
import { zodMessage } from '../messages.js';

const AuditActionEnum = builder.enumType('AuditAction', {
  values: Object.fromEntries(AUDIT_ACTIONS.map((action) => [action, {}])) as Record<AuditAction, object>,
});

const ActorKindEnum = builder.enumType('AuditActorKind', {
  values: {
    API_KEY: { description: 'An API key (keyId).' },
    JWT: { description: 'A JWT (subject: its `sub` claim, when it has one).' },
    OPERATOR: { description: 'The operator token.' },
    SYSTEM: { description: 'The service itself, e.g. a scheduled job.' },
  } as const,
});

const AuditActorRef = builder.objectRef<AuditRow>('AuditActor').implement({
  fields: (t) => ({
    kind: t.field({ type: ActorKindEnum, resolve: (row) => row.actor_kind.toUpperCase() as 'API_KEY' | 'JWT' | 'OPERATOR' | 'SYSTEM' }),
    keyId: t.exposeID('actor_key_id', { nullable: true }),
    subject: t.exposeString('actor_subject', { nullable: true }),
    role: t.field({ type: RoleEnum, nullable: true, resolve: (row) => row.actor_role }),
  }),
});

const AuditEntryRef = builder.objectRef<AuditRow>('AuditEntry').implement({
  description: 'One audited action. Entries are never changed or removed.',
  fields: (t) => ({
    id: t.field({ type: 'ID', resolve: (row) => String(row.id) }),
    at: t.field({ type: 'DateTime', resolve: (row) => row.at }),
    actor: t.field({ type: AuditActorRef, resolve: (row) => row }),
    action: t.field({ type: AuditActionEnum, resolve: (row) => row.action as AuditAction }),
    target: t.exposeString('target', { nullable: true, description: 'What was acted on: a metric, an API key id, an alert rule id…' }),
    details: t.string({
      description:
        'A JSON object: the query and result size (METRICS_QUERIED), accepted and failed counts (METRICS_BATCH_RECORDED), metric names, cutoff and count (METRICS_PURGED), the changed fields…',
      resolve: (row) => JSON.stringify(row.details),
    }),
    requestId: t.exposeString('request_id', { nullable: true, description: 'Also in every log line of the request.' }),
    sourceIp: t.exposeString('source_ip', { nullable: true, description: 'The peer address of the connection.' }),
    forwardedFor: t.exposeString('forwarded_for', { nullable: true, description: 'The X-Forwarded-For header as sent (not verified).' }),
    userAgent: t.exposeString('user_agent', { nullable: true }),
  }),
});

const AuditLogFilter = builder.inputType('AuditLogFilter', {
  fields: (t) => ({
    actions: t.field({ type: [AuditActionEnum], description: 'Only these actions.' }),
    keyId: t.id({ description: 'Only actions by this API key.' }),
    target: t.string({ description: 'Only actions on this target.' }),
    from: t.field({ type: 'DateTime', description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive.' }),
  }),
});

const auditFilter = validated(
  z.object({
    actions: z.array(z.enum(AUDIT_ACTIONS)).max(AUDIT_ACTIONS.length).nullish(),
    keyId: z.string().uuid(zodMessage('field.uuid', { field: 'keyId' })).nullish(),
    target: z.string().max(500).nullish(),
    from: z.date().nullish(),
    to: z.date().nullish(),
  }),
);

const AuditLogPage = builder.objectRef<{ entries: AuditRow[]; nextCursor: string | null }>('AuditLogPage').implement({
  fields: (t) => ({
    // The page's size is counted once, on auditLog (its limit): not again here.
    entries: t.field({ type: [AuditEntryRef], complexity: { field: 1, multiplier: 1 }, resolve: (page) => page.entries }),
    nextCursor: t.exposeString('nextCursor', { nullable: true, description: 'Pass as `cursor` for the next (older) page; null on the last page.' }),
  }),
});

const decodeCursor = (cursor: string): number => {
  const id = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(id) || id <= 0) throw userError('BAD_USER_INPUT', 'audit.cursor');
  return id;
};

builder.queryFields((t) => ({
  auditLog: t.field({
    type: AuditLogPage,
    description: 'The tenant’s audit log, newest first. ADMIN only.',
    complexity: listOf(100),
    access: { roles: ADMINS },
    args: {
      filter: t.arg({ type: AuditLogFilter, validate: auditFilter.validate }),
      cursor: t.arg.string({ description: 'The `nextCursor` of the previous page.' }),
      limit: t.arg.int({ description: '1-1000, default 100.', validate: { schema: z.number().int().min(1, zodMessage('field.range', { field: 'limit', min: 1, max: 1000 })).max(1000, zodMessage('field.range', { field: 'limit', min: 1, max: 1000 })) } }),
    },
    resolve: (_root, args, ctx) =>
      tenantTx(
        ctx,
        async (trx) => {
          const filter = auditFilter.of(args.filter) ?? {};
          const limit = args.limit ?? 100;
          const rows = await readAuditLog(trx, { ...filter, before: args.cursor ? decodeCursor(args.cursor) : null, limit });
          const entries = rows.slice(0, limit);
          return {
            entries,
            nextCursor: rows.length > limit ? Buffer.from(String(entries.at(-1)!.id)).toString('base64url') : null,
          };
        },
      ),
  }),
}));
