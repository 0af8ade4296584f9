import { z } from 'zod';
import { builder } from '../builder.js';
import { ADMINS, requireOperator, requireTenant, tenantTx } from '../context.js';
import { ROLES, type ApiKey } from '../db/tables.js';
import { createApiKey, createTenant, listApiKeys, readTenant, revokeApiKey } from '../db/tenants.js';
import { contextActor } from '../audit.js';
import { userError } from '../errors.js';
import { zodMessage } from '../messages.js';

export const RoleEnum = builder.enumType('Role', {
  values: {
    ADMIN: { description: 'Everything, including keys and purges.' },
    MANAGER: { description: 'Reads and writes metrics; manages every definition and alert.' },
    DEVELOPER: { description: 'Reads and writes metrics; manages their own definitions.' },
    VIEWER: { description: 'Reads only.' },
  } as const,
});

const TenantRef = builder.objectRef<{ id: string; name: string; created_at: Date }>('Tenant').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.field({ type: 'DateTime', resolve: (tenant) => tenant.created_at }),
  }),
});

const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey').implement({
  description: 'An API key. The secret itself is shown only once, when the key is created.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (key) => key.role }),
    prefix: t.exposeString('prefix', { description: 'The first characters of the key, to tell keys apart.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (key) => key.created_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (key) => key.revoked_at }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (key) => key.last_used_at }),
  }),
});

const CreatedApiKeyRef = builder.objectRef<{ key: string; apiKey: ApiKey }>('CreatedApiKey').implement({
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The secret. Store it now: it cannot be shown again.' }),
    apiKey: t.field({ type: ApiKeyRef, resolve: (created) => created.apiKey }),
  }),
});

const tenantName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9 ._-]{0,99}$/, zodMessage('tenantName.pattern'));
const keyName = z.string().trim().min(1, zodMessage('field.empty', { field: 'name' })).max(100, zodMessage('field.tooLong', { field: 'name', max: 100 }));

const CreateTenantInput = builder.inputType('CreateTenantInput', {
  fields: (t) => ({ name: t.string({ required: true, validate: { schema: tenantName } }) }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true, validate: { schema: keyName } }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

const RevokeApiKeyInput = builder.inputType('RevokeApiKeyInput', {
  fields: (t) => ({ id: t.id({ required: true, validate: { schema: z.string().uuid(zodMessage('field.uuid', { field: 'id' })) } }) }),
});

const CreateTenantPayload = builder
  .objectRef<{ tenant: { id: string; name: string; created_at: Date }; created: { key: string; apiKey: ApiKey } }>('CreateTenantPayload')
  .implement({
    fields: (t) => ({
      tenant: t.field({ type: TenantRef, resolve: (p) => p.tenant }),
      adminKey: t.field({ type: CreatedApiKeyRef, description: 'The tenant’s first ADMIN key.', resolve: (p) => p.created }),
    }),
  });

builder.queryFields((t) => ({
  tenant: t.field({
    type: TenantRef,
    description: 'The tenant of the calling key.',
    access: 'tenant',
    resolve: async (_root, _args, ctx) => tenantTx(ctx, readTenant),
  }),
  apiKeys: t.field({
    type: [ApiKeyRef],
    description: 'The tenant’s API keys, newest first. ADMIN only.',
    access: { roles: ADMINS },
    resolve: (_root, _args, ctx) => tenantTx(ctx, listApiKeys),
  }),
}));

builder.mutationFields((t) => ({
  createTenant: t.field({
    type: CreateTenantPayload,
    description: 'Creates a tenant and its first ADMIN key. Needs the operator token (OPERATOR_TOKEN).',
    access: { operator: 'create tenants' },
    args: { input: t.arg({ type: CreateTenantInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      requireOperator(ctx, 'create tenants');
      const { tenant, key, apiKey } = await createTenant(ctx.deps.db.kysely, input.name);
      return { tenant, created: { key, apiKey } };
    },
  }),
  createApiKey: t.field({
    type: CreatedApiKeyRef,
    description: 'Creates an API key for the caller’s tenant and returns its secret once. ADMIN only.',
    access: { roles: ADMINS },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const principal = requireTenant(ctx);
      return tenantTx(ctx, (trx) => createApiKey(trx, principal.tenantId, contextActor(ctx), input.name, input.role));
    },
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    description: 'Revokes a key at once: requests with it are refused (UNAUTHENTICATED). ADMIN only.',
    access: { roles: ADMINS },
    args: { input: t.arg({ type: RevokeApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const key = await tenantTx(ctx, (trx) => revokeApiKey(trx, contextActor(ctx), String(input.id)));
      if (!key) throw userError('NOT_FOUND', 'apiKey.notFound', { id: input.id });
      ctx.deps.auth.forget(key.id);
      return key;
    },
  }),
}));

export { ROLES };
