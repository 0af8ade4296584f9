/**
 * A new ADMIN key for a tenant, from the shell: the way back from a lost dev key without
 * deleting ./data. Run by whoever runs the service (the operator), so it is audited as such.
 */
import { sql, type Kysely } from 'kysely';
import { actorOf, audit, auditRow } from '../audit.js';
import type { Database } from '../db/tables.js';
import { withTenant } from '../db/tenant.js';
import { insertApiKey } from '../db/tenants.js';
import { userError } from '../errors.js';

/** The tenant whose id or name is `ref`; NOT_FOUND listing the tenants there are (at most 20) when none is. */
export async function findTenant(kysely: Kysely<Database>, ref: string): Promise<{ id: string; name: string }> {
  const { rows } = await sql<{ id: string; name: string }>`select id, name from tenants where id::text = ${ref} or name = ${ref} limit 1`.execute(kysely);
  if (rows[0]) return rows[0];
  const all = (await sql<{ name: string }>`select name from tenants order by created_at limit 20`.execute(kysely)).rows.map((r) => r.name);
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
