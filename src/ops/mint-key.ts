/**
 * A new ADMIN key for a tenant, from the shell: the way back from a lost dev key without
 * deleting ./data. Run by whoever runs the service (the operator), so it is audited as such.
 */
import type { Kysely } from 'kysely';
import { actorOf, audit, auditRow } from '../audit.js';
import type { Database } from '../db/tables.js';
import { withTenant } from '../db/tenant.js';
import { insertApiKey } from '../db/tenants.js';
import { userError } from '../errors.js';

/** The tenant whose id or name is `ref`; NOT_FOUND listing the tenants there are (at most 20) when none is. */
export async function findTenant(kysely: Kysely<Database>, ref: string): Promise<{ id: string; name: string }> {
  const found = await kysely
    .selectFrom('tenants')
    .select(['id', 'name'])
    // id as text: a name is not a UUID, and comparing it to one would be an error, not a miss.
    .where((eb) => eb.or([eb(eb.cast('id', 'text'), '=', ref), eb('name', '=', ref)]))
    .limit(1)
    .executeTakeFirst();
  if (found) return found;
  const all = (await kysely.selectFrom('tenants').select('name').orderBy('created_at').limit(20).execute()).map((r) => r.name);
  throw all.length ? userError('NOT_FOUND', 'tenant.noSuchRef', { ref, tenants: all.join(', ') }) : userError('NOT_FOUND', 'tenant.noneYet', { ref });
}

/** Creates an ADMIN key in tenant `ref` (id or name) and returns it: the only time it is shown. */
export async function mintAdminKey(kysely: Kysely<Database>, ref: string, name = 'minted from the shell'): Promise<{ tenant: { id: string; name: string }; key: string; keyId: string }> {
  const tenant = await findTenant(kysely, ref);
  return withTenant(kysely, tenant.id, async (trx) => {
    const { key, apiKey } = await insertApiKey(trx, tenant.id, name, 'ADMIN');
    const actor = actorOf({ kind: 'operator' }, null, { ip: null, forwardedFor: null, userAgent: 'npm run key' });
    await audit(trx, auditRow(tenant.id, actor, { action: 'API_KEY_CREATED', target: apiKey.id, details: { name, role: 'ADMIN', prefix: apiKey.prefix } }));
    return { tenant, key, keyId: apiKey.id };
  });
}
