/**
 * The audit log: a row for each audited action, naming who (key or JWT subject, role), what,
 * when and from where; written with the change it records; readable by ADMIN through
 * auditLog(filter, cursor); never changed or removed by the application role (nor the owner).
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signJwt } from '../src/auth.js';
import type { Database } from '../src/db/tables.js';
import { withTenant } from '../src/db/tenant.js';
import { graphql } from './gql/index.js';
import { codes, ENGINES, JWT_SECRET, startApp, type TestApp } from './harness.js';
import { AuditLog, CreateApiKey, RecordMetric, RecordMetrics, RevokeApiKey } from './operations.js';


const QueryAggregates = graphql(`
  query AuditedAggregates($input: AggregateQueryInput!) {
    metricAggregates(input: $input) { series { buckets { count } } }
  }
`);

/** Two days ago on the hour: within raw retention, so queries read exactly what was written. */
let RECENT = NaN;
// Read when the tests start, not when the module loads.
beforeAll(() => {
  RECENT = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 86_400_000;
});
const recent = (minutes: number) => new Date(RECENT + minutes * 60_000).toISOString();

describe.each(ENGINES)('audit log on %s', (engine) => {
  let app: TestApp;
  let db: Kysely<Database>;
  const a = { tenantId: '', adminKey: '', adminKeyId: '' };
  let developer: { id: string; key: string };

  /** Posts with our own request id and user agent, so the row can be matched to the request. */
  const post = (query: unknown, variables: unknown, token: string, requestId: string) =>
    fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': requestId, 'user-agent': 'audit-test/1.0' },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json() as Promise<{ data?: any; errors?: unknown[] }>);

  const entries = async (filter: Record<string, unknown> = {}) => {
    const page = await app.gql(AuditLog, { filter, limit: 1000 }, a.adminKey);
    expect(page.errors).toBeUndefined();
    return page.data!.auditLog.entries.map((e) => ({ ...e, details: JSON.parse(e.details) as Record<string, any> }));
  };

  beforeAll(async () => {
    app = await startApp(engine);
    db = app.server.deps.db.kysely;
    Object.assign(a, await app.createTenant());
    a.adminKeyId = (await db.selectFrom('api_keys').select('id').where('tenant_id', '=', a.tenantId).executeTakeFirstOrThrow()).id;
    developer = await app.createKey(a.adminKey, 'DEVELOPER');
  });
  afterAll(() => app?.close());

  test('recordMetric: METRIC_RECORDED names the key, its role, the request, the peer and the user agent', async () => {
    const { print } = await import('graphql');
    const recorded = await post(print(RecordMetric), { input: { name: 'audit.cpu', value: 0.5, type: 'GAUGE', tags: { host: 'a' }, timestamp: '2026-03-01T10:00:00Z' } }, developer.key, 'audit-req-1');
    const [row] = await entries({ actions: ['METRIC_RECORDED'] });
    expect(row).toMatchObject({
      action: 'METRIC_RECORDED',
      target: 'audit.cpu',
      requestId: 'audit-req-1',
      userAgent: 'audit-test/1.0',
      actor: { kind: 'API_KEY', keyId: developer.id, subject: null, role: 'DEVELOPER' },
      details: { id: recorded.data.recordMetric.id, duplicate: false, type: 'GAUGE', tags: { host: 'a' }, timestamp: '2026-03-01T10:00:00.000Z', value: 0.5 },
    });
    expect(row!.sourceIp).toMatch(/127\.0\.0\.1$/);
    expect(Date.parse(row!.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  test('a write that stores nothing records nothing: the row commits with the point or not at all', async () => {
    const before = (await entries({ actions: ['METRIC_RECORDED'] })).length;
    const conflict = await app.gql(RecordMetric, { input: { name: 'audit.cpu', value: 1, type: 'COUNTER' } }, developer.key);
    expect(codes(conflict)).toEqual(['BAD_USER_INPUT']);
    expect(await entries({ actions: ['METRIC_RECORDED'] })).toHaveLength(before);
  });

  test('recordMetrics: METRICS_BATCH_RECORDED with accepted, duplicate and failed counts', async () => {
    await app.gql(
      RecordMetrics,
      {
        metrics: [
          { name: 'audit.req', value: 1, type: 'COUNTER', timestamp: recent(0) },
          { name: 'audit.req', value: 2, type: 'COUNTER', timestamp: recent(1) },
          { name: 'audit.cpu', value: 3, type: 'COUNTER', timestamp: '2026-03-01T10:02:00Z' }, // type conflict
          { name: '9bad', value: 4, type: 'GAUGE' }, // invalid
        ],
      },
      a.adminKey,
    );
    await app.gql(RecordMetrics, { metrics: [{ name: '9bad', value: 4, type: 'GAUGE' }] }, a.adminKey);
    const rows = await entries({ actions: ['METRICS_BATCH_RECORDED'] });
    expect(rows.map((r) => r.details)).toEqual([
      { items: 1, accepted: 0, duplicates: 0, failed: 1, metrics: [] },
      { items: 4, accepted: 2, duplicates: 0, failed: 2, metrics: ['audit.req', 'audit.cpu'] },
    ]);
    expect(rows[1]!.actor).toEqual({ kind: 'API_KEY', keyId: a.adminKeyId, subject: null, role: 'ADMIN' });
  });

  test('metricAggregates: METRICS_QUERIED with the query as coerced and the size of the answer', async () => {
    const input = { metrics: ['audit.req'], from: recent(0), to: recent(60), granularity: 'MINUTE' as const };
    await app.gql(QueryAggregates, { input }, developer.key);
    await app.gql(QueryAggregates, { input: { ...input, metrics: ['never.recorded'] } }, developer.key);
    const [failed, answered] = await entries({ actions: ['METRICS_QUERIED'] });
    expect(answered).toMatchObject({
      target: 'metricAggregates',
      actor: { keyId: developer.id, role: 'DEVELOPER' },
      details: { query: { input: { metrics: ['audit.req'], from: recent(0), to: recent(60), granularity: 'MINUTE' } }, result: { series: 1, buckets: 2 } },
    });
    expect(answered!.details.result.bytes).toBeGreaterThan(0);
    expect(failed!.details.result).toEqual({ error: 'NOT_FOUND' });
  });

  test('createApiKey and revokeApiKey: API_KEY_CREATED and API_KEY_REVOKED with the key id, never the secret', async () => {
    const created = await app.gql(CreateApiKey, { input: { name: 'ci', role: 'VIEWER' } }, a.adminKey);
    const id = created.data!.createApiKey.apiKey.id;
    await app.gql(RevokeApiKey, { id }, a.adminKey);
    const rows = await entries({ target: id });
    expect(rows.map((r) => [r.action, r.details])).toEqual([
      ['API_KEY_REVOKED', { name: 'ci', role: 'VIEWER' }],
      ['API_KEY_CREATED', { name: 'ci', role: 'VIEWER', prefix: created.data!.createApiKey.apiKey.prefix }],
    ]);
    expect(JSON.stringify(rows)).not.toContain(created.data!.createApiKey.key);
  });

  test('a JWT is named by its subject', async () => {
    const token = signJwt({ tenant_id: a.tenantId, role: 'MANAGER', sub: 'alice@example.com', exp: Math.floor(Date.now() / 1000) + 600 }, JWT_SECRET);
    await app.gql(RecordMetric, { input: { name: 'audit.jwt', value: 1, type: 'GAUGE' } }, token);
    const [row] = await entries({ actions: ['METRIC_RECORDED'], target: 'audit.jwt' });
    expect(row!.actor).toEqual({ kind: 'JWT', keyId: null, subject: 'alice@example.com', role: 'MANAGER' });
  });

  test('auditLog pages newest first with a cursor, and filters by key', async () => {
    const all = await entries();
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof app.gql<any, any>>> = await app.gql(AuditLog, { limit: 3, cursor }, a.adminKey);
      pages.push(...page.data!.auditLog.entries.map((e: { id: string }) => e.id));
      cursor = page.data!.auditLog.nextCursor;
    } while (cursor);
    expect(pages).toEqual(all.map((e) => e.id));
    expect(all.map((e) => Number(e.id))).toEqual([...all.map((e) => Number(e.id))].sort((x, y) => y - x));
    const byDeveloper = await entries({ keyId: developer.id });
    expect(byDeveloper.length).toBeGreaterThan(0);
    expect(byDeveloper.every((e) => e.actor.keyId === developer.id)).toBe(true);
    expect(codes(await app.gql(AuditLog, { cursor: 'nonsense' }, a.adminKey))).toEqual(['BAD_USER_INPUT']);
  });

  test('auditLog is for ADMIN only, and shows another tenant nothing', async () => {
    expect(codes(await app.gql(AuditLog, {}, developer.key))).toEqual(['FORBIDDEN']);
    const b = await app.createTenant();
    const seen = await app.gql(AuditLog, {}, b.adminKey);
    expect(seen.data!.auditLog).toEqual({ entries: [], nextCursor: null });
  });

  describe('in the database', () => {
    test('the application role can neither change nor delete a row, even its own tenant’s', async () => {
      const asA = <T>(work: Parameters<typeof withTenant<T>>[2]) => withTenant(db, a.tenantId, work);
      await expect(asA((trx) => sql`update audit_log set action = 'FORGED'`.execute(trx))).rejects.toThrow('permission denied for table audit_log');
      await expect(asA((trx) => sql`delete from audit_log`.execute(trx))).rejects.toThrow('permission denied for table audit_log');
      await expect(asA((trx) => sql`truncate audit_log`.execute(trx))).rejects.toThrow('permission denied for table audit_log');
      // It may append for its own tenant only.
      const other = await app.createTenant();
      await expect(
        asA((trx) => sql`insert into audit_log (tenant_id, actor_kind, action) values (${other.tenantId}, 'system', 'METRICS_PURGED')`.execute(trx)),
      ).rejects.toThrow('new row violates row-level security policy for table "audit_log"');
    });

    test('the owner cannot rewrite history either: the trigger refuses UPDATE and DELETE', async () => {
      await expect(sql`update audit_log set action = 'FORGED' where tenant_id = ${a.tenantId}`.execute(db)).rejects.toThrow('audit_log is append-only: UPDATE is not allowed');
      await expect(sql`delete from audit_log where tenant_id = ${a.tenantId}`.execute(db)).rejects.toThrow('audit_log is append-only: DELETE is not allowed');
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from audit_log where tenant_id = ${a.tenantId} and action = 'FORGED'`.execute(db);
      expect(rows).toEqual([{ n: 0 }]);
    });
  });
});
