import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { ROLES, type Database, type Role } from './db/tables.js';
import { withKeyHash, withTenant } from './db/tenant.js';
import { userError } from './errors.js';

/** Who is calling. A tenant principal is what every tenant-scoped resolver needs. */
export type Principal =
  // `subject`: a JWT's `sub` claim, when it has one (who the audit log names for a JWT).
  | { kind: 'tenant'; tenantId: string; role: Role; keyId: string | null; via: 'api_key' | 'jwt'; subject?: string }
  | { kind: 'operator' };

export type TenantPrincipal = Extract<Principal, { kind: 'tenant' }>;

const KEY_PREFIX = 'mg_';

/** A new random API key (192 bits) and what is stored of it: a display prefix and a hash. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = KEY_PREFIX + randomBytes(24).toString('base64url');
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

const jwtClaims = z.object({
  tenant_id: z.string().uuid(),
  role: z.enum(ROLES),
  exp: z.number().int(),
  sub: z.string().optional(),
});

/**
 * Verifies an HS256 JWT with jose: header, signature, expiry. Returns its claims or throws
 * UNAUTHENTICATED saying which check failed. The checks run in the order the messages were
 * given before jose did them (and the tests hold): readable token, HS256, signature, claims'
 * shape, expiry.
 */
export async function verifyJwt(token: string, secret: string, now = Date.now()): Promise<z.infer<typeof jwtClaims>> {
  let decoded: unknown;
  try {
    // Both throw on anything that is not a JWS whose header and payload are JSON objects.
    if (decodeProtectedHeader(token).alg !== 'HS256') throw userError('UNAUTHENTICATED', 'auth.onlyHs256');
    decoded = decodeJwt(token);
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw userError('UNAUTHENTICATED', 'auth.tokenMalformed');
    throw error;
  }
  const claims = jwtClaims.safeParse(decoded);
  const badClaims = () => userError('UNAUTHENTICATED', 'auth.tokenClaims');
  try {
    await jwtVerify(token, hmacKey(secret), { algorithms: ['HS256'], currentDate: new Date(now) });
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw userError('UNAUTHENTICATED', 'auth.tokenSignature');
    if (!claims.success) throw badClaims();
    if (error instanceof joseErrors.JWTExpired) throw userError('UNAUTHENTICATED', 'auth.tokenExpired');
    if (error instanceof joseErrors.JOSEError) throw badClaims();
    throw error;
  }
  if (!claims.success) throw badClaims();
  // jose checks exp only when present; the claims above require it, and this says it in ms.
  if (claims.data.exp * 1000 <= now) throw userError('UNAUTHENTICATED', 'auth.tokenExpired');
  return claims.data;
}

/** The secret as jose's key; a few secrets per process, so encoded once each. */
const hmacKeys = new LRUCache<string, Uint8Array>({ max: 8 });
function hmacKey(secret: string): Uint8Array {
  let key = hmacKeys.get(secret);
  if (!key) hmacKeys.set(secret, (key = new TextEncoder().encode(secret)));
  return key;
}

/** Signs an HS256 JWT. For operators' tooling and the tests. */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

export interface AuthOptions {
  operatorToken?: string;
  jwtSecret?: string;
  /** How long a verified API key is trusted without asking the database again. */
  cacheTtlMs?: number;
  /** Told of each key this instance revokes (server.ts carries it to the other instances over Redis). */
  onRevoke?: (keyId: string) => void;
}

/** What a per-operation check found: still valid, refused (revoked, expired), or not known because the database is unavailable. */
export type PrincipalCheck = 'valid' | 'refused' | 'unavailable';

export interface Authenticator {
  /** Resolves a bearer token to a principal; null for no token; throws UNAUTHENTICATED for a bad one. */
  authenticate(token: string | undefined): Promise<Principal | null>;
  /** Drops a key from the cache at once (after a revoke on this instance). */
  forget(keyId: string): void;
  /** Whether a principal is still valid now: key not revoked, JWT not expired. */
  stillValid(principal: Principal, token: string): Promise<boolean>;
  /** A key revoked on another instance (from Redis): refused here at once too. */
  revoked(keyId: string): void;
  /**
   * The check made before each WebSocket operation, cheap enough for that: a JWT's expiry and
   * signature from the token itself; a key against the revocations this instance has heard of
   * and its cache (the database only when the cache entry is older than its TTL). A database
   * that cannot answer is `unavailable`, never `refused`.
   */
  check(principal: Principal, token: string): Promise<PrincipalCheck>;
}

/**
 * Whether a token is the configured secret (the operator token, the metrics token). Compared as
 * SHA-256 digests in constant time: the digests are always 32 bytes, so neither the time taken
 * nor an early length check tells anything about the secret's length or content (#16 item 10).
 * `equal` is crypto.timingSafeEqual; a test passes a recording one to see what is compared.
 */
export function secretMatcher(secret: string, equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual): (token: string) => boolean {
  const digest = createHash('sha256').update(secret).digest();
  return (token) => equal(createHash('sha256').update(token).digest(), digest);
}

export function createAuthenticator(kysely: Kysely<Database>, options: AuthOptions): Authenticator {
  const ttl = options.cacheTtlMs ?? 5_000;
  // Verified keys by hash, trusted for `ttl` without asking the database again.
  const cache = new LRUCache<string, Principal & { kind: 'tenant' }>({ max: 10_000, ttl });
  // Key ids revoked while this process runs (here or, via Redis, on another instance); bounded.
  const revokedKeys = new LRUCache<string, true>({ max: 100_000 });
  // Keys whose last_used_at this instance wrote in the last minute.
  const lastUsedWritten = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });
  const isOperator = options.operatorToken ? secretMatcher(options.operatorToken) : () => false;

  // Lookups of one key in flight: a thousand dashboards reconnecting with the same key (or
  // re-checked in the same second) cost one query, not a thousand waiting for the pool.
  const inFlight = new Map<string, Promise<Principal & { kind: 'tenant' }>>();

  function lookupKey(token: string): Promise<Principal & { kind: 'tenant' }> {
    const hash = hashApiKey(token);
    const cached = cache.get(hash);
    if (cached) return Promise.resolve(cached);
    let lookup = inFlight.get(hash);
    if (!lookup) {
      inFlight.set(hash, (lookup = readKey(hash).finally(() => inFlight.delete(hash))));
    }
    return lookup;
  }

  async function readKey(hash: string): Promise<Principal & { kind: 'tenant' }> {
    const row = await withKeyHash(kysely, hash, (trx) =>
      trx.selectFrom('api_keys').select(['id', 'tenant_id', 'role', 'revoked_at']).where('key_hash', '=', hash).executeTakeFirst(),
    );
    if (!row || row.revoked_at) {
      cache.delete(hash);
      throw userError('UNAUTHENTICATED', row ? 'auth.keyRevoked' : 'auth.invalidKey');
    }
    const principal = { kind: 'tenant' as const, tenantId: row.tenant_id, role: row.role, keyId: row.id, via: 'api_key' as const };
    cache.set(hash, principal);
    touch(principal.tenantId, row.id);
    return principal;
  }

  /** A JWT's tenant must exist: a validly signed token for a deleted tenant is refused, not an INTERNAL error later. */
  const knownTenants = new LRUCache<string, true>({ max: 10_000, ttl });
  async function checkTenant(tenantId: string): Promise<void> {
    if (knownTenants.has(tenantId)) return;
    const row = await withTenant(kysely, tenantId, (trx) => trx.selectFrom('tenants').select('id').executeTakeFirst());
    if (!row) throw userError('UNAUTHENTICATED', 'auth.tokenTenantMissing');
    knownTenants.set(tenantId, true);
  }

  /** last_used_at, written at most once a minute per key and never in the request's way. */
  function touch(tenantId: string, keyId: string) {
    if (lastUsedWritten.has(keyId)) return;
    lastUsedWritten.set(keyId, true);
    withTenant(kysely, tenantId, (trx) => trx.updateTable('api_keys').set({ last_used_at: new Date() }).where('id', '=', keyId).execute()).catch(() => {});
  }

  return {
    async authenticate(token) {
      if (!token) return null;
      if (isOperator(token)) {
        return { kind: 'operator' };
      }
      if (token.startsWith(KEY_PREFIX)) return lookupKey(token);
      if (options.jwtSecret && token.split('.').length === 3) {
        const claims = await verifyJwt(token, options.jwtSecret);
        await checkTenant(claims.tenant_id);
        return { kind: 'tenant', tenantId: claims.tenant_id, role: claims.role, keyId: null, via: 'jwt', ...(claims.sub ? { subject: claims.sub } : {}) };
      }
      throw userError('UNAUTHENTICATED', 'auth.invalidKeyOrToken');
    },
    forget(keyId) {
      this.revoked(keyId);
      options.onRevoke?.(keyId);
    },
    revoked(keyId) {
      revokedKeys.set(keyId, true);
      for (const [hash, principal] of [...cache.entries()]) if (principal.keyId === keyId) cache.delete(hash);
    },
    async check(principal, token) {
      if (principal.kind === 'operator') return 'valid';
      if (principal.keyId && revokedKeys.has(principal.keyId)) return 'refused';
      try {
        if (principal.via === 'jwt') {
          if (!options.jwtSecret) return 'refused';
          await verifyJwt(token, options.jwtSecret);
          return 'valid';
        }
        const found = await lookupKey(token);
        return found.keyId === principal.keyId && found.tenantId === principal.tenantId && found.role === principal.role ? 'valid' : 'refused';
      } catch (error) {
        return (error as { extensions?: { code?: string } }).extensions?.code === 'UNAUTHENTICATED' ? 'refused' : 'unavailable';
      }
    },
    async stillValid(principal, token) {
      if (principal.kind === 'operator') return true;
      try {
        cache.delete(hashApiKey(token));
        await this.authenticate(token);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** What GraphiQL's Headers tab holds until a newcomer pastes a key (src/graphiql.ts). */
export const KEY_PLACEHOLDER = '<your API key>';

/**
 * The Authorization header GraphiQL sends before its template is filled in: no credentials,
 * not a malformed one. GraphiQL introspects the schema with it on its first load, and that
 * must work; what needs a tenant then says to replace the placeholder (requireTenant).
 */
export function isUnfilledTemplate(header: string | null | undefined): boolean {
  return header?.trim() === `Bearer ${KEY_PLACEHOLDER}`;
}

/** Reads `Bearer <token>` from an Authorization header value. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw userError('UNAUTHENTICATED', 'auth.bearerForm');
  return match[1];
}

/**
 * The Authorization header a subscribe message carries in `payload.extensions.headers`, where
 * GraphiQL puts the headers its user pasted (its `connection_init` is empty). Header names are
 * case-insensitive, as over HTTP. Undefined when the message carries none.
 */
export function subscribeAuthorization(payload: { extensions?: Record<string, unknown> | null }): string | undefined {
  const headers = payload.extensions?.headers;
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [name, value] of Object.entries(headers)) {
    // An empty value is GraphiQL's template left unfilled: the connection's credentials apply.
    if (name.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim() !== '') return value;
  }
  return undefined;
}

/**
 * Who runs one WebSocket operation: the principal of the Authorization header in its subscribe
 * message when it has one (checked as an HTTP request's would be: malformed, unknown, revoked
 * or expired → UNAUTHENTICATED), else the connection's (from connectionParams). `token` is the
 * header's, for re-checking while the subscription lasts; undefined when the connection's
 * principal is used.
 */
export async function principalFromSubscribe(
  auth: Authenticator,
  payload: { extensions?: Record<string, unknown> | null },
  connection: Principal | null,
): Promise<{ principal: Principal | null; token?: string }> {
  const header = subscribeAuthorization(payload);
  if (header === undefined) return { principal: connection };
  if (isUnfilledTemplate(header)) throw userError('UNAUTHENTICATED', 'auth.replacePlaceholder');
  const token = bearerToken(header);
  return { principal: await auth.authenticate(token), token };
}
