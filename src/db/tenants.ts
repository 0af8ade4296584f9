import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
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
    if (isUniqueViolation(error)) throw userError('BAD_USER_INPUT', `A tenant named '${name}' already exists`);
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
