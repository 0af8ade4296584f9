/**
 * Who may do what: API keys by role, revoked keys, JWTs (HS256: tenant_id, role, exp) and the
 * operator token that alone creates tenants. A refused write stores nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KEY_PLACEHOLDER, signJwt } from '../src/auth.js';
import { inEnglish } from '../src/messages.js';
import type { Role } from './gql/graphql.js';
import { codes, ENGINES, JWT_SECRET, OPERATOR_TOKEN, startApp, type TestApp } from './harness.js';
import { ApiKeys, CreateApiKey, CreateTenant, MetricPoints, Metrics, RecordMetric, RecordMetrics, RevokeApiKey, Tenant } from './operations.js';

const inAMinute = () => Math.floor(Date.now() / 1000) + 60;
const point = (value: number) => ({ name: 'auth.probe', value, type: 'GAUGE' as const, timestamp: '2026-01-01T00:00:00.000Z' });

describe.each(ENGINES)('authentication and roles on %s', (engine) => {
  let app: TestApp;
  const tenant = { tenantId: '', adminKey: '' };
  beforeAll(async () => {
    app = await startApp(engine);
    Object.assign(tenant, await app.createTenant('auth-tenant'));
    await app.gql(RecordMetric, { input: point(1) }, tenant.adminKey);
  });
  afterAll(() => app?.close());

  /** The values of auth.probe, as the tenant's admin sees them. */
  const storedValues = async () => (await app.gql(MetricPoints, { input: { metric: 'auth.probe' } }, tenant.adminKey)).data!.metricPoints.points.map((p) => p.value).sort();

  describe('tokens', () => {
    test.each([
      ['no Authorization header', {}, 'Send "Authorization: Bearer <API key or JWT>"'],
      ['a Basic header', { authorization: 'Basic dXNlcjpwYXNz' }, 'Authorization must be "Bearer <token>"'],
      ['an unknown API key', { authorization: 'Bearer mg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 'Invalid API key'],
      ['a token that is neither a key nor a JWT', { authorization: 'Bearer hello' }, 'Invalid API key or token'],
    ])('%s is UNAUTHENTICATED with HTTP 401', async (_, headers, message) => {
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: '{ tenant { id } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors.map((e) => [e.extensions.code, e.message])).toEqual([['UNAUTHENTICATED', message]]);
    });

    test('GraphiQL’s header template left unfilled is no credentials: introspection answers, a tenant field says to replace it', async () => {
      const post = (query: string) =>
        fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_PLACEHOLDER}` }, body: JSON.stringify({ query }) });
      // What GraphiQL does on its first load, before a key is pasted.
      const introspection = await post('{ __schema { queryType { name } } }');
      expect(introspection.status).toBe(200);
      expect(await introspection.json()).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
      const refused = await post('{ tenant { id } }');
      expect(refused.status).toBe(401);
      const body = (await refused.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors.map((e) => [e.extensions.code, e.message])).toEqual([['UNAUTHENTICATED', inEnglish('auth.replacePlaceholder')]]);
      expect(body.errors[0]!.message).toContain('Replace <your API key>');
    });

    test('a key is stored only as its sha256; its prefix is shown to tell keys apart', async () => {
      const created = await app.gql(CreateApiKey, { input: { name: 'ci', role: 'DEVELOPER' } }, tenant.adminKey);
      const { key, apiKey } = created.data!.createApiKey;
      expect(key).toMatch(/^mg_[A-Za-z0-9_-]{32}$/);
      expect(apiKey).toEqual({ id: apiKey.id, name: 'ci', role: 'DEVELOPER', prefix: key.slice(0, 10), revokedAt: null });
      const row = await app.server.deps.db.kysely.selectFrom('api_keys').selectAll().where('id', '=', apiKey.id).executeTakeFirstOrThrow();
      expect(row.key_hash).toBe(createHash('sha256').update(key).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(key);
    });
  });

  describe('roles', () => {
    // [role, may write metrics, may manage keys]
    const roles: Array<[Role, boolean, boolean]> = [
      ['ADMIN', true, true],
      ['MANAGER', true, false],
      ['DEVELOPER', true, false],
      ['VIEWER', false, false],
    ];

    test.each(roles)('%s: writes %s, manages keys %s, reads always', async (role, writes, managesKeys) => {
      const { key } = await app.createKey(tenant.adminKey, role);
      const before = await storedValues();
      const value = 100 + roles.findIndex(([r]) => r === role);

      const single = await app.gql(RecordMetric, { input: point(value) }, key);
      const batch = await app.gql(RecordMetrics, { metrics: [point(value + 0.5)] }, key);
      expect(codes(single)).toEqual(writes ? [] : ['FORBIDDEN']);
      expect(codes(batch)).toEqual(writes ? [] : ['FORBIDDEN']);
      expect(await storedValues()).toEqual(writes ? [...before, value, value + 0.5].sort() : before);
      if (!writes) expect(single.errors![0]!.message).toBe(`This needs one of the roles ADMIN, MANAGER, DEVELOPER; your key is ${role}`);

      expect(codes(await app.gql(ApiKeys, {}, key))).toEqual(managesKeys ? [] : ['FORBIDDEN']);
      const created = await app.gql(CreateApiKey, { input: { name: 'made by ' + role, role: 'ADMIN' } }, key);
      expect(codes(created)).toEqual(managesKeys ? [] : ['FORBIDDEN']);
      // The tenant's settings and storage are ADMIN's to read, as its keys are (each field's `access`).
      for (const adminRead of ['{ retention { __typename } }', '{ storageStats { __typename } }', '{ auditLog { __typename } }', '{ jobRuns { __typename } }']) {
        expect([adminRead, codes(await app.gql(adminRead, {}, key))]).toEqual([adminRead, managesKeys ? [] : ['FORBIDDEN']]);
      }
      expect(codes(await app.gql('{ alertRules { id } }', {}, key))).toEqual([]);

      expect(await app.gql(Tenant, {}, key)).toEqual({ data: { tenant: { id: tenant.tenantId, name: 'auth-tenant' } } });
      expect((await app.gql(Metrics, {}, key)).data!.metrics.map((m) => m.name)).toEqual(['auth.probe']);
      expect((await app.gql(MetricPoints, { input: { metric: 'auth.probe' } }, key)).data!.metricPoints.points.length).toBeGreaterThan(0);
    });
  });

  describe('revoking a key', () => {
    test('a revoked key is refused at once (UNAUTHENTICATED, 401) and writes nothing', async () => {
      const { id, key } = await app.createKey(tenant.adminKey, 'DEVELOPER');
      expect(codes(await app.gql(RecordMetric, { input: point(7) }, key))).toEqual([]);

      const revoked = await app.gql(RevokeApiKey, { id }, tenant.adminKey);
      expect(revoked.data!.revokeApiKey.id).toBe(id);
      expect(Date.parse(revoked.data!.revokeApiKey.revokedAt!)).toBeGreaterThan(Date.now() - 60_000);

      const before = await storedValues();
      const refused = await app.post({ query: 'mutation { recordMetric(input: { name: "auth.probe", value: 8, type: GAUGE }) { id } }' }, key);
      expect(refused.status).toBe(401);
      expect(refused.body.errors!.map((e) => [e.extensions?.code, e.message])).toEqual([['UNAUTHENTICATED', 'API key has been revoked']]);
      expect(codes(await app.gql(Tenant, {}, key))).toEqual(['UNAUTHENTICATED']);
      expect(await storedValues()).toEqual(before);

      const listed = (await app.gql(ApiKeys, {}, tenant.adminKey)).data!.apiKeys.find((k) => k.id === id);
      expect(listed!.revokedAt).toBe(revoked.data!.revokeApiKey.revokedAt);
    });

    test('revoking an id that is no key of this tenant is NOT_FOUND; a malformed id is BAD_USER_INPUT', async () => {
      expect(codes(await app.gql(RevokeApiKey, { id: randomUUID() }, tenant.adminKey))).toEqual(['NOT_FOUND']);
      expect(codes(await app.gql(RevokeApiKey, { id: 'key-1' }, tenant.adminKey))).toEqual(['BAD_USER_INPUT']);
    });
  });

  describe('JWT', () => {
    const jwt = (claims: Record<string, unknown>, secret = JWT_SECRET) => signJwt({ tenant_id: tenant.tenantId, role: 'DEVELOPER', exp: inAMinute(), ...claims }, secret);

    test("a valid token writes as its tenant and role", async () => {
      const token = jwt({});
      const recorded = await app.gql(RecordMetric, { input: point(21) }, token);
      expect(codes(recorded)).toEqual([]);
      expect(await storedValues()).toContain(21);
      expect(await app.gql(Tenant, {}, token)).toEqual({ data: { tenant: { id: tenant.tenantId, name: 'auth-tenant' } } });
      expect(codes(await app.gql(ApiKeys, {}, token))).toEqual(['FORBIDDEN']);
    });

    test('a VIEWER token reads but cannot write', async () => {
      const token = jwt({ role: 'VIEWER' });
      expect(codes(await app.gql(RecordMetric, { input: point(22) }, token))).toEqual(['FORBIDDEN']);
      expect(await storedValues()).not.toContain(22);
      expect(codes(await app.gql(Metrics, {}, token))).toEqual([]);
    });

    const [header, payload] = signJwt({ tenant_id: randomUUID(), role: 'ADMIN', exp: inAMinute() }, JWT_SECRET).split('.');
    test.each([
      ['an expired token', () => jwt({ exp: Math.floor(Date.now() / 1000) - 1 }), 'Token has expired'],
      ['a token signed with another secret', () => jwt({}, 'another-secret-0123456789abcdef-0123456789'), 'Invalid token signature'],
      // The claims of one token with the signature of another: B's claims cannot borrow A's signature.
      ['a token whose claims were changed after signing', () => `${header}.${jwt({}).split('.')[1]}.${jwt({ role: 'VIEWER' }).split('.')[2]}`, 'Invalid token signature'],
      ['a token with alg none', () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`, 'Only HS256 tokens are accepted'],
      ['a token without a role', () => jwt({ role: undefined }), 'Token claims must include tenant_id (UUID), role and exp'],
      ['a token with an unknown role', () => jwt({ role: 'ROOT' }), 'Token claims must include tenant_id (UUID), role and exp'],
      ['a token without exp', () => jwt({ exp: undefined }), 'Token claims must include tenant_id (UUID), role and exp'],
      ['a token for a tenant that does not exist', () => jwt({ tenant_id: randomUUID(), role: 'ADMIN' }), 'Token names a tenant that does not exist'],
      ['a token that is not JSON inside', () => `${header}.bm90IGpzb24.c2ln`, 'Malformed token'],
    ])('%s is UNAUTHENTICATED and writes nothing', async (_, token, message) => {
      const before = await storedValues();
      const refused = await app.post({ query: 'mutation { recordMetric(input: { name: "auth.probe", value: 23, type: GAUGE }) { id } }' }, token());
      expect(refused.status).toBe(401);
      expect(refused.body.errors!.map((e) => [e.extensions?.code, e.message])).toEqual([['UNAUTHENTICATED', message]]);
      expect(await storedValues()).toEqual(before);
    });
  });

  describe('the operator token', () => {
    test('creates a tenant whose first key is an ADMIN key of that tenant', async () => {
      const created = await app.gql(CreateTenant, { input: { name: 'operator-made' } }, OPERATOR_TOKEN);
      const { tenant: made, adminKey } = created.data!.createTenant;
      expect(made.name).toBe('operator-made');
      expect(adminKey.apiKey.role).toBe('ADMIN');
      expect(await app.gql(Tenant, {}, adminKey.key)).toEqual({ data: { tenant: { id: made.id, name: 'operator-made' } } });
      expect((await app.gql(ApiKeys, {}, adminKey.key)).data!.apiKeys.map((k) => k.id)).toEqual([adminKey.apiKey.id]);
    });

    test.each([
      ['no token', undefined, 'UNAUTHENTICATED'],
      ["a tenant's ADMIN key", 'admin', 'FORBIDDEN'],
      ['an ADMIN JWT', 'jwt', 'FORBIDDEN'],
      ['a token one character off', OPERATOR_TOKEN.slice(0, -1) + 'X', 'UNAUTHENTICATED'],
    ])('createTenant with %s is %s and creates nothing', async (_, token, code) => {
      const bearer = token === 'admin' ? tenant.adminKey : token === 'jwt' ? signJwt({ tenant_id: tenant.tenantId, role: 'ADMIN', exp: inAMinute() }, JWT_SECRET) : token;
      const name = `refused-${randomUUID().slice(0, 8)}`;
      expect(codes(await app.gql(CreateTenant, { input: { name } }, bearer))).toEqual([code]);
      const tenants = await app.server.deps.db.kysely.selectFrom('tenants').select('name').where('name', '=', name).execute();
      expect(tenants).toEqual([]);
    });

    test('a taken or malformed tenant name is BAD_USER_INPUT', async () => {
      expect(codes(await app.gql(CreateTenant, { input: { name: 'auth-tenant' } }, OPERATOR_TOKEN))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(CreateTenant, { input: { name: ' leading space' } }, OPERATOR_TOKEN))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await app.gql(CreateTenant, { input: { name: 'x'.repeat(101) } }, OPERATOR_TOKEN))).toEqual(['BAD_USER_INPUT']);
    });

    test('the operator token reads no tenant data', async () => {
      const refused = await app.gql(Metrics, {}, OPERATOR_TOKEN);
      expect(refused.errors!.map((e) => [e.extensions?.code, e.message])).toEqual([['FORBIDDEN', 'The operator token can only manage tenants']]);
    });
  });

  // Who may call a field is checked before its arguments are validated (src/plugins/access.ts):
  // a caller without a key, or with too weak a role, is told that, never the input rules. Each
  // input is really bad: a caller who may call the field gets BAD_USER_INPUT for it.
  describe('access is checked before input is validated', () => {
    const keys = { VIEWER: '', DEVELOPER: '' };
    beforeAll(async () => {
      keys.VIEWER = (await app.createKey(tenant.adminKey, 'VIEWER')).key;
      keys.DEVELOPER = (await app.createKey(tenant.adminKey, 'DEVELOPER')).key;
    });
    const tokenOf = (who: string) => (who === 'none' ? undefined : who === 'ADMIN' ? tenant.adminKey : who === 'OPERATOR' ? OPERATOR_TOKEN : keys[who as keyof typeof keys]);

    // [what, operation with bad input, refused caller, its code, a caller who may call it]
    test.each([
      ['metricAggregates, no metrics', '{ metricAggregates(input: { metrics: [], from: "2026-01-01T00:00:00Z" }) { granularity } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['metricAnomalies, MINUTE', '{ metricAnomalies(input: { metric: "cpu", from: "2026-01-01T00:00:00Z", granularity: MINUTE }) { threshold } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['latestValue, nested tags', '{ latestValue(metric: "cpu", tags: { a: { b: "c" } }) { value } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['alertEvents, limit 0', '{ alertEvents(limit: 0) { id } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['usage, limit 0', '{ usage(limit: 0) { series } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['metricReport, bad metric name', '{ metricReport(input: { metric: "1cpu", period: DAY, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }) { metric } }', 'none', 'UNAUTHENTICATED', 'VIEWER'],
      ['setTenantLimits, bad tenant id', 'mutation { setTenantLimits(input: { tenantId: "nope" }) { maxSeries } }', 'none', 'UNAUTHENTICATED', 'OPERATOR'],
      ['setTenantLimits by a tenant key, bad tenant id', 'mutation { setTenantLimits(input: { tenantId: "nope" }) { maxSeries } }', 'ADMIN', 'FORBIDDEN', 'OPERATOR'],
      ['recordMetric, negative counter', 'mutation { recordMetric(input: { name: "c", type: COUNTER, value: -1 }) { id } }', 'VIEWER', 'FORBIDDEN', 'DEVELOPER'],
      ['createMetricDefinition, bad name', 'mutation { createMetricDefinition(input: { name: "1bad", formula: "cpu" }) { definition { id } } }', 'VIEWER', 'FORBIDDEN', 'DEVELOPER'],
      ['createAlertRule, empty name', 'mutation { createAlertRule(input: { name: " ", metric: "cpu" }) { webhookSecret } }', 'VIEWER', 'FORBIDDEN', 'DEVELOPER'],
      ['pauseAlertRule, not a uuid', 'mutation { pauseAlertRule(id: "nope") { id } }', 'VIEWER', 'FORBIDDEN', 'DEVELOPER'],
      ['setRetention, 0 raw days', 'mutation { setRetention(input: { rawDays: 0 }) { rawDays } }', 'DEVELOPER', 'FORBIDDEN', 'ADMIN'],
      ['purgeMetrics, no metrics', 'mutation { purgeMetrics(input: { metrics: [], olderThan: "2026-01-01T00:00:00Z" }, confirm: true) { deleted } }', 'VIEWER', 'FORBIDDEN', 'ADMIN'],
      ['backfillReportRollups, empty range', 'mutation { backfillReportRollups(input: { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }) { id } }', 'VIEWER', 'FORBIDDEN', 'ADMIN'],
    ])('%s', async (_what, query, refused, code, allowed) => {
      expect(codes(await app.gql(query, {}, tokenOf(refused)))).toEqual([code]);
      expect(codes(await app.gql(query, {}, tokenOf(allowed)))).toEqual(['BAD_USER_INPUT']);
    });
  });
});
