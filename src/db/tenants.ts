import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { audit, auditRow, type Actor } from '../audit.js';
import { generateApiKey } from '../auth.js';
import { userError } from '../errors.js';
import type { ApiKey, Database, Role } from './tables.js';
import { withTenant, type TenantTx } from './tenant.js';

const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === UNIQUE_VIOLATION;
}

/**
 * Creates a tenant and its first ADMIN key. Runs as the application role with the new
 * tenant's id already set, so the same policies that guard every request allow exactly this.
 */
export async function createTenant(kysely: Kysely<Database>, name: string): Promise<{ tenant: { id: string; name: string; created_at: Date }; key: string; apiKey: ApiKey }> {
  const id = randomUUID();
  try {
    return await withTenant(kysely, id, async (trx) => {
      const tenant = await trx.insertInto('tenants').values({ id, name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow();
      const { key, apiKey } = await insertApiKey(trx, id, 'initial admin key', 'ADMIN');
      return { tenant, key, apiKey };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw userError('BAD_USER_INPUT', 'tenant.exists', { name });
    throw error;
  }
}

/** Stores a new key's hash and returns the key itself: the only time it is ever seen. */
export async function insertApiKey(trx: TenantTx, tenantId: string, name: string, role: Role): Promise<{ key: string; apiKey: ApiKey }> {
  const { key, prefix, hash } = generateApiKey();
  const apiKey = await trx
    .insertInto('api_keys')
    .values({ tenant_id: tenantId, name, role, prefix, key_hash: hash })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { key, apiKey };
}

/** The caller's tenant. */
export function readTenant(trx: TenantTx): Promise<{ id: string; name: string; created_at: Date }> {
  return trx.selectFrom('tenants').select(['id', 'name', 'created_at']).executeTakeFirstOrThrow();
}

/** The tenant's API keys (hashes and prefixes only), newest first. */
export function listApiKeys(trx: TenantTx): Promise<ApiKey[]> {
  return trx.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').execute();
}

/** A new key of `tenantId` and its API_KEY_CREATED audit row, in the caller's transaction. */
export async function createApiKey(trx: TenantTx, tenantId: string, actor: Actor, name: string, role: Role): Promise<{ key: string; apiKey: ApiKey }> {
  const created = await insertApiKey(trx, tenantId, name.trim(), role);
  await audit(trx, auditRow(tenantId, actor, { action: 'API_KEY_CREATED', target: created.apiKey.id, details: { name: created.apiKey.name, role: created.apiKey.role, prefix: created.apiKey.prefix } }));
  return created;
}

/** Revokes key `id` of the caller's tenant (audited); undefined when the tenant has no such key. */
export async function revokeApiKey(trx: TenantTx, actor: Actor, id: string): Promise<ApiKey | undefined> {
  const revoked = await trx.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirst();
  if (revoked) await audit(trx, auditRow(revoked.tenant_id, actor, { action: 'API_KEY_REVOKED', target: revoked.id, details: { name: revoked.name, role: revoked.role } }));
  return revoked;
}
